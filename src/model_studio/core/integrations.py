"""Capabilities and provider (backend) statistics: what the studio can do here, counted.

``capabilities``: how many models there are per task and per format, local (on disk) and available
(the catalog and local models, merged by id). ``backends``: ``Library.backends()`` (installed,
version, GPU build, local models, suggestions that fit) with each backend's ``stats``: local models,
loaded models, downloads completed and failed, bytes on disk.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .jobs import JobState
from .library.records import _backends_for

if TYPE_CHECKING:
    from . import Engine

_DOWNLOAD_SCAN = 10_000


def capabilities(eng: Engine) -> dict[str, Any]:
    """Models per task and per format, local and available, with the totals."""
    lib = eng.library
    local = {m.id: m for m in lib.list_local()}
    available: dict[str, tuple[str | None, list[str]]] = {}
    for entry in lib.catalog().values():
        info = lib._from_catalog(entry)
        available[info.id] = (info.task, list(info.formats))
    for mid, m in local.items():
        available[mid] = (m.task or available.get(mid, (None, []))[0], list(m.formats))

    def count(models: dict[str, tuple[str | None, list[str]]]) -> tuple[Counter, Counter]:
        tasks: Counter = Counter()
        formats: Counter = Counter()
        for task, fmts in models.values():
            tasks[task or "unknown"] += 1
            for f in set(fmts):
                formats[f] += 1
        return tasks, formats

    local_tasks, local_formats = count({k: (m.task, list(m.formats)) for k, m in local.items()})
    all_tasks, all_formats = count(available)

    def rows(local_c: Counter, all_c: Counter) -> list[dict[str, Any]]:
        return [{"name": name, "local": local_c.get(name, 0), "available": all_c[name]}
                for name in sorted(all_c, key=lambda n: (-all_c[n], n))]

    return {"tasks": rows(local_tasks, all_tasks), "formats": rows(local_formats, all_formats),
            "local": len(local), "available": len(available)}


def _download_backends(job_params: dict[str, Any], result: Any, known: dict[str, list[str]]) -> list[str]:
    """The backends a downloaded model serves: from the library (local or catalog), else from its files."""
    repo = str(job_params.get("repo_id") or "")
    if known.get(repo):
        return known[repo]
    plan = job_params.get("plan")
    plan = plan if isinstance(plan, dict) else {}
    source = result if isinstance(result, dict) and result.get("files") else plan  # a failed job: its plan
    files = [str(f) for f in source.get("files") or []]
    if job_params.get("variant") or any(f.endswith(".gguf") for f in files):
        return ["llama-cpp"]
    if "model_index.json" in files:
        return ["diffusers"]
    if any(f.endswith((".safetensors", ".bin")) for f in files):
        return ["transformers"]
    return []


def backend_stats(eng: Engine) -> dict[str, dict[str, int]]:
    """Per backend: local models, loaded models, downloads completed and failed, bytes on disk."""
    lib = eng.library
    local = lib.list_local()
    known: dict[str, list[str]] = {}
    for entry in lib.catalog().values():
        known[entry["id"]] = list(entry.get("backends") or _backends_for(list(entry.get("formats") or [])))
    for m in local:
        known[m.id] = list(m.backends)
    stats: dict[str, dict[str, int]] = {}

    def row(name: str) -> dict[str, int]:
        return stats.setdefault(name, {"local_models": 0, "loaded_models": 0, "downloads_completed": 0,
                                       "downloads_failed": 0, "bytes_on_disk": 0})

    for name in ("llama-cpp", "transformers", "diffusers"):
        row(name)
    for m in local:
        for b in m.backends:
            r = row(b)
            r["local_models"] += 1
            r["bytes_on_disk"] += int(m.local_size or m.size or 0)
    for loaded in eng.chat.loaded():
        row(str(loaded.get("backend") or "unknown"))["loaded_models"] += 1
    try:
        row("diffusers")["loaded_models"] += len(eng.video.loaded())
    except Exception:  # diffusers absent: nothing held
        pass
    for state, key in ((JobState.COMPLETED, "downloads_completed"), (JobState.FAILED, "downloads_failed")):
        for job in eng.jobs.list("download", [state], limit=_DOWNLOAD_SCAN):
            for b in _download_backends(job.params, job.result, known):
                row(b)[key] += 1
    return stats


def backends(eng: Engine) -> list[dict[str, Any]]:
    """``Library.backends()`` with each backend's ``stats``."""
    stats = backend_stats(eng)
    out = eng.library.backends()
    for b in out:
        b["stats"] = stats.get(b["name"], {"local_models": 0, "loaded_models": 0, "downloads_completed": 0,
                                           "downloads_failed": 0, "bytes_on_disk": 0})
    return out
