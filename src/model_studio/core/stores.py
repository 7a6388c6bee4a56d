"""Other tools' model stores, read without copying: LM Studio's models folder and Ollama's blobs.

- LM Studio keeps Hugging Face's layout, ``<models>/<publisher>/<model>/<file>.gguf`` (its docs,
  "Import Models"); the folder is ``~/.lmstudio/models`` (``~/.cache/lm-studio/models`` before 0.3)
  or one the user picked in its My Models tab. Where LM Studio records that choice is not
  documented, so a picked folder is the ``lmstudio_models_dir`` setting here.
- Ollama (``server/internal/manifest``, ``modelpath.go``) keeps ``<models>/manifests/<registry>/
  <namespace>/<model>/<tag>``, a JSON manifest whose layers name blobs by digest; the layer of
  media type ``application/vnd.ollama.image.model`` is the GGUF, stored as
  ``<models>/blobs/sha256-<hex>``. ``<models>`` is ``$OLLAMA_MODELS``, ``~/.ollama/models``, or
  ``/usr/share/ollama/.ollama/models`` for the Linux service.

Both are listed as ``lmstudio/<name>`` and ``ollama/<name>:<tag>``: local, read-only models that
load like any GGUF. ``store_files`` lists every store's model files with paths and sizes (for the
disk-use view).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, NotFoundError
from .local import LocalModel, _file_size, _local_name, check_files, scan_extra_folder
from .refs import LMSTUDIO_ORG, OLLAMA_ORG

if TYPE_CHECKING:
    from ..config import Settings
    from .local import LocalScanner

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_REGISTRY = "registry.ollama.ai"
LMSTUDIO_DEFAULTS = ("~/.lmstudio/models", "~/.cache/lm-studio/models")
OLLAMA_DEFAULTS = ("~/.ollama/models", "/usr/share/ollama/.ollama/models")


def lmstudio_folders(settings: Settings) -> list[Path]:
    """LM Studio's models folders that exist: the configured one, else the defaults ([] when off)."""
    if not settings.scan_lmstudio:
        return []
    wanted = [settings.lmstudio_models_dir] if settings.lmstudio_models_dir else list(LMSTUDIO_DEFAULTS)
    return _existing(wanted)


def ollama_folders(settings: Settings) -> list[Path]:
    """Ollama's models folders that exist: ``ollama_models_dir`` (``OLLAMA_MODELS``), else the defaults."""
    if not settings.scan_ollama:
        return []
    wanted = [settings.ollama_models_dir] if settings.ollama_models_dir else list(OLLAMA_DEFAULTS)
    return [p for p in _existing(wanted) if (p / "manifests").is_dir()]


def store_roots(settings: Settings) -> list[tuple[str, Path]]:
    """``[(store, folder)]`` scanned for models: ``("lmstudio", ...)`` and ``("ollama", ...)``."""
    return ([("lmstudio", p) for p in lmstudio_folders(settings)]
            + [("ollama", p) for p in ollama_folders(settings)])


def _existing(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        try:
            path = Path(raw).expanduser()
            if path.is_dir() and path not in out:
                out.append(path)
        except (OSError, RuntimeError):  # unreadable, or "~" without a home
            continue
    return out


def scan_store(store: str, root: Path) -> list[LocalModel]:
    return scan_lmstudio(root) if store == "lmstudio" else scan_ollama(root)


def store_signature(store: str, root: Path) -> tuple:
    """What changes when a store changes: the mtimes of its folders two levels down (LM Studio's
    ``publisher/model``) or of Ollama's manifest tree and blobs folder; a few dozen ``stat`` calls."""
    top = root / "manifests" if store == "ollama" else root
    sig: list[tuple[str, int]] = []
    for base, dirs, _files in os.walk(top):
        depth = len(Path(base).relative_to(top).parts)
        if depth >= (4 if store == "ollama" else 2):
            dirs[:] = []
        sig.append((base, _mtime(base)))
    if store == "ollama":
        sig.append(("blobs", _mtime(str(root / "blobs"))))
    return tuple(sig)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


# LM Studio ---------------------------------------------------------------------------------------


def scan_lmstudio(root: Path) -> list[LocalModel]:
    """GGUF files and model folders under ``<publisher>/<model>/`` as ``lmstudio/<name>`` models."""
    out = []
    for m in scan_extra_folder(root, max_depth=3):
        m.id = f"{LMSTUDIO_ORG}/{m.id.split('/', 1)[1]}"
        m.source = "lmstudio"
        m.errors = check_files(m)  # again: the resolution steps name the owning tool
        out.append(m)
    return out


# Ollama ------------------------------------------------------------------------------------------


@dataclass
class OllamaManifest:
    """One ``manifests/<registry>/<namespace>/<model>/<tag>`` file and its GGUF layer."""

    path: Path
    registry: str
    namespace: str
    model: str
    tag: str
    digest: str  # sha256 hex of the model layer
    size: int  # bytes the manifest declares for it

    @property
    def model_id(self) -> str:
        """``ollama/<model>:<tag>``; another namespace is a prefix (``ollama/<namespace>.<model>``)."""
        name = self.model if self.namespace == "library" else f"{self.namespace}.{self.model}"
        return f"{OLLAMA_ORG}/{_local_name(name)}:{self.tag}"


def ollama_manifests(root: Path) -> list[OllamaManifest]:
    """Every manifest of ``root`` that names a GGUF model layer (others, e.g. safetensors tensors, are skipped)."""
    out = []
    manifests = root / "manifests"
    for path in sorted(manifests.glob("*/*/*/*")):
        if not path.is_file():
            continue
        registry, namespace, model, tag = path.relative_to(manifests).parts
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            layer = next(x for x in data.get("layers") or [] if x.get("mediaType") == OLLAMA_MODEL_LAYER)
            algo, _, hexdigest = str(layer["digest"]).partition(":")
        except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
            continue
        if algo != "sha256" or len(hexdigest) != 64:
            continue
        out.append(OllamaManifest(path, registry, namespace, model, tag, hexdigest.lower(),
                                  int(layer.get("size") or 0)))
    return out


def ollama_blob(root: Path, digest: str) -> Path:
    return root / "blobs" / f"sha256-{digest}"


def scan_ollama(root: Path) -> list[LocalModel]:
    """Each manifest's GGUF blob as ``ollama/<model>:<tag>``, its quantization from the GGUF header."""
    from .fit import gguf_metadata

    out = []
    for man in ollama_manifests(root):
        blob = ollama_blob(root, man.digest)
        meta: dict[str, Any] | None = None
        try:
            meta = gguf_metadata(blob)
        except Exception:  # listed with check_files' reason below, never fails the listing
            meta = None
        quant = _file_type_name((meta or {}).get("file_type"))
        display = man.model_id.split("/", 1)[1].replace(":", "-")
        fname = f"{display}.{quant}.gguf" if quant else f"{display}.gguf"
        try:
            st = blob.lstat()
            size, mtime = (blob.stat().st_size if blob.exists() else 0), st.st_mtime
        except OSError:
            size, mtime = 0, 0.0
        m = LocalModel(id=man.model_id, path=blob, source="ollama", size_on_disk=size, files=[fname],
                       snapshot=root / "blobs", last_modified=max(mtime, man.path.stat().st_mtime),
                       paths={fname: blob}, digests={fname: man.digest}, gguf_meta=meta)
        m.errors = check_files(m)
        out.append(m)
    return out


def _file_type_name(value: Any) -> str | None:
    """``general.file_type`` (llama.cpp's ``LlamaFileType``) as a quantization name: 3 -> ``Q4_1``."""
    if value is None:
        return None
    try:
        from gguf import LlamaFileType

        name = LlamaFileType(int(value)).name
    except (ImportError, ValueError, TypeError):
        return None
    for prefix in ("MOSTLY_", "ALL_"):
        name = name.removeprefix(prefix)
    return name if name != "GUESSED" else None


# Verify ------------------------------------------------------------------------------------------


def verify_digests(model: LocalModel, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Hash each file of a store model that its store names by sha256 (Ollama's blobs), streaming.

    ``progress(done_bytes, total_bytes)`` is called as it goes. Returns ``{"model", "ok", "checked",
    "mismatches": [...], "algorithm"}``; a mismatch raises ``IntegrityError`` carrying the same facts.
    """
    if not model.digests:
        raise NotFoundError(f"{model.id} has no digests to verify against", details={"model": model.id})
    total = sum(_file_size(model.file_path(f)) for f in model.digests)
    done = 0
    mismatches = []
    for name, expected in sorted(model.digests.items()):
        path = model.file_path(name)
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(8 << 20):
                h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if h.hexdigest() != expected:
            mismatches.append({"path": str(path), "expected": expected, "actual": h.hexdigest(),
                               "algorithm": "sha256"})
    out = {"model": model.id, "ok": not mismatches, "checked": len(model.digests), "mismatches": mismatches,
           "algorithm": "sha256", "bytes": total}
    if mismatches:
        first = mismatches[0]
        raise IntegrityError(
            f"{model.id}: {first['path']} does not match its digest (expected sha256 {first['expected']}, "
            f"got {first['actual']})", details=out,
            resolution_steps=[f"Pull it again with Ollama: ollama pull {model.id.split('/', 1)[1]}"])
    return out


# Disk use ----------------------------------------------------------------------------------------


@dataclass
class StoreFile:
    """One model file of a store: where its bytes are (links followed) and how many."""

    model: str
    path: str  # the file as the store names it
    real_path: str  # after symlinks: two names of one file have the same real path
    size: int
    sha256: str | None = None  # when the store names the file by it (Ollama, Hub LFS blobs)


@dataclass
class Store:
    """A place models live: ``hf-cache``, ``folder`` (extra model folders), ``import``, ``lmstudio``, ``ollama``."""

    store: str
    roots: list[str]
    read_only: bool
    files: list[StoreFile] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes": self.bytes}


def store_files(scanner: LocalScanner) -> list[Store]:
    """Every store the library reads and each of its models' files, with paths and sizes (bytes).

    One entry per store kind (``hf-cache``, ``folder``, ``import``, ``lmstudio``, ``ollama``), also
    when it holds nothing; for the disk-use view and duplicate finding (same ``sha256`` or same
    ``real_path`` in two stores).
    """
    stores = {
        "hf-cache": Store("hf-cache", [str(scanner.cache)], False),
        "folder": Store("folder", [str(f) for f in scanner.folders], False),
        "import": Store("import", [str(scanner.imports_file)] if scanner.imports_file else [], False),
        "lmstudio": Store("lmstudio", [str(r) for s, r in scanner.stores if s == "lmstudio"], True),
        "ollama": Store("ollama", [str(r) for s, r in scanner.stores if s == "ollama"], True),
    }
    for m in scanner.models():
        kind = "hf-cache" if m.source == "cache" else m.source
        target = stores.get(kind)
        if target is None:
            continue
        for name in m.files:
            path = m.file_path(name)
            try:
                real = path.resolve()
                size = real.stat().st_size
            except (OSError, RuntimeError):
                continue
            sha = m.digests.get(name)
            if sha is None and m.source == "cache" and len(real.name) == 64:
                sha = real.name  # an LFS blob of the Hub cache is named by its sha256
            target.files.append(StoreFile(m.id, str(path), str(real), size, sha))
    return list(stores.values())
