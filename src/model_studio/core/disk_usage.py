"""One view of disk use: what each model store holds, what is duplicated across them, what could be freed.

Internal logic of ``DiskUsage.report``:

1. list every store (``stores()``): the Hugging Face cache, the studio's own folders, the extra model
   folders and other tools' stores; a store is a small ``Store`` (name, root, owned, files); other
   stores plug in with ``register_store_provider`` (LM Studio, Ollama);
2. walk each store once (symbolic links are not followed: the HF cache's snapshots link to its
   blobs, so the blobs are the bytes), counting bytes per store and noting partial downloads;
3. find duplicates: only files of equal size are hashed (sha256), hard links (same inode) are one
   copy, an HF blob named by its sha256 is not read, and each hash is cached in ``state.sqlite`` by
   (path, size, mtime) so a second run reads nothing again;
4. add what could be freed: the studio's own extra copies, partial downloads no job is writing,
   leftovers of failed, cancelled or interrupted jobs, and old video outputs (the job center's
   clean-up does the deleting).

``free`` deletes only what the studio owns: a copy in another tool's store, an extra model folder or
the shared HF cache is never touched (the HF cache's models are deleted from the library).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, NotFoundError, ValidationError
from .job_center import _tree_bytes
from .jobs import ACTIVE, JobState
from .jobs.store import connect

if TYPE_CHECKING:
    from . import Engine

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PARTIAL_SUFFIXES = (".incomplete", ".part", ".partial")
#: Files below this many bytes are not hashed for duplicates by default (configs, tokenizers).
MIN_DUPLICATE_BYTES = 1 << 20
#: Video outputs older than this many days count as "old" (freeable).
OLD_VIDEO_DAYS = 30.0
_SCHEMA = "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"


@dataclass(frozen=True)
class Store:
    """A folder of model files. ``owned``: the studio made these files and may delete them;
    ``kind``: hf_cache, studio, extra, lmstudio, ollama (or a plug-in's own)."""

    name: str
    label: str
    root: Path
    kind: str
    owned: bool

    def files(self) -> Iterator[os.DirEntry[str]]:
        """Every regular file below the root, links not followed."""
        stack = [str(self.root)]
        while stack:
            try:
                with os.scandir(stack.pop()) as it:
                    for entry in it:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            yield entry
            except OSError:  # vanished or unreadable: counted as empty
                continue


StoreProvider = Callable[["Engine"], list[Store]]
_PROVIDERS: list[StoreProvider] = []


def register_store_provider(provider: StoreProvider) -> None:
    """Add stores to the disk view (e.g. LM Studio's and Ollama's, found where they exist)."""
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def unregister_store_provider(provider: StoreProvider) -> None:
    if provider in _PROVIDERS:
        _PROVIDERS.remove(provider)


def _builtin_stores(eng: Engine) -> list[Store]:
    s = eng.settings
    home = s.home_path
    stores = [Store("hf-cache", "Hugging Face cache", s.cache_path, "hf_cache", False)]
    for name, label, folder in (("models", "Studio models", home / "models"), ("bases", "Training bases", home / "bases"),
                                ("runs", "Training runs", home / "runs"), ("videos", "Video outputs", home / "outputs"),
                                ("datasets", "Datasets", home / "datasets"), ("batches", "Batches", home / "batches")):
        stores.append(Store(f"studio-{name}", label, folder, "studio", True))
    for folder in s.model_dirs():
        stores.append(Store(f"extra:{folder}", f"Model folder {folder.name}", folder, "extra", False))
    return stores


def _other_tools(eng: Engine) -> list[Store]:
    """LM Studio's and Ollama's model folders the library scans (``core.stores.store_roots``: the
    settings, ``OLLAMA_MODELS`` and the defaults, where they exist), and the shared read-only folders
    (``shared_model_dirs``): read, never freed, by the studio."""
    from .stores import store_roots

    labels = {"lmstudio": "LM Studio", "ollama": "Ollama"}
    found: list[Store] = []
    for name, folder in store_roots(eng.settings):
        if not any(st.root == folder for st in found):
            found.append(Store(f"{name}:{folder}", labels.get(name, name), folder, name, False))
    for folder in eng.settings.shared_dirs():
        found.append(Store(f"shared:{folder}", f"Shared models {folder.name}", folder, "shared", False))
    return found


register_store_provider(_other_tools)


@dataclass
class _File:
    store: Store
    path: str
    size: int
    mtime_ns: int
    inode: tuple[int, int]


class DiskUsage:
    """``report()`` (sizes, duplicates, what could be freed) and ``free()`` for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.engine.settings.state_db)
            conn.execute(_SCHEMA)
        return conn

    def stores(self) -> list[Store]:
        """Every store: built-in ones first, then those of providers, each root once."""
        out: list[Store] = []
        seen: set[str] = set()
        for provider in (_builtin_stores, *_PROVIDERS):
            try:
                found = provider(self.engine)
            except Exception:  # a broken plug-in must not hide the rest
                continue
            for st in found:
                key = os.path.realpath(st.root)
                if key not in seen:
                    seen.add(key)
                    out.append(st)
        return out

    # 1-2. Walking -------------------------------------------------------------------------------

    def _walk(self, stores: list[Store]) -> tuple[list[dict[str, Any]], list[_File], list[_File]]:
        summaries: list[dict[str, Any]] = []
        files: list[_File] = []
        partial: list[_File] = []
        for st in stores:
            count = total = 0
            inodes: set[tuple[int, int]] = set()
            for entry in st.files():
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                f = _File(st, entry.path, info.st_size, info.st_mtime_ns, (info.st_dev, info.st_ino))
                count += 1
                total += info.st_size if f.inode not in inodes else 0  # hard links: the bytes once
                inodes.add(f.inode)
                (partial if entry.name.endswith(PARTIAL_SUFFIXES) else files).append(f)
            summaries.append({"name": st.name, "label": st.label, "root": str(st.root), "kind": st.kind,
                              "owned": st.owned, "exists": st.root.is_dir(), "files": count, "bytes": total})
        return summaries, files, partial

    # 3. Duplicates ------------------------------------------------------------------------------

    def sha256(self, f: _File) -> str:
        """The file's sha256: its HF blob name when that is one, else the cache, else read once."""
        name = os.path.basename(f.path)
        if f.store.kind == "hf_cache" and _SHA256.match(name):
            return name
        conn = self._conn()
        row = conn.execute("SELECT size, mtime_ns, sha256 FROM file_hashes WHERE path = ?", (f.path,)).fetchone()
        if row is not None and row[0] == f.size and row[1] == f.mtime_ns:
            return str(row[2])
        digest = hashlib.sha256()
        with open(f.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        conn.execute("INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?, ?, ?, ?)",
                     (f.path, f.size, f.mtime_ns, value))
        return value

    def _duplicates(self, files: list[_File], min_size: int) -> list[dict[str, Any]]:
        by_size: dict[int, list[_File]] = {}
        for f in files:
            if f.size >= max(1, min_size):
                by_size.setdefault(f.size, []).append(f)
        groups: dict[str, list[_File]] = {}
        for same in by_size.values():
            if len({f.inode for f in same}) < 2:  # one file, or hard links to one: no extra bytes
                continue
            for f in same:
                try:
                    groups.setdefault(self.sha256(f), []).append(f)
                except OSError:
                    continue
        out = []
        for digest, copies in groups.items():
            inodes = {f.inode for f in copies}
            if len(inodes) < 2:
                continue
            size = copies[0].size
            out.append({"sha256": digest, "size": size, "copies": [
                {"store": f.store.name, "store_label": f.store.label, "path": f.path, "owned": f.store.owned,
                 "freeable": self._freeable(f, copies)} for f in copies],
                "extra_bytes": size * (len(inodes) - 1),
                "freeable_bytes": size * len({f.inode for f in copies if self._freeable(f, copies)})})
        return sorted(out, key=lambda d: (-d["extra_bytes"], d["sha256"]))

    @staticmethod
    def _freeable(f: _File, copies: list[_File]) -> bool:
        """An owned copy may go when another copy stays: one outside the studio, else the first owned one."""
        if not f.store.owned:
            return False
        others = [g for g in copies if g.inode != f.inode]
        if any(not g.store.owned for g in others):
            return True
        keeper = min(copies, key=lambda g: g.path)
        return f.inode != keeper.inode

    # 4. What could be freed ---------------------------------------------------------------------

    def _partials(self, partial: list[_File]) -> dict[str, Any]:
        busy = self._active_downloads()
        entries = [{"path": f.path, "store": f.store.name, "bytes": f.size,
                    "active": any(f.path.startswith(p) for p in busy)} for f in partial]
        return {"bytes": sum(e["bytes"] for e in entries if not e["active"]), "files": entries}

    def _active_downloads(self) -> list[str]:
        roots = []
        for job in self.engine.jobs.list("download", list(ACTIVE), limit=1000):
            repo = str(job.params.get("repo_id") or "")
            if repo:
                roots.append(str(self.engine.settings.cache_path / ("models--" + repo.replace("/", "--"))) + os.sep)
        return roots

    def _leftovers(self) -> dict[str, Any]:
        center = self.engine.job_center
        jobs = []
        states = [JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED]
        for kind in ("train", "video", "batch"):
            for job in self.engine.jobs.list(kind, states, limit=1000):
                size = sum(_tree_bytes(p) for p in center._files(job) if p.exists() and not p.is_symlink())
                if size:
                    jobs.append({"id": job.id, "kind": job.kind, "state": job.state.value, "title": job.title,
                                 "bytes": size})
        return {"bytes": sum(j["bytes"] for j in jobs), "jobs": jobs}

    def _old_videos(self, older_than_days: float) -> dict[str, Any]:
        center = self.engine.job_center
        plan = center.cleanup(older_than_days, kinds=["video"], dry_run=True)
        jobs = []
        for entry in plan["jobs"]:
            job = self.engine.jobs.get(entry["id"])
            size = sum(_tree_bytes(p) for p in center._files(job) if p.exists() and not p.is_symlink())
            jobs.append({**entry, "bytes": size})
        return {"bytes": sum(j["bytes"] for j in jobs), "older_than_days": older_than_days, "jobs": jobs}

    def report(self, *, duplicates: bool = True, min_size: int = MIN_DUPLICATE_BYTES,
               older_than_days: float = OLD_VIDEO_DAYS) -> dict[str, Any]:
        """Bytes per store, duplicates across stores (same sha256) and what could be freed (bytes)."""
        stores = self.stores()
        summaries, files, partial = self._walk(stores)
        dups = self._duplicates(files, min_size) if duplicates else []
        freeable = {"duplicates": sum(d["freeable_bytes"] for d in dups), "partial_downloads": self._partials(partial),
                    "job_leftovers": self._leftovers(), "old_videos": self._old_videos(older_than_days)}
        freeable["total"] = (freeable["duplicates"] + freeable["partial_downloads"]["bytes"]
                             + freeable["job_leftovers"]["bytes"] + freeable["old_videos"]["bytes"])
        return {"stores": summaries, "total_bytes": sum(s["bytes"] for s in summaries), "duplicates": dups,
                "duplicate_bytes": sum(d["extra_bytes"] for d in dups), "freeable": freeable,
                "min_size": min_size}

    # Freeing ------------------------------------------------------------------------------------

    def free(self, what: str, path: str | None = None, *, older_than_days: float = OLD_VIDEO_DAYS) -> dict[str, Any]:
        """Delete what the studio owns: ``duplicate`` (the copy at ``path``, checked again against a
        remaining copy), ``partial_downloads`` (none a running download writes), ``job_leftovers``
        (files of failed, cancelled and interrupted jobs) or ``old_videos``. Returns bytes freed."""
        if what == "duplicate":
            return self._free_duplicate(path)
        if path is not None:
            raise ValidationError("Parameter 'path' only goes with what='duplicate'", details={"parameter": "path"})
        if what == "partial_downloads":
            _, _, partial = self._walk([s for s in self.stores() if s.kind == "hf_cache"])
            plan = self._partials(partial)
            freed = 0
            for entry in plan["files"]:
                if not entry["active"]:
                    Path(entry["path"]).unlink(missing_ok=True)
                    freed += entry["bytes"]
            return {"what": what, "bytes_freed": freed, "files": [e["path"] for e in plan["files"] if not e["active"]]}
        if what == "job_leftovers":
            freed, ids = 0, []
            for job in self._leftovers()["jobs"]:
                freed += self.engine.job_center.delete(job["id"], delete_files=True)["bytes_freed"]
                ids.append(job["id"])
            return {"what": what, "bytes_freed": freed, "jobs": ids}
        if what == "old_videos":
            done = self.engine.job_center.cleanup(older_than_days, kinds=["video"], delete_files=True)
            return {"what": what, "bytes_freed": done["bytes_freed"], "jobs": [j["id"] for j in done["jobs"]]}
        raise ValidationError(f"Parameter 'what' must be one of {', '.join(FREE_CHOICES)}, got {str(what)[:40]!r}",
                              details={"parameter": "what", "choices": list(FREE_CHOICES)})

    def _free_duplicate(self, path: str | None) -> dict[str, Any]:
        if not path:
            raise ValidationError("Give the path of the copy to delete", details={"parameter": "path"})
        target = os.path.abspath(path)
        stores = self.stores()
        owner = next((s for s in stores if _inside(target, s.root)), None)
        if owner is None or not os.path.isfile(target) or os.path.islink(target):
            raise NotFoundError(f"No file of a model store at {path}", details={"path": path})
        if not owner.owned:
            raise ConflictError(f"{path} is in {owner.label} ({owner.root}), which the studio does not own; "
                                "it deletes only its own copies", details={"path": path, "store": owner.name},
                                resolution_steps=[f"Delete it with the tool that owns {owner.root}",
                                                  "Or delete the model from the studio's library"])
        _, files, _ = self._walk(stores)
        size = os.path.getsize(target)
        groups = self._duplicates([f for f in files if f.size == size], 0)
        group = next((d for d in groups if any(c["path"] == target for c in d["copies"])), None)
        copy = next((c for c in group["copies"] if c["path"] == target), None) if group else None
        if group is None or copy is None or not copy["freeable"]:
            raise ConflictError(f"{path} has no other copy to keep; deleting it would lose the file",
                                details={"path": path})
        Path(target).unlink()
        self._conn().execute("DELETE FROM file_hashes WHERE path = ?", (target,))
        kept = [c["path"] for c in group["copies"] if c["path"] != target]
        return {"what": "duplicate", "bytes_freed": group["size"], "deleted": target, "kept": kept,
                "sha256": group["sha256"]}


FREE_CHOICES = ("duplicate", "partial_downloads", "job_leftovers", "old_videos")


def _inside(path: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root
