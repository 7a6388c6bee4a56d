"""One model: info, delete, verify, memory shape and fit, and which backends are installed (part
of ``core.library``: ``ModelOperations`` is mixed into ``Library``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import (
    ConflictError,
    NetworkError,
    NotFoundError,
    ReadOnlyModelError,
    StudioError,
    ValidationError,
)
from ..fit import FitResult, GpuFree, ModelShape, estimate, gguf_metadata, shape_from_config, shape_from_gguf
from ..hub import HubClient, RemoteRepo
from ..imports import ModelImports
from ..jobs import Job
from ..local import STORE_TOOLS, LocalModel, LocalScanner
from ..quants import default_quant
from ..refs import ModelRef, ensure_within, gguf_quant
from ..stores import verify_digests
from ..system import SystemMonitor
from .records import ModelInfo, Quantization, _backends_for, _license_from_tags, _size

if TYPE_CHECKING:
    from ..jobs import Job
    from .verify import VerifyJobs


class ModelOperations:
    """Inspect, delete, verify and size up one model (a mixin: it uses ``Library``'s attributes and
    the catalog and merge of ``ModelSearch``)."""

    settings: Settings
    hub: HubClient
    system: SystemMonitor
    local: LocalScanner
    _active_downloads: Callable[[], set[str]]
    last_verify: dict[str, dict[str, Any]]
    verifications: VerifyJobs | None
    imports: ModelImports | None

    if TYPE_CHECKING:
        def catalog(self) -> dict[str, dict[str, Any]]: ...
        def _from_catalog(self, entry: dict[str, Any]) -> ModelInfo: ...
        def _from_local(self, m: LocalModel) -> ModelInfo: ...
        def list_local(self) -> list[ModelInfo]: ...
        def _merge(self, local: ModelInfo | None = None, hub: ModelInfo | None = None,
                   catalog: dict[str, Any] | None = None, active: set[str] | None = None) -> ModelInfo: ...

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
        return self._info_from(ref, local, entry, remote)

    def _info_from(self, ref: ModelRef, local: LocalModel | None, entry: dict[str, Any] | None,
                   remote: RemoteRepo | None) -> ModelInfo:
        """``info`` from what was found on disk, in the catalog and on the Hub (``remote``, or None)."""
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
            from ..downloads import quantizations

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
        shared = self.local.get(ref.repo_id)
        if shared is not None and shared.shared:
            raise ReadOnlyModelError(
                f"{ref.repo_id} is in the shared read-only model folder {shared.path.parent}; it is not yours to "
                "delete", details={"model": ref.repo_id, "shared": True, "path": str(shared.path)},
                resolution_steps=["Ask the JupyterHub administrators to remove it from the shared folder",
                                  "Or stop listing that folder: shared_model_dirs (MODEL_STUDIO_SHARED_MODEL_DIRS, "
                                  "c.Settings.shared_model_dirs)"])
        if ref.is_local:
            local = self.local.get(ref.repo_id)
            if local is not None and local.read_only:
                raise _read_only(local)
            if local is not None and local.source == "import" and self.imports is not None:
                if dry_run:
                    return {"model": ref.repo_id, "freed_bytes": 0, "revisions": [], "deleted": False}
                return self.imports.forget(local)
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

    def verify(self, model: str | ModelRef, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Re-check a local model's files against the Hub (sha256 for LFS files, git sha1 otherwise).

        An Ollama model (or an import given a sha256) is hashed against the digest its store names it
        by, streaming, ``progress(done_bytes, total_bytes)`` called as it goes; a mismatch raises
        ``IntegrityError``.

        Returns ``{"model", "ok", "checked", "mismatches": [{path, expected, actual, algorithm}],
        "not_downloaded": [...], "extra": [...]}``; files of the repo that were never downloaded (other
        quantizations) are listed, not counted as failures. ``verify_start`` runs it as a job with
        progress (``core/library/verify.py``).
        """
        ref = ModelRef.coerce(model)
        if ref.is_local:
            local = self.local.get(ref.repo_id)
            if local is None:
                raise NotFoundError(f"{ref.repo_id} is not on this machine", details={"model": ref.repo_id})
            if not local.digests:
                raise ValidationError(f"{ref.repo_id} has no checksums to verify against (only Ollama's blobs "
                                      "and imports given a sha256 have one)", details={"model": ref.repo_id})
            result = verify_digests(local, progress)
            self.last_verify[ref.repo_id] = {**result, "checked_at": time.time()}
            return result
        from .verify import verify_model

        def hub_progress(state: dict[str, Any]) -> None:
            if progress is not None:
                progress(state["bytes_done"], state["bytes_total"])

        return verify_model(self, ref, hub_progress)  # type: ignore[arg-type]  # a mixin of Library

    def verify_start(self, model: str | ModelRef) -> Job:
        """Verify as a job (kind ``verify``): bytes and files done, cancel, listed with the other jobs;
        its result is ``verify()``'s. One per model at a time: starting another returns it."""
        if self.verifications is None:
            raise ConflictError("This library has no job store to run verifications in",
                                details={"model": str(model)})
        return self.verifications.start(model)

    # Import ------------------------------------------------------------------------------------

    def import_model(self, path: str | Path, *, name: str | None = None, copy: bool = False) -> ModelInfo:
        """Add a GGUF file or a safetensors model folder as ``local/<name>``, where it lies (nothing
        copied) unless ``copy`` (then into ``<home>/models``, atomically)."""
        model_id = self._imports().import_path(path, name=name, copy=copy)
        return self.get(model_id)

    def import_url(self, url: str, *, sha256: str | None = None, name: str | None = None) -> Job:
        """Download a ``.gguf`` from any HTTPS server as ``local/<name>`` (a resumable job); verified
        against ``sha256`` when given, listed as unverified when not."""
        return self._imports().import_url(url, sha256=sha256, name=name)

    def _imports(self) -> ModelImports:
        if self.imports is None:
            raise ValidationError("Imports need an engine (model_studio.engine().library)")
        return self.imports

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


def _read_only(local: LocalModel) -> ReadOnlyModelError:
    tool = STORE_TOOLS[local.source]
    name = local.id.split("/", 1)[1]
    how = f"ollama rm {name}" if local.source == "ollama" else "LM Studio's My Models tab"
    return ReadOnlyModelError(
        f"{local.id} belongs to {tool}; the studio reads it but never deletes it", details={
            "model": local.id, "store": local.source, "path": str(local.path)},
        resolution_steps=[f"Delete it with {tool}: {how}",
                          f"Or stop listing {tool}'s models: engine.update_settings({{'scan_{local.source}': False}})"])
