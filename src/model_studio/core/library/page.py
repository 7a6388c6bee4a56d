"""A model's page: everything a person looks at before using a model, in one answer (part of
``core.library``: ``ModelPages`` is mixed into ``Library``).

The card (README.md) with its metadata and evaluation results, the files with sizes, sha256 and
which are local, revisions, licence and gating, each quantization with a fit verdict, the
backends that can run it and what the studio can do with it (chat, fine-tune, video).

What comes from the Hub (the repo listing, the card, refs, commits, access) is fetched through
``HubClient`` (timeouts, circuit breaker) and cached per model and revision for
``hub_search_ttl`` seconds; what is local is read every time, so a download or a deletion shows
at once. Offline or with the Hub down, a local (or catalog) model still gets its page, with
``hub_error`` saying why the Hub part is missing.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import NetworkError, NotFoundError, StudioError
from ..fit import GpuFree, ModelShape, estimate
from ..hub import HubClient, RemoteRepo
from ..local import LocalModel, LocalScanner
from ..refs import HEX64, ModelRef
from ..system import SystemMonitor
from .card import MAX_CARD_BYTES, parse_card
from .records import ModelInfo, Quantization

if TYPE_CHECKING:
    from ..fit import FitResult

HUB_PAGE = "https://huggingface.co"
CARD_FILE = "README.md"
MAX_FITS = 24  # quantizations given a fit verdict on one page
MAX_COMMITS = 20
MAX_CACHED_PAGES = 256
_BACKEND_MODULES = {"llama-cpp": "llama_cpp", "transformers": "transformers", "diffusers": "diffusers"}


@dataclass
class _HubPart:
    """What the Hub said about one model revision (cached)."""

    repo: RemoteRepo
    card: str | None = None
    refs: dict[str, list[dict[str, str]]] | None = None
    commits: list[dict[str, Any]] | None = None
    access: bool | None = None
    errors: list[str] = field(default_factory=list)


class ModelPages:
    """``page(model)``: a mixin over ``Library``'s attributes and ``ModelOperations``."""

    settings: Settings
    hub: HubClient
    local: LocalScanner
    system: SystemMonitor
    _lock: threading.Lock
    _page_cache: dict[tuple, tuple[float, _HubPart]]

    if TYPE_CHECKING:
        def catalog(self) -> dict[str, dict[str, Any]]: ...
        def fit(self, model: str | ModelRef, quantization: str | None = None,
                context: int | None = None) -> FitResult: ...
        def _info_from(self, ref: ModelRef, local: LocalModel | None, entry: dict[str, Any] | None,
                       remote: RemoteRepo | None) -> ModelInfo: ...

    def page(self, model: str | ModelRef, variant: str | None = None) -> dict[str, Any]:
        """The model page of ``model`` (see the module docstring); NotFoundError for an unknown model."""
        ref = ModelRef.coerce(model)
        if variant:
            ref = ref.with_(variant=variant)
        local = self.local.get(ref.repo_id)
        entry = self.catalog().get(ref.repo_id)
        hub: _HubPart | None = None
        hub_error = None
        if not ref.is_local:
            try:
                hub = self._hub_part(ref)
            except NetworkError as exc:  # offline, unreachable: the local part still answers
                if local is None and entry is None:
                    raise
                hub_error = exc.to_dict()["error"]
            except NotFoundError as exc:  # not (or no longer) on the Hub: what is local or in the catalog
                if local is None and entry is None:
                    raise
                hub_error = exc.to_dict()["error"]
        info = self._info_from(ref, local, entry, hub.repo if hub else None)

        card_text, card_source = self._local_card(local), "local"
        if card_text is None and hub is not None and hub.card is not None:
            card_text, card_source = hub.card, "hub"
        hub_card_data = _card_data(hub.repo.info) if hub else None
        body, metadata = parse_card(card_text, hub_card_data)
        info.license = info.license or metadata["license"]
        gated = _gated(hub.repo.info) if hub else ("auto" if info.gated else False)
        return {
            "model": info.to_dict(),
            "url": f"{HUB_PAGE}/{ref.repo_id}" if not ref.is_local else None,
            "card": body,
            "card_source": card_source if card_text is not None else None,
            "metadata": metadata,
            "files": self._page_files(info, local),
            "revisions": {
                "current": info.commit,
                "branches": (hub.refs or {}).get("branches", []) if hub else [],
                "tags": (hub.refs or {}).get("tags", []) if hub else [],
                "commits": (hub.commits or []) if hub else [],
                "local": dict(local.refs) if local else {},
            },
            "gating": {"gated": gated, "access": (hub.access if hub else None) if gated else True,
                       "terms_url": f"{HUB_PAGE}/{ref.repo_id}" if gated else None},
            "quantizations": self._page_fits(ref, info, local),
            "backends": [{"name": b, "installed": importlib.util.find_spec(_BACKEND_MODULES.get(b, b)) is not None}
                         for b in info.backends],
            "capabilities": _capabilities(info),
            "hub_error": hub_error,
            "hub_notes": list(hub.errors) if hub else [],
        }

    # The Hub part ------------------------------------------------------------------------------

    def _hub_part(self, ref: ModelRef) -> _HubPart:
        """The Hub's side of a page, from the cache when fresh (``hub_search_ttl`` seconds)."""
        key = (ref.repo_id, ref.revision)
        cache = self._page_cache
        with self._lock:
            hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.settings.hub_search_ttl:
            return hit[1]
        if self.settings.offline:
            self.hub.require_online(f"fetch the page of {ref.repo_id}")
        part = _HubPart(repo=self.hub.repo(ref.repo_id, ref.revision))
        repo_id, commit = ref.repo_id, part.repo.commit
        # Each of these is one short call; a failure leaves its part empty and is named, never fatal.
        if part.repo.file(CARD_FILE) is not None:
            part.card = self._try(part, "card", lambda: self.hub.file_text(repo_id, commit, CARD_FILE, MAX_CARD_BYTES))
        part.refs = self._try(part, "revisions", lambda: self.hub.refs(repo_id))
        part.commits = self._try(part, "commits", lambda: self.hub.commits(repo_id, commit, MAX_COMMITS))
        if _gated(part.repo.info):
            part.access = self._try(part, "access", lambda: self.hub.has_access(repo_id))
        with self._lock:
            if len(cache) >= MAX_CACHED_PAGES:  # a long session of browsing: start over
                cache.clear()
            cache[key] = (time.monotonic(), part)
        return part

    @staticmethod
    def _try(part: _HubPart, what: str, fn: Any) -> Any:
        try:
            return fn()
        except StudioError as exc:
            part.errors.append(f"{what}: {exc.message}")
            return None

    # The local part ----------------------------------------------------------------------------

    @staticmethod
    def _local_card(local: LocalModel | None) -> str | None:
        if local is None or local.snapshot is None or CARD_FILE not in local.files:
            return None
        try:
            with open(local.file_path(CARD_FILE), "rb") as fh:
                return fh.read(MAX_CARD_BYTES).decode("utf-8", errors="replace")
        except OSError:
            return None

    @staticmethod
    def _page_files(info: ModelInfo, local: LocalModel | None) -> list[dict[str, Any]]:
        """Files with size, sha256 (LFS files; for local ones also read from the cache's blob name,
        which is the sha256 of an LFS file, so it shows offline too) and whether each is local."""
        out = []
        for f in info.files or []:
            row = {"path": f["path"], "size": f.get("size"), "sha256": f.get("sha256"), "lfs": f.get("lfs"),
                   "quantization": f.get("quantization"), "local": bool(f.get("local"))}
            if row["local"] and row["sha256"] is None and local is not None and local.source == "cache":
                blob = os.path.basename(os.path.realpath(local.file_path(row["path"])))
                if HEX64.match(blob):
                    row["sha256"], row["lfs"] = blob, True
            out.append(row)
        return out

    def _page_fits(self, ref: ModelRef, info: ModelInfo, local: LocalModel | None) -> list[dict[str, Any]]:
        """Each quantization (or the model itself when it has none) with its fit verdict."""
        quants: list[Quantization | None] = list(info.quantizations[:MAX_FITS]) or [None]
        out = []
        for q in quants:
            name = q.name if q is not None else None
            row: dict[str, Any] = {"name": name, "files": list(q.files) if q else [],
                                   "size": q.size if q else info.size, "local": bool(q.local) if q else
                                   local is not None, "default": name == info.default_quantization,
                                   "fit": None, "fit_error": None}
            try:
                row["fit"] = self._fit_one(ref, info, local, name, row["size"]).to_dict()
            except StudioError as exc:
                row["fit_error"] = exc.message
            out.append(row)
        return out

    def _fit_one(self, ref: ModelRef, info: ModelInfo, local: LocalModel | None, quant: str | None,
                 size: int | None) -> FitResult:
        """From the local files when this variant is local (exact); else from the page's numbers, so
        the page asks the Hub nothing more per quantization."""
        if local is not None and (quant is None or quant in local.quantizations):
            return self.fit(ref.with_(variant=quant))
        shape = ModelShape(parameters=info.parameters, weights_bytes=size, context_length=info.context_length,
                           architecture=info.architecture, quantization=quant)
        gpus = [GpuFree(g.index, g.name, g.memory_free, g.memory_total) for g in self.system.gpus()]
        return estimate(ref.repo_id, shape, context=None, ram_free=self.system.free_ram(), gpus=gpus)


def _card_data(info: Any) -> dict[str, Any] | None:
    data = getattr(info, "card_data", None)
    return data.to_dict() if data is not None else None


def _gated(info: Any) -> str | bool:
    """False, "auto" or "manual" (the Hub's values; True from older answers reads as "auto")."""
    gated = getattr(info, "gated", False)
    if gated is True:
        return "auto"
    return gated if gated in ("auto", "manual") else False


def _capabilities(info: ModelInfo) -> dict[str, bool]:
    """What the studio can do with this model here (the page shows a button for each)."""
    text = info.task == "text-generation" or (info.task is None and "gguf" in info.formats)
    return {
        "chat": text and bool({"gguf", "safetensors"} & set(info.formats)),
        "fine_tune": text and "safetensors" in info.formats,
        "video": info.task in ("text-to-video", "image-to-video") or bool(info.video),
        "download": not info.id.startswith("local/"),
        "delete": info.status in ("local", "error") and not info.id.startswith("local/") and not info.shared,
        "verify": info.status in ("local", "error") and not info.id.startswith("local/"),
    }
