"""Models on this machine: the Hugging Face cache and extra folders of loose GGUF files.

``scan_cache_dir`` walks and stats every file of every repo on each call; a library listing needs
the same facts many times a minute, so ``LocalScanner`` keeps each repo's scan and re-reads a repo
only when one of its folders changed (a handful of ``stat`` calls per repo when warm). Each scan
also checks the files (``integrity.check_file``): a broken one is kept in ``LocalModel.errors`` so
the model is listed with the reason instead of failing the listing.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BrokenFileError, error_from_dict
from .integrity import check_file
from .refs import _SPLIT_RE, LOCAL_ORG, LOCAL_ORGS, gguf_quant

_MODEL_MARKERS = ("config.json", "model_index.json")
_HF_REPO_PREFIXES = ("models--", "datasets--", "spaces--")

#: The tool that owns each read-only store, as messages name it.
STORE_TOOLS = {"lmstudio": "LM Studio", "ollama": "Ollama"}


@dataclass
class LocalModel:
    """What is on disk for one model."""

    id: str
    path: Path  # repo storage folder (cache) or the file / folder (extra dirs, stores, imports)
    source: str  # "cache", "folder", "import", or another tool's store: "lmstudio", "ollama"
    size_on_disk: int = 0
    incomplete_bytes: int = 0
    commit: str | None = None  # newest snapshot (the ``main`` ref when present)
    refs: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # files of ``commit``
    snapshot: Path | None = None  # folder that holds ``files``
    last_modified: float = 0.0
    config: dict[str, Any] | None = None  # config.json of the snapshot
    model_index: dict[str, Any] | None = None  # model_index.json (diffusers)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> why it is unusable
    shared: bool = False  # found in a read-only shared folder (``shared_model_dirs``): never written or deleted
    #: Files whose bytes lie elsewhere than ``snapshot / name`` (an Ollama blob named by its digest)
    paths: dict[str, Path] = field(default_factory=dict)
    #: file -> the sha256 its store names it by (Ollama's layer digest), for verify
    digests: dict[str, str] = field(default_factory=dict)
    gguf_meta: dict[str, Any] | None = None  # GGUF header facts when the scan read them (stores)
    #: Imports only: True when the bytes were checked against a given sha256, False when not
    verified: bool | None = None

    @property
    def read_only(self) -> bool:
        """Another tool's store owns the files: the studio lists and loads them, never deletes."""
        return self.source in ("lmstudio", "ollama")

    @property
    def error(self) -> dict[str, Any] | None:
        """Why the model cannot be used (the first broken file's error), or None."""
        return self.errors[min(self.errors)] if self.errors else None

    def check(self, files: list[str] | None = None) -> None:
        """Raise ``BrokenFileError`` when one of ``files`` (default: all) was found broken."""
        broken = sorted(set(self.errors) & set(self.files if files is None else files))
        if broken:
            raise error_from_dict(self.errors[broken[0]])

    @property
    def formats(self) -> list[str]:
        out = []
        if any(f.endswith(".gguf") for f in self.files):
            out.append("gguf")
        if self.model_index is not None:
            out.append("diffusers")
        elif any(f.endswith(".safetensors") for f in self.files):
            out.append("safetensors")
        elif any(f.endswith((".bin", ".pt")) for f in self.files):
            out.append("pytorch")
        return out

    @property
    def quantizations(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for f in self.files:
            q = gguf_quant(f)
            if q and "mmproj" not in f.lower():
                groups.setdefault(q, []).append(f)
        return groups

    def file_path(self, name: str) -> Path:
        if name in self.paths:
            return self.paths[name]
        assert self.snapshot is not None
        return self.snapshot / name


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def scan_repo_folder(storage: Path) -> LocalModel | None:
    """Read one ``models--org--name`` folder of the cache; None if it holds no snapshot."""
    name = storage.name
    if not name.startswith("models--"):
        return None
    repo_id = name[len("models--"):].replace("--", "/", 1)
    refs: dict[str, str] = {}
    refs_dir = storage / "refs"
    if refs_dir.is_dir():
        for root, _dirs, files in os.walk(refs_dir):
            for fname in files:
                ref_path = Path(root) / fname
                try:
                    refs[ref_path.relative_to(refs_dir).as_posix()] = ref_path.read_text().strip()
                except OSError:
                    continue
    snapshots_dir = storage / "snapshots"
    commits = []
    if snapshots_dir.is_dir():
        commits = [e for e in os.scandir(snapshots_dir) if e.is_dir(follow_symlinks=False)]
    if not commits:
        return None
    chosen = refs.get("main")
    entry = next((c for c in commits if c.name == chosen), None)
    if entry is None:
        entry = max(commits, key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns)
    snapshot = Path(entry.path)
    files = []
    for root, _dirs, fnames in os.walk(snapshot):
        for fname in fnames:
            files.append((Path(root) / fname).relative_to(snapshot).as_posix())
    size, incomplete, newest = 0, 0, 0.0
    blobs = storage / "blobs"
    if blobs.is_dir():
        for blob in os.scandir(blobs):
            try:
                st = blob.stat(follow_symlinks=False)
            except OSError:
                continue
            if blob.name.endswith(".incomplete"):
                incomplete += st.st_size
            else:
                size += st.st_size
            newest = max(newest, st.st_mtime)
    model = LocalModel(
        id=repo_id, path=storage, source="cache", size_on_disk=size, incomplete_bytes=incomplete,
        commit=entry.name, refs=refs, files=sorted(files), snapshot=snapshot, last_modified=newest,
    )
    if "config.json" in files:
        model.config = _read_json(snapshot / "config.json")
    if "model_index.json" in files:
        model.model_index = _read_json(snapshot / "model_index.json")
    model.errors = check_files(model)
    return model


def _signature(storage: str) -> tuple:
    """What changes when a repo folder changes, in three ``stat`` calls (this runs for every repo
    on every listing): a new blob changes ``blobs/``, a new revision ``snapshots/``, a moved branch
    ``refs/main``. A file linked into an existing snapshot from an existing blob (identical files in
    one repo) is not seen until something else changes; this engine's own downloads invalidate
    explicitly."""
    return (_smtime(storage + "/blobs"), _smtime(storage + "/snapshots"), _smtime(storage + "/refs/main"))


def _smtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def scan_extra_folder(folder: Path, max_depth: int = 3) -> list[LocalModel]:
    """Loose ``*.gguf`` files and model folders (with config.json) under ``folder``."""
    out: list[LocalModel] = []
    if not folder.is_dir():
        return out
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        depth = len(here.parts) - base_depth
        # Hugging Face cache repos (``models--org--name``) are read as repos, not as loose folders.
        dirs[:] = [d for d in dirs if not d.startswith((".", *_HF_REPO_PREFIXES)) and d != "__pycache__"] \
            if depth < max_depth else []
        if here != folder and any(m in files for m in _MODEL_MARKERS):
            out.append(folder_model(here, f"{LOCAL_ORG}/{_local_name(here.name)}"))
            dirs[:] = []
            continue
        # Quantizations (and split parts) of one model in one folder are one local model:
        # ``SmolLM2-135M-Instruct.Q4_1.gguf`` is ``local/SmolLM2-135M-Instruct`` with variant Q4_1.
        groups: dict[str, list[str]] = {}
        for fname in sorted(files):
            if fname.lower().endswith(".gguf") and "mmproj" not in fname.lower():
                groups.setdefault(gguf_base_name(fname), []).append(fname)
        for base, names in groups.items():
            out.append(gguf_model(here, names, f"{LOCAL_ORG}/{_local_name(base)}"))
    return out


def folder_model(here: Path, model_id: str, source: str = "folder") -> LocalModel:
    """A model folder (config.json or model_index.json with its weights) as one local model."""
    model_files = []
    size = 0
    for sub_root, _d, sub_files in os.walk(here):
        for fname in sub_files:
            p = Path(sub_root) / fname
            model_files.append(p.relative_to(here).as_posix())
            size += _file_size(p)
    m = LocalModel(id=model_id, path=here, source=source, size_on_disk=size, files=sorted(model_files),
                   snapshot=here, last_modified=_mtime(here) / 1e9)
    m.config = _read_json(here / "config.json") if "config.json" in model_files else None
    m.model_index = _read_json(here / "model_index.json") if "model_index.json" in model_files else None
    m.errors = check_files(m)
    return m


def gguf_model(here: Path, names: list[str], model_id: str, source: str = "folder") -> LocalModel:
    """GGUF files of one folder (quantizations and split parts of one model) as one local model."""
    # lstat: a link to a missing file is still listed (with its error), not a crash
    stats = [(here / n).lstat() for n in names]
    m = LocalModel(
        id=model_id, path=here / names[0] if len(names) == 1 else here, source=source,
        size_on_disk=sum(_file_size(here / n) for n in names), files=list(names), snapshot=here,
        last_modified=max(st.st_mtime for st in stats),
    )
    m.errors = check_files(m)
    return m


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# Integrity ---------------------------------------------------------------------------------------


def check_files(model: LocalModel) -> dict[str, dict[str, Any]]:
    """Each unusable file of ``model`` with its ``BrokenFileError`` (as a dict): links to nothing,
    unreadable files, and GGUF / safetensors files that are empty or cut short."""
    if model.source == "cache":
        steps = [f"Delete it and download it again: engine.library.delete({model.id!r}), then "
                 f"engine.downloads.start({model.id!r})"]
    elif model.read_only:
        steps = [f"Repair or pull it again with {STORE_TOOLS[model.source]}, which owns the file"]
    else:
        steps = ["Delete the file or replace it with a complete copy (download it again)"]
    errors: dict[str, dict[str, Any]] = {}
    for name in model.files:
        try:
            check_file(model.file_path(name), model=model.id)
        except BrokenFileError as exc:
            exc.resolution_steps = steps
            errors[name] = exc.to_dict()["error"]
    return errors


def gguf_base_name(filename: str) -> str:
    """The model name of a GGUF file without its quantization and split suffix."""
    stem = _SPLIT_RE.sub("", filename)
    stem = stem[:-5] if stem.lower().endswith(".gguf") else stem
    quant = gguf_quant(filename)
    if quant:
        idx = stem.upper().rfind(quant)
        if idx > 0:
            stem = stem[:idx]
    return stem.rstrip("._-") or filename


def _local_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-.")
    return cleaned or "model"


class LocalScanner:
    """Cached view of the local models; thread-safe.

    ``shared``: read-only folders mounted for every user (a JupyterHub-wide Hugging Face cache and/or
    loose GGUF files). Their models come after the user's own cache and folders (a model the user
    downloaded too is the user's copy) and carry ``shared=True``. Scanning them only reads
    (``scandir``, ``stat``, JSON and file headers): nothing is created there, not even a lock file.
    """

    def __init__(self, cache: Path, folders: list[Path], shared: list[Path] | None = None,
                 stores: list[tuple[str, Path]] | None = None, imports_file: Path | None = None) -> None:
        self.cache = Path(cache)
        self.folders = [Path(f) for f in folders]
        self.shared = [Path(f) for f in shared or []]
        #: Other tools' stores, ``[("lmstudio" | "ollama", folder)]`` (``core.stores.store_roots``)
        self.stores = list(stores or [])
        #: The registry of models imported by path or URL (``core.imports``)
        self.imports_file = imports_file
        self._lock = threading.Lock()
        self._repos: dict[str, tuple[tuple, LocalModel | None]] = {}
        self._folders: dict[Path, tuple[int, list[LocalModel]]] = {}
        self._shared_repos: dict[str, tuple[tuple, LocalModel | None]] = {}  # storage path -> scan
        self._stores: dict[tuple[str, Path], tuple[tuple, list[LocalModel]]] = {}
        self._imports: tuple[int, list[LocalModel]] | None = None

    def invalidate(self, repo_id: str | None = None) -> None:
        with self._lock:
            if repo_id is None:
                self._repos.clear()
                self._folders.clear()
                self._stores.clear()
                self._imports = None
            else:
                self._repos.pop("models--" + repo_id.replace("/", "--"), None)

    def _shared_repo(self, storage: Path) -> LocalModel | None:
        """One ``models--org--name`` folder of a shared cache, scanned when it changed."""
        sig = _signature(str(storage))
        with self._lock:
            cached = self._shared_repos.get(str(storage))
        if cached is not None and cached[0] == sig:
            return cached[1]
        model = scan_repo_folder(storage)
        if model is not None:
            model.shared = True
        with self._lock:
            self._shared_repos[str(storage)] = (sig, model)
        return model

    def _shared_models(self) -> list[LocalModel]:
        out: list[LocalModel] = []
        for folder in self.shared:
            if not folder.is_dir():
                continue
            with os.scandir(folder) as it:
                names = sorted(e.name for e in it if e.name.startswith("models--") and e.is_dir())
            for name in names:
                model = self._shared_repo(folder / name)
                if model is not None:
                    out.append(model)
            for model in self._folder_models(folder):
                model.shared = True
                out.append(model)
        return out

    def models(self) -> list[LocalModel]:
        out: list[LocalModel] = []
        if self.cache.is_dir():
            with os.scandir(self.cache) as it:
                names = [e.name for e in it if e.name.startswith("models--") and e.is_dir()]
            with self._lock:
                for gone in set(self._repos) - set(names):
                    del self._repos[gone]
            base = str(self.cache)
            for name in names:
                sig = _signature(f"{base}/{name}")
                with self._lock:
                    cached = self._repos.get(name)
                if cached is not None and cached[0] == sig:
                    model = cached[1]
                else:
                    model = scan_repo_folder(self.cache / name)
                    with self._lock:
                        self._repos[name] = (sig, model)
                if model is not None:
                    out.append(model)
        seen = {m.id for m in out}
        extra = [m for folder in self.folders for m in self._folder_models(folder)]
        extra += self._import_models()
        extra += [m for store, root in self.stores for m in self._store_models(store, root)]
        extra += self._shared_models()  # last: a model the user has too is the user's copy
        for model in extra:
            if model.id not in seen:
                seen.add(model.id)
                out.append(model)
        return out

    def _store_models(self, store: str, root: Path) -> list[LocalModel]:
        from .stores import scan_store, store_signature

        sig = store_signature(store, root)
        with self._lock:
            cached = self._stores.get((store, root))
        if cached is not None and cached[0] == sig:
            return cached[1]
        models = scan_store(store, root)
        with self._lock:
            self._stores[(store, root)] = (sig, models)
        return models

    def _import_models(self) -> list[LocalModel]:
        if self.imports_file is None:
            return []
        from .imports import scan_imports

        sig = _mtime(self.imports_file)
        with self._lock:
            cached = self._imports
        if cached is not None and cached[0] == sig:
            return cached[1]
        models = scan_imports(self.imports_file)
        with self._lock:
            self._imports = (sig, models)
        return models

    def _folder_models(self, folder: Path) -> list[LocalModel]:
        # Folders are small and user-managed: rescan when the top folder's mtime changes.
        sig = _mtime(folder)
        with self._lock:
            cached = self._folders.get(folder)
        if cached is not None and cached[0] == sig:
            return cached[1]
        models = scan_extra_folder(folder)
        with self._lock:
            self._folders[folder] = (sig, models)
        return models

    def get(self, model_id: str) -> LocalModel | None:
        if model_id.split("/", 1)[0] in LOCAL_ORGS:
            return next((m for m in self.models() if m.id == model_id), None)
        storage = self.cache / ("models--" + model_id.replace("/", "--"))
        if not storage.is_dir():
            return self._shared_get(storage.name)
        sig = _signature(str(storage))
        with self._lock:
            cached = self._repos.get(storage.name)
        if cached is not None and cached[0] == sig:
            return cached[1] if cached[1] is not None else self._shared_get(storage.name)
        model = scan_repo_folder(storage)
        with self._lock:
            self._repos[storage.name] = (sig, model)
        return model if model is not None else self._shared_get(storage.name)

    def _shared_get(self, name: str) -> LocalModel | None:
        """The repo folder ``name`` in the first shared cache that holds a snapshot of it."""
        for folder in self.shared:
            if (folder / name).is_dir():
                model = self._shared_repo(folder / name)
                if model is not None:
                    return model
        return None
