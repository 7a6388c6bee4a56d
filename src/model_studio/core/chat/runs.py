"""Fine-tuned training runs as chat models: ``run/<job id>`` names a finished run's LoRA adapter
over its base model.

A run is *finished* when ``<home>/runs/<id>/result.json`` (written by the training worker as its
last act) names an adapter folder and a base model folder that both exist. That one definition
serves loading (``run_model``) and listing (``finished_runs``: ``/v1/models``, the Chat picker,
``%studio models --local``), so every listed run loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...errors import NotFoundError, ValidationError
from ..jobs import JobStore

PREFIX = "run/"
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_run(model: object) -> bool:
    return str(model).startswith(PREFIX)


def _result(run_dir: Path) -> tuple[str, str, dict[str, Any]] | None:
    """(base folder, adapter folder, result) of a finished run, or None."""
    try:
        result = json.loads((run_dir / "result.json").read_text())
        base_dir, adapter = str(result["base_dir"]), str(result["adapter"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not Path(adapter).exists() or not Path(base_dir).exists():
        return None
    return base_dir, adapter, result


def run_model(runs_dir: Path, model: str) -> tuple[str, str]:
    """(base model folder, adapter folder) of ``run/<job_id>``.

    Raises ValidationError for a name that is not ``run/<job id>`` (never a path: ``run/../../x``)
    and NotFoundError for a run that is not finished or whose files are gone.
    """
    job_id = model.split("/", 1)[1] if "/" in model else ""
    if not _JOB_ID.fullmatch(job_id):
        raise ValidationError(f"Invalid training run {model!r}: expected run/<job id>", details={"model": model})
    run_dir = runs_dir / job_id
    if not (run_dir / "result.json").is_file():
        raise NotFoundError(f"{model} is not a finished training run", details={"model": model},
                            resolution_steps=["List runs with engine.training.runs()",
                                              "Wait for the run to complete"])
    found = _result(run_dir)
    if found is None:
        raise NotFoundError(f"The files of {model} are gone", details={"model": model},
                            resolution_steps=["List runs with engine.training.runs()"])
    return found[0], found[1]


def _size(folder: Path) -> int:
    """Bytes of the files directly in ``folder`` (an adapter folder is flat)."""
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def finished_runs(runs_dir: Path, jobs: JobStore | None = None) -> list[dict[str, Any]]:
    """Finished runs, newest first: ``{id: "run/<job id>", job_id, base_model, base_dir, adapter,
    adapter_bytes, steps, final_loss, created}`` (``created``: seconds since the epoch, when the
    run finished). ``base_model`` is the name the run was started with, from its job when known."""
    if not runs_dir.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for run_dir in runs_dir.iterdir():
        if not _JOB_ID.fullmatch(run_dir.name):
            continue
        found = _result(run_dir)
        if found is None:
            continue
        base_dir, adapter, result = found
        base = None
        if jobs is not None:
            try:
                params = jobs.get(run_dir.name).params
                base = params.get("base_model") or params.get("base")
            except LookupError:
                pass  # the job row was deleted; the run's files still chat
        out.append({"id": PREFIX + run_dir.name, "job_id": run_dir.name, "base_model": base or Path(base_dir).name,
                    "base_dir": base_dir, "adapter": adapter, "adapter_bytes": _size(Path(adapter)),
                    "steps": result.get("steps"), "final_loss": result.get("final_loss"),
                    "created": (run_dir / "result.json").stat().st_mtime})
    out.sort(key=lambda r: r["created"], reverse=True)
    return out
