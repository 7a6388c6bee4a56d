"""Search: the curated catalog, live Hub search and local models merged by id (part of
``core.library``: ``ModelSearch`` is mixed into ``Library``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ...config import Settings
from ...errors import NetworkError, StudioError, ValidationError
from ..hub import HubClient
from ..local import LocalModel, LocalScanner
from ..refs import gguf_quant
from .records import (
    BACKENDS,
    CATALOG_PATH,
    EMBEDDING_TASKS,
    SORTS,
    STATUSES,
    TASKS,
    ModelInfo,
    Quantization,
    SearchResults,
    _backends_for,
    _check_choice,
    _clone,
    _license_from_tags,
    _size,
    _task_from_local,
)


class ModelSearch:
    """Catalog, local and Hub models as ``ModelInfo`` records, and ``search`` over all three (a
    mixin: ``Library.__init__`` sets the attributes below)."""

    settings: Settings
    hub: HubClient
    local: LocalScanner
    _active_downloads: Callable[[], set[str]]
    _catalog: dict[str, dict[str, Any]] | None
    _hub_cache: dict[tuple, tuple[float, list[ModelInfo]]]
    _hub_pending: dict[tuple, Future[list[ModelInfo]]]
    _hub_overdue: set[Future[list[ModelInfo]]]
    _lock: threading.Lock
    _local_infos: dict[str, tuple[LocalModel, ModelInfo]]
    remote: Callable[[], list[dict[str, Any]]]  # Library.remote: the remote endpoints' models

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
            pipeline=entry.get("pipeline"), video=entry.get("video"), embedding=entry.get("embedding"),
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
            pipeline=(m.model_index or {}).get("_class_name"), shared=m.shared,
        )
        info.store = "hf-cache" if m.source == "cache" else m.source
        info.read_only, info.verified = m.read_only, m.verified
        if m.shared:  # a read-only folder mounted for every user: listed and loaded, never deleted here
            info.sources.append("shared")
            info.store, info.read_only = "shared", True
        meta = m.gguf_meta or {}  # read by a store scan: the listing carries the GGUF header's facts
        info.architecture = info.architecture or meta.get("architecture")
        info.context_length = info.context_length or meta.get("context_length")
        info.parameters = info.parameters or meta.get("parameters")
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
            out.shared = local.shared
            if local.shared:
                out.sources.append("shared")
            out.last_modified = local.last_modified
            out.store, out.read_only, out.verified = local.store, local.read_only, local.verified
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
        if status in (None, "remote") and backend in (None, "remote") and format is None:
            for m in self.remote():  # served by a remote endpoint (engine.endpoints)
                local[m["id"]] = ModelInfo(id=m["id"], name=m["name"], task="text-generation", backends=["remote"],
                                           status="remote", sources=["remote"], endpoint=m["endpoint"])
        ids = list(dict.fromkeys([*local, *self.catalog(), *hub_models]))
        active = self._active_downloads()
        out = []
        for model_id in ids:
            model = self._merge(local.get(model_id), hub_models.get(model_id), self.catalog().get(model_id),
                                active=active)
            if q and q not in model.id.lower() and q not in model.name.lower() and q not in " ".join(model.tags).lower():
                continue
            if task in EMBEDDING_TASKS and model.task in EMBEDDING_TASKS:
                pass
            elif task and model.task != task and not (task == "image-to-video" and (model.video or {}) and
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
