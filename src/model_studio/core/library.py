"""The model library: one view of the curated catalog, live Hub search and local models."""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConflictError, NetworkError, NotFoundError, StudioError, ValidationError
from .fit import FitResult, GpuFree, ModelShape, estimate, gguf_metadata, shape_from_config, shape_from_gguf
from .hub import HubClient
from .local import LocalModel, LocalScanner
from .quants import default_quant
from .refs import ModelRef, ensure_within, gguf_quant
from .system import SystemMonitor

CATALOG_PATH = Path(__file__).with_name("catalog.json")
TASKS = ("text-generation", "text-to-video", "image-to-video")
STATUSES = ("available", "downloading", "local", "error")
BACKENDS = ("llama-cpp", "transformers", "diffusers")
SORTS = ("downloads", "size", "name", "likes", "recent")
_VIDEO_CLASSES = ("Wan", "LTX", "CogVideoX", "HunyuanVideo", "Mochi", "Video", "Allegro", "Latte")


@dataclass
class Quantization:
    name: str
    files: list[str]
    size: int | None = None
    local: bool = False


@dataclass
class ModelInfo:
    """What the library knows about one model, merged from catalog, Hub and disk."""

    id: str
    name: str
    task: str | None = None
    formats: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    size: int | None = None  # bytes: weights (GGUF: the default quantization)
    status: str = "available"
    sources: list[str] = field(default_factory=list)  # catalog, hub, local
    license: str | None = None
    gated: bool = False
    parameters: int | None = None
    context_length: int | None = None
    architecture: str | None = None
    quantizations: list[Quantization] = field(default_factory=list)
    default_quantization: str | None = None
    tags: list[str] = field(default_factory=list)
    downloads: int | None = None
    likes: int | None = None
    description: str = ""
    pipeline: str | None = None
    video: dict[str, Any] | None = None
    local_path: str | None = None
    local_size: int | None = None
    incomplete_bytes: int = 0
    commit: str | None = None
    last_modified: float | None = None
    files: list[dict[str, Any]] | None = None  # info() only
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SearchResults(list[ModelInfo]):
    """The models a search found, and ``hub_error`` (the error shape's inner dict) when the Hub part
    is missing: per call, so concurrent searches never see each other's."""

    def __init__(self, models: list[ModelInfo], hub_error: dict[str, Any] | None = None) -> None:
        super().__init__(models)
        self.hub_error = hub_error


def _backends_for(formats: list[str]) -> list[str]:
    out = []
    if "gguf" in formats:
        out += ["llama-cpp"]
    if "safetensors" in formats or "pytorch" in formats:
        out += ["transformers"]
    if "diffusers" in formats:
        out += ["diffusers"]
    return out


def _task_from_local(m: LocalModel) -> str | None:
    if m.model_index is not None:
        cls = str(m.model_index.get("_class_name", ""))
        if any(k in cls for k in _VIDEO_CLASSES):
            return "image-to-video" if "ImageToVideo" in cls else "text-to-video"
        return None
    if m.config is not None:
        archs = m.config.get("architectures") or []
        if any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs):
            return "text-generation"
        return None
    if any(f.endswith(".gguf") for f in m.files):
        return "text-generation"
    return None


def _license_from_tags(tags: list[str]) -> str | None:
    return next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)


class Library:
    """Search, inspect, verify and delete models; estimate whether they fit."""

    def __init__(self, settings: Settings, hub: HubClient, system: SystemMonitor,
                 active_downloads: Callable[[], set[str]] | None = None) -> None:
        self.settings = settings
        self.hub = hub
        self.system = system
        self.local = LocalScanner(settings.cache_path, settings.model_dirs())
        self._active_downloads = active_downloads or (lambda: set())
        self._catalog: dict[str, dict[str, Any]] | None = None
        self._hub_cache: dict[tuple, tuple[float, list[ModelInfo]]] = {}
        self._hub_pending: dict[tuple, Future[list[ModelInfo]]] = {}  # one Hub call per search key
        self._hub_overdue: set[Future[list[ModelInfo]]] = set()  # calls a search stopped waiting for
        self._lock = threading.Lock()
        self._local_infos: dict[str, tuple[LocalModel, ModelInfo]] = {}

    # Catalog -----------------------------------------------------------------------------------

    def catalog(self) -> dict[str, dict[str, Any]]:
        if self._catalog is None:
            with open(CATALOG_PATH, encoding="utf-8") as fh:
                data = json.load(fh)
            self._catalog = {m["id"]: m for m in data["models"]}
        return self._catalog

    def _from_catalog(self, entry: dict[str, Any]) -> ModelInfo:
        quants = [Quantization(q["name"], list(q["files"]), q.get("size")) for q in entry.get("quantizations") or []]
        default = entry.get("default_quantization")
        size = entry.get("size")
        if size is None and quants:
            q = next((q for q in quants if q.name == default), quants[0])
            size = q.size
        return ModelInfo(
            id=entry["id"], name=entry.get("name") or entry["id"].split("/")[-1], task=entry.get("task"),
            formats=list(entry.get("formats") or []), backends=list(entry.get("backends") or []), size=size,
            sources=["catalog"], license=entry.get("license"), gated=bool(entry.get("gated")),
            parameters=entry.get("parameters"), context_length=entry.get("context_length"),
            architecture=entry.get("architecture"), quantizations=quants, default_quantization=default,
            tags=list(entry.get("tags") or []), description=entry.get("description") or "",
            pipeline=entry.get("pipeline"), video=entry.get("video"),
        )

    # Local -------------------------------------------------------------------------------------

    def _from_local(self, m: LocalModel) -> ModelInfo:
        """A fresh ModelInfo for a local model; built once per scan result, copied per call."""
        with self._lock:
            hit = self._local_infos.get(m.id)
        if hit is None or hit[0] is not m:
            hit = (m, self._build_local(m))
            with self._lock:
                self._local_infos[m.id] = hit
        return _clone(hit[1])

    def _build_local(self, m: LocalModel) -> ModelInfo:
        formats = m.formats
        quants = [Quantization(q, files, sum(_size(m.file_path(f)) for f in files), True)
                  for q, files in sorted(m.quantizations.items())]
        cfg = m.config or {}
        info = ModelInfo(
            id=m.id, name=m.id.split("/")[-1], task=_task_from_local(m), formats=formats,
            backends=_backends_for(formats), size=m.size_on_disk, status="local", sources=["local"],
            architecture=cfg.get("model_type"),
            context_length=cfg.get("max_position_embeddings"),
            quantizations=quants, local_path=str(m.snapshot if m.source == "cache" else m.path),
            local_size=m.size_on_disk, incomplete_bytes=m.incomplete_bytes, commit=m.commit,
            last_modified=m.last_modified,
            pipeline=(m.model_index or {}).get("_class_name"),
        )
        if m.error is not None:  # listed with the reason; info, fit and load raise it
            info.status, info.error = "error", m.error
        return info

    def list_local(self) -> list[ModelInfo]:
        """Models on disk (HF cache and extra folders), newest first."""
        active = self._active_downloads()
        models = [self._merge(self._from_local(m), active=active) for m in self.local.models()]
        return sorted(models, key=lambda m: -(m.last_modified or 0))

    def _merge(self, local: ModelInfo | None = None, hub: ModelInfo | None = None,
               catalog: dict[str, Any] | None = None, active: set[str] | None = None) -> ModelInfo:
        """Catalog facts first, Hub numbers over them, local state over both."""
        first = local or hub
        base_id = first.id if first is not None else (catalog or {})["id"]
        entry = catalog if catalog is not None else self.catalog().get(base_id)
        # Hub results are cached and shared between calls: merge into a copy, never the original.
        out = self._from_catalog(entry) if entry else (_clone(hub) if hub is not None else local)
        assert out is not None
        if hub is not None and "catalog" in out.sources:
            out.downloads, out.likes = hub.downloads, hub.likes
            out.sources.append("hub")
            out.tags = sorted(set(out.tags) | set(hub.tags))
            out.license = out.license or hub.license
            out.task = out.task or hub.task
            out.gated = out.gated or hub.gated
            out.last_modified = out.last_modified or hub.last_modified
        if local is not None and out is not local:
            out.status, out.error = local.status, local.error
            out.sources.append("local")
            out.local_path, out.local_size, out.commit = local.local_path, local.local_size, local.commit
            out.incomplete_bytes = local.incomplete_bytes
            out.last_modified = local.last_modified
            out.size = out.size or local.size
            out.task = out.task or local.task
            out.formats = out.formats or local.formats
            out.backends = out.backends or local.backends
            local_quants = {q.name: q for q in local.quantizations}
            for q in out.quantizations:
                if q.name in local_quants:
                    q.local = True
                    q.size = q.size or local_quants[q.name].size
            for name, q in local_quants.items():
                if name not in {x.name for x in out.quantizations}:
                    out.quantizations.append(q)
        if out.id in (self._active_downloads() if active is None else active):
            out.status = "downloading"
        return out

    # Search ------------------------------------------------------------------------------------

    def search(
        self,
        query: str = "",
        *,
        task: str | None = None,
        backend: str | None = None,
        status: str | None = None,
        format: str | None = None,
        sort: str = "downloads",
        limit: int = 50,
        hub: bool = True,
    ) -> SearchResults:
        """Catalog, Hub and local models matching ``query`` and the filters, merged by id.

        The Hub part waits at most ``hub_search_wait`` seconds; without it the answer comes from the
        catalog and local models, with ``hub_error`` saying why.
        """
        _check_choice("task", task, TASKS)
        _check_choice("backend", backend, BACKENDS)
        _check_choice("status", status, STATUSES)
        _check_choice("sort", sort, SORTS)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000", details={"limit": limit})
        if not isinstance(query, str) or len(query) > 200:
            raise ValidationError("query must be a string of at most 200 characters")
        q = query.strip().lower()
        local = {m.id: m for m in (self._from_local(x) for x in self.local.models())}
        hub_models: dict[str, ModelInfo] = {}
        hub_error = None
        if hub and status != "local" and not self.settings.offline:
            found, hub_error = self._hub_search(q, task, limit)
            hub_models = {m.id: m for m in found}
        ids = list(dict.fromkeys([*local, *self.catalog(), *hub_models]))
        active = self._active_downloads()
        out = []
        for model_id in ids:
            model = self._merge(local.get(model_id), hub_models.get(model_id), self.catalog().get(model_id),
                                active=active)
            if q and q not in model.id.lower() and q not in model.name.lower() and q not in " ".join(model.tags).lower():
                continue
            if task and model.task != task and not (task == "image-to-video" and (model.video or {}) and
                                                    self.catalog().get(model.id, {}).get("image_to_video")):
                continue
            if backend and backend not in model.backends:
                continue
            if format and format not in model.formats:
                continue
            if status and model.status != status:
                continue
            out.append(model)
        keys: dict[str, Callable[[ModelInfo], Any]] = {
            "downloads": lambda m: (-(m.downloads or 0), m.status != "local", m.id.lower()),
            "likes": lambda m: (-(m.likes or 0), m.id.lower()),
            "size": lambda m: (m.size is None, m.size or 0),
            "name": lambda m: m.id.lower(),
            "recent": lambda m: -(m.last_modified or 0),
        }
        return SearchResults(sorted(out, key=keys[sort])[:limit], hub_error)

    def _hub_search(self, query: str, task: str | None, limit: int) -> tuple[list[ModelInfo], dict | None]:
        """Hub models for a search and why they are missing, if they are (cached answers first).

        The call runs in the Hub client's own pool, so a Hub that is down or slow holds none of the
        threads other routes need; a search waits for it at most ``hub_search_wait`` seconds, and not
        at all while an earlier call is already overdue. A late answer still fills the cache.
        """
        key = (query, task, limit)
        with self._lock:
            hit = self._hub_cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.settings.hub_search_ttl:
                return hit[1], None
            future = self._hub_pending.get(key)
            started = future is None
            if future is None:
                future = self._hub_pending[key] = self.hub.submit(self._fetch_hub, key)
            wait = 0.0 if self._hub_overdue else self.settings.hub_search_wait
        if started:  # outside the lock: a call already done runs its callback at once
            future.add_done_callback(lambda f: self._hub_call_done(key, f))
        try:
            return future.result(timeout=wait), None
        except FutureTimeout:
            with self._lock:
                if not future.done():
                    self._hub_overdue.add(future)
            error = NetworkError(
                "The Hub has not answered yet; showing catalog and local models",
                details={"waited": wait, "pending": True},
                resolution_steps=["Search again in a moment: the Hub's answer is kept when it arrives",
                                  "Check your network connection or HF_ENDPOINT"])
            return (hit[1] if hit else []), error.to_dict()["error"]
        except StudioError as exc:  # offline or unreachable is fine: catalog and local still answer
            return (hit[1] if hit else []), exc.to_dict()["error"]

    def _hub_call_done(self, key: tuple, future: Future[list[ModelInfo]]) -> None:
        with self._lock:
            if self._hub_pending.get(key) is future:
                del self._hub_pending[key]
            self._hub_overdue.discard(future)

    def _fetch_hub(self, key: tuple) -> list[ModelInfo]:
        """One Hub search (in the Hub pool), converted and cached."""
        query, task, limit = key
        # full=True brings each result's file names, so GGUF quantizations show in the list
        results = self.hub.list_models(search=query or None, pipeline_tag=task, sort="downloads",
                                       limit=limit, full=True)
        now = time.monotonic()
        models = []
        for r in results:
            tags = list(getattr(r, "tags", None) or [])
            names = [sib.rfilename for sib in (getattr(r, "siblings", None) or [])]
            formats = ["gguf"] if "gguf" in tags or any(n.endswith(".gguf") for n in names) else (
                ["diffusers"] if getattr(r, "library_name", None) == "diffusers" or "model_index.json" in names
                else ["safetensors"] if "safetensors" in tags or any(n.endswith(".safetensors") for n in names)
                else [])
            quants: dict[str, list[str]] = {}
            for n in names:
                q = gguf_quant(n)
                if q and "mmproj" not in n.lower():
                    quants.setdefault(q, []).append(n)
            last = getattr(r, "last_modified", None)
            models.append(ModelInfo(
                id=r.id, name=r.id.split("/")[-1], task=getattr(r, "pipeline_tag", None), formats=formats,
                backends=_backends_for(formats), sources=["hub"], license=_license_from_tags(tags),
                gated=bool(getattr(r, "gated", False)), tags=tags, downloads=getattr(r, "downloads", None),
                likes=getattr(r, "likes", None), last_modified=last.timestamp() if last else None,
                quantizations=[Quantization(q, sorted(files)) for q, files in sorted(quants.items())],
            ))
        with self._lock:
            self._hub_cache[key] = (now, models)
        return models

    # One model ---------------------------------------------------------------------------------

    def get(self, model: str | ModelRef) -> ModelInfo:
        """Catalog and local facts about one model, without calling the Hub."""
        ref = ModelRef.coerce(model)
        local = self.local.get(ref.repo_id)
        entry = self.catalog().get(ref.repo_id)
        if local is None and entry is None:
            raise NotFoundError(f"{ref.repo_id} is neither local nor in the catalog",
                                details={"model": ref.repo_id},
                                resolution_steps=["Search the Hub with library.search()", "Or call info() online"])
        return self._merge(self._from_local(local) if local else None, None, entry)

    def info(self, model: str | ModelRef) -> ModelInfo:
        """Everything known about a model: files, quantizations, sizes, licence, parameters, context."""
        ref = ModelRef.coerce(model)
        local = self.local.get(ref.repo_id)
        entry = self.catalog().get(ref.repo_id)
        remote = None
        if not ref.is_local and not self.settings.offline:
            try:
                remote = self.hub.repo(ref.repo_id, ref.revision)
            except NetworkError:
                if local is None and entry is None:
                    raise
            except NotFoundError:
                if local is None:
                    raise
        if local is None and entry is None and remote is None:
            raise NotFoundError(f"Unknown model {ref.repo_id}", details={"model": ref.repo_id})
        if local is None and entry is None:
            out = ModelInfo(id=ref.repo_id, name=ref.name, sources=[])
        else:
            out = self._merge(self._from_local(local) if local else None, None, entry)
        local_files = set(local.files) if local else set()
        if remote is not None:
            info = remote.info
            out.sources.append("hub")
            tags = list(info.tags or [])
            card = info.card_data.to_dict() if getattr(info, "card_data", None) else {}
            out.license = out.license or card.get("license") or _license_from_tags(tags)
            out.tags = sorted(set(out.tags) | set(tags))
            out.task = out.task or info.pipeline_tag
            out.downloads, out.likes = info.downloads, info.likes
            out.gated = bool(info.gated) or out.gated
            cfg = info.config or {}
            out.architecture = out.architecture or cfg.get("model_type")
            st = getattr(info, "safetensors", None)
            if st is not None and getattr(st, "total", None):
                out.parameters = st.total
            gg = getattr(info, "gguf", None) or {}
            if isinstance(gg, dict):
                out.parameters = out.parameters or gg.get("total")
                out.context_length = out.context_length or gg.get("context_length")
                out.architecture = out.architecture or gg.get("architecture")
            names = [f.path for f in remote.files]
            formats = ["gguf"] if any(n.endswith(".gguf") for n in names) else []
            if "model_index.json" in names:
                formats.append("diffusers")
            elif any(n.endswith(".safetensors") for n in names):
                formats.append("safetensors")
            out.formats = out.formats or formats
            out.backends = out.backends or _backends_for(out.formats)
            out.commit = out.commit or remote.commit
            from .downloads import quantizations

            remote_quants = {q: files for q, files in quantizations(remote.files).items()}
            known = {q.name: q for q in out.quantizations}
            for name, files in sorted(remote_quants.items()):
                q = known.get(name) or Quantization(name, [])
                q.files = [f.path for f in files]
                q.size = sum(f.size for f in files)  # the Hub's numbers are exact
                q.local = all(p in local_files for p in q.files)
                if name not in known:
                    out.quantizations.append(q)
            out.files = [{"path": f.path, "size": f.size, "lfs": f.is_lfs, "sha256": f.sha256,
                          "quantization": gguf_quant(f.path), "local": f.path in local_files} for f in remote.files]
            if not out.size:
                weights = [f.size for f in remote.files if f.path.endswith((".safetensors", ".bin"))]
                out.size = sum(weights) or None
        elif local is not None:
            out.files = [{"path": f, "size": _size(local.file_path(f)), "quantization": gguf_quant(f), "local": True}
                         for f in local.files]
        if local is not None:
            gguf_path = self._local_gguf(local, ref.variant or out.default_quantization)
            if gguf_path is not None:
                meta = gguf_metadata(gguf_path)
                out.architecture = out.architecture or meta.get("architecture")
                out.context_length = out.context_length or meta.get("context_length")
                out.parameters = out.parameters or meta.get("parameters")
            else:
                local.check()
            if local.config:
                out.context_length = out.context_length or local.config.get("max_position_embeddings")
        if out.default_quantization is None and out.quantizations:
            out.default_quantization = default_quant({q.name: q.size for q in out.quantizations})
        return out

    def _local_gguf(self, local: LocalModel, quant: str | None) -> Path | None:
        """The first file of ``quant`` (or of any quantization); BrokenFileError if one is broken."""
        quants = local.quantizations
        if not quants:
            return None
        files = quants.get((quant or "").upper()) or next(iter(quants.values()))
        local.check(files)
        first = sorted(files)[0]
        return local.file_path(first)

    # Delete and verify -------------------------------------------------------------------------

    def delete(self, model: str | ModelRef, *, dry_run: bool = False) -> dict[str, Any]:
        """Delete a model from the cache through huggingface_hub's deletion strategy.

        Returns ``{"model", "freed_bytes", "revisions", "deleted"}``; ``dry_run`` only reports the
        bytes that would be freed (for a confirmation dialog).
        """
        ref = ModelRef.coerce(model)
        if ref.is_local:
            raise ValidationError(
                f"{ref.repo_id} lives in a folder the studio does not own; remove the file yourself",
                details={"model": ref.repo_id})
        if ref.repo_id in self._active_downloads():
            raise ConflictError(f"{ref.repo_id} is downloading; cancel the download first",
                                details={"model": ref.repo_id})
        local = self.local.get(ref.repo_id)
        storage = self.settings.cache_path / ("models--" + ref.repo_id.replace("/", "--"))
        if local is None and not storage.is_dir():
            raise NotFoundError(f"{ref.repo_id} is not in the cache", details={"model": ref.repo_id})
        ensure_within(self.settings.cache_path, storage)
        from huggingface_hub.utils._cache_manager import HFCacheInfo, _scan_cached_repo

        incomplete = sum(p.stat().st_size for p in (storage / "blobs").glob("*.incomplete")) \
            if (storage / "blobs").is_dir() else 0
        try:
            repo = _scan_cached_repo(storage)
        except Exception:  # an empty or half-made folder: only partials to remove
            repo = None
        revisions: list[str] = []
        freed = incomplete
        strategy = None
        if repo is not None:
            cache = HFCacheInfo(size_on_disk=repo.size_on_disk, repos=frozenset({repo}),
                                incomplete_files=frozenset(), warnings=[], cache_dir=self.settings.cache_path)
            revisions = sorted(r.commit_hash for r in repo.revisions)
            strategy = cache.delete_revisions(*revisions)
            freed += strategy.expected_freed_size
        if not dry_run:
            if strategy is not None:
                strategy.execute()
            if storage.exists():
                import shutil

                shutil.rmtree(storage, ignore_errors=True)
            self.local.invalidate(ref.repo_id)
        return {"model": ref.repo_id, "freed_bytes": freed, "revisions": revisions, "deleted": not dry_run}

    def verify(self, model: str | ModelRef) -> dict[str, Any]:
        """Re-check a local model's files against the Hub (sha256 for LFS files, git sha1 otherwise).

        Returns ``{"model", "ok", "checked", "mismatches": [{path, expected, actual, algorithm}],
        "not_downloaded": [...], "extra": [...]}``; files of the repo that were never downloaded (other
        quantizations) are listed, not counted as failures.
        """
        ref = ModelRef.coerce(model)
        if ref.is_local:
            raise ValidationError(f"{ref.repo_id} has no Hub checksums to verify against",
                                  details={"model": ref.repo_id})
        local = self.local.get(ref.repo_id)
        if local is None or local.commit is None or local.snapshot is None:
            raise NotFoundError(f"{ref.repo_id} is not in the cache", details={"model": ref.repo_id})
        escaped = []
        for name in local.files:
            try:
                ensure_within(self.settings.cache_path, local.file_path(name))
            except ValidationError:
                escaped.append(name)
        if escaped:
            raise ValidationError(f"{ref.repo_id} has files that point outside the cache: {escaped}",
                                  details={"model": ref.repo_id, "files": escaped},
                                  resolution_steps=["Delete the model and download it again"])
        result = self.hub.verify_checksums(ref.repo_id, local.commit, self.settings.cache_path)
        keys = ("path", "expected", "actual", "algorithm")
        mismatches = [{k: (m[k] if isinstance(m, dict) else getattr(m, k)) for k in keys} for m in result.mismatches]
        return {"model": ref.repo_id, "commit": local.commit, "ok": not mismatches and not result.extra_paths,
                "checked": result.checked_count, "mismatches": mismatches,
                "not_downloaded": list(result.missing_paths), "extra": list(result.extra_paths)}

    # Fit and backends --------------------------------------------------------------------------

    def shape(self, model: str | ModelRef, quantization: str | None = None) -> ModelShape:
        """What the memory estimate needs, from the local files when present, else catalog and Hub."""
        ref = ModelRef.coerce(model).with_(variant=quantization)
        quant = ref.variant.upper() if ref.variant else None
        local = self.local.get(ref.repo_id)
        if local is not None:
            gguf_path = self._local_gguf(local, quant)
            if gguf_path is not None:
                q = quant if quant in local.quantizations else gguf_quant(gguf_path.name)
                shape = shape_from_gguf(gguf_path, q)
                files = local.quantizations.get(q or "", [gguf_path.name])
                shape.weights_bytes = sum(_size(local.file_path(f)) for f in files)
                return shape
            if local.config:
                local.check()
                weights = sum(_size(local.file_path(f)) for f in local.files if f.endswith((".safetensors", ".bin")))
                return shape_from_config(local.config, weights_bytes=weights or None)
        entry = self.catalog().get(ref.repo_id)
        info = self.info(ref) if entry is None else self._from_catalog(entry)
        q = quant or info.default_quantization
        size = info.size
        chosen = next((x for x in info.quantizations if x.name == q), None)
        if info.quantizations and chosen is None and quant:
            raise NotFoundError(f"{ref.repo_id} has no quantization {quant}",
                                details={"model": ref.repo_id, "quantizations": [x.name for x in info.quantizations]})
        if chosen is not None:
            size = chosen.size
        return ModelShape(parameters=info.parameters, weights_bytes=size, context_length=info.context_length,
                          architecture=info.architecture, quantization=q)

    def fit(self, model: str | ModelRef, quantization: str | None = None, context: int | None = None) -> FitResult:
        """Estimate memory need (weights + KV cache) against free RAM and each GPU's free memory."""
        if context is not None and (not isinstance(context, int) or not 1 <= context <= 10_000_000):
            raise ValidationError("context must be a positive number of tokens", details={"context": context})
        ref = ModelRef.coerce(model)
        shape = self.shape(ref, quantization)
        gpus = [GpuFree(g.index, g.name, g.memory_free, g.memory_total) for g in self.system.gpus()]
        return estimate(ref.repo_id, shape, context=context, ram_free=self.system.free_ram(),
                        gpus=gpus)

    def backends(self) -> list[dict[str, Any]]:
        """Which backends are installed, their versions, GPU use, local models and suggestions."""
        gpus = self.system.gpus()
        local = self.list_local()
        specs = [
            ("llama-cpp", "llama_cpp", "llama-cpp-python", "llama", "gguf"),
            ("transformers", "transformers", "transformers", "transformers", "safetensors"),
            ("diffusers", "diffusers", "diffusers", "video", "diffusers"),
        ]
        out = []
        for name, module, dist, extra, fmt in specs:
            installed = importlib.util.find_spec(module) is not None
            version = None
            if installed:
                try:
                    version = importlib.metadata.version(dist)
                except importlib.metadata.PackageNotFoundError:
                    version = None
            gpu_usable = bool(gpus) and installed and self._gpu_build(name)
            compatible = [m.id for m in local if fmt in m.formats]
            suggestions = self._suggest(name, 3)
            out.append({
                "name": name, "installed": installed, "version": version,
                "install": None if installed else f"pip install 'jupyter-model-studio[{extra}]'",
                "gpu": gpu_usable, "local_models": len(compatible), "models": compatible[:20],
                "suggestions": suggestions,
            })
        return out

    def _gpu_build(self, backend: str) -> bool:
        if backend == "llama-cpp":
            try:
                import llama_cpp

                return bool(llama_cpp.llama_supports_gpu_offload())
            except Exception:
                return False
        try:
            import torch

            return bool(torch.cuda.is_available())
        except Exception:
            return False

    def _suggest(self, backend: str, n: int) -> list[dict[str, Any]]:
        """Catalog models for ``backend`` that fit this machine, largest that fits on GPU first."""
        picks = []
        for entry in self.catalog().values():
            if backend not in (entry.get("backends") or []) or entry.get("gated"):
                continue
            try:
                result = self.fit(entry["id"])
            except StudioError:
                continue
            if result.fits and result.weights_bytes:
                picks.append({"id": entry["id"], "quantization": result.quantization, "verdict": result.verdict,
                              "weights_bytes": result.weights_bytes, "message": result.message})
        # On a GPU the largest model that fits is the best pick; on the CPU speed falls with size,
        # so the smallest models come first.
        rank = {"gpu": 0, "partial": 1, "cpu": 2}
        picks.sort(key=lambda p: (rank.get(p["verdict"], 3),
                                  -p["weights_bytes"] if p["verdict"] == "gpu" else p["weights_bytes"]))
        return picks[:n]

    def invalidate(self, repo_id: str | None = None) -> None:
        self.local.invalidate(repo_id)


def _clone(info: ModelInfo) -> ModelInfo:
    """A copy safe to mutate (lists and quantizations copied)."""
    out = copy.copy(info)
    out.sources = list(info.sources)
    out.tags = list(info.tags)
    out.quantizations = [copy.copy(q) for q in info.quantizations]
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValidationError(f"Unknown {name} {value!r}; choose one of {', '.join(choices)}",
                              details={name: value, "choices": list(choices)})

