"""Importing models: a GGUF file or a safetensors folder by path, or a ``.gguf`` by URL.

A path import adds the file or folder to a registry in the studio home (``imports.json``) and it
is listed as ``local/<name>`` where it lies, nothing copied, unless ``copy=True`` (then it is copied
into ``<home>/models`` first, through a temporary name and a rename, so a half copy is never
listed). A URL import is a job of kind ``import`` on the download lane: the same resumable
transfer as Hub downloads (``downloads.transfer``: Range resume, retries, stall watchdog),
verified against a given sha256 before the file becomes visible; without one the model is listed
as ``verified: False`` ("unverified") and the sha256 of what arrived is recorded.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from filelock import FileLock

from ..config import Settings
from ..errors import ConflictError, DiskSpaceError, NetworkError, NotFoundError, ValidationError
from .downloads.cache import fmt_bytes
from .downloads.progress import ProgressTracker
from .downloads.transfer import Transfer
from .hub import RemoteFile
from .integrity import check_file
from .jobs import Control, Job, JobRunner, JobStore, Progress
from .local import (
    LocalModel,
    LocalScanner,
    _local_name,
    check_files,
    folder_model,
    gguf_base_name,
    gguf_model,
)
from .refs import HEX64, LOCAL_ORG

KIND = "import"
REGISTRY_NAME = "imports.json"


def registry_path(settings: Settings) -> Path:
    return settings.home_path / REGISTRY_NAME


def models_folder(settings: Settings) -> Path:
    """Where copied and downloaded imports live: ``<home>/models``."""
    return settings.home_path / "models"


# The registry ------------------------------------------------------------------------------------


def read_registry(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("models") if isinstance(data, dict) else None
    return [e for e in entries or [] if isinstance(e, dict) and e.get("name") and e.get("path")]


def _update_registry(path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Read, change and write the registry under a file lock, atomically (temporary file, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=30):
        entries = change(read_registry(path))
        fd, tmp = tempfile.mkstemp(prefix=".imports.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"models": entries}, fh, indent=2)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def scan_imports(path: Path) -> list[LocalModel]:
    """The registry's models as ``local/<name>``; a path that went away is listed with its error."""
    out = []
    for entry in read_registry(path):
        target = Path(entry["path"])
        model_id = f"{LOCAL_ORG}/{entry['name']}"
        if entry.get("kind") == "folder":
            m = folder_model(target, model_id, source="import") if target.is_dir() else \
                LocalModel(id=model_id, path=target, source="import", files=["config.json"], snapshot=target)
        else:
            try:
                m = gguf_model(target.parent, [target.name], model_id, source="import")
            except OSError:
                m = LocalModel(id=model_id, path=target, source="import", files=[target.name],
                               snapshot=target.parent)
        if not m.errors:
            m.errors = check_files(m)
        m.verified = entry.get("verified")
        if entry.get("sha256") and m.files:
            m.digests = {m.files[0]: entry["sha256"]} if entry.get("kind") != "folder" else {}
        out.append(m)
    return out


# The service -------------------------------------------------------------------------------------


class ModelImports:
    """Import by path (at once) or by URL (a job on the download lane)."""

    def __init__(self, settings: Settings, store: JobStore, runner: JobRunner, scanner: LocalScanner,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.scanner = scanner
        self._on_change = on_change or (lambda model_id: None)
        self._client = httpx.Client(follow_redirects=True,
                                    timeout=httpx.Timeout(connect=10.0, read=1.0, write=10.0, pool=30.0))
        runner.register(KIND, self._run, lane="download",
                        concurrency=lambda: self.settings.max_concurrent_downloads)
        store.register_resumer(KIND, self.resume)

    @property
    def registry(self) -> Path:
        return registry_path(self.settings)

    # By path -----------------------------------------------------------------------------------

    def import_path(self, path: str | Path, *, name: str | None = None, copy: bool = False) -> str:
        """Add a GGUF file or a model folder (config.json and safetensors) as ``local/<name>``.

        Nothing is copied unless ``copy``; then the bytes go to ``<home>/models`` atomically.
        Returns the model id. Importing the same path again answers the same id.
        """
        src = Path(path).expanduser()
        try:
            found = src.exists()
            src = src.resolve() if found else src
        except OSError as exc:  # a name too long, a loop of links
            raise ValidationError(f"Cannot read {str(src)[:200]}: {exc.strerror}",
                                  details={"path": str(src)[:200]}) from None
        if not found:
            raise NotFoundError(f"{src} does not exist", details={"path": str(src)})
        kind = self._kind_of(src)
        name = self._name(name, given=True) if name else \
            self._name(gguf_base_name(src.name) if kind == "gguf" else src.name)
        model_id = f"{LOCAL_ORG}/{name}"
        for entry in read_registry(self.registry):
            if entry["name"] == name and Path(entry["path"]) == src:
                return model_id
        self._check_free(name)
        target = self._copy(src, kind, name) if copy else src
        self._register({"name": name, "path": str(target), "kind": kind, "source": "path", "copied": copy,
                        "origin": str(src), "verified": None, "sha256": None, "added": time.time()})
        return model_id

    def _kind_of(self, src: Path) -> str:
        if src.is_file():
            if not src.name.lower().endswith(".gguf"):
                raise ValidationError(f"{src.name} is not a GGUF file (.gguf)", details={"path": str(src)},
                                      resolution_steps=["Import a .gguf file or a folder with config.json "
                                                        "and .safetensors weights"])
            check_file(src)  # a cut or empty file is refused now, not at load
            return "gguf"
        names = {p.name for p in src.iterdir()} if src.is_dir() else set()
        if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
            raise ValidationError(f"{src} is not a model folder: it needs config.json and .safetensors weights",
                                  details={"path": str(src), "files": sorted(names)[:50]})
        return "folder"

    def _name(self, raw: str, given: bool = False) -> str:
        """A model name: a given one must already be valid; one taken from a file name is cleaned."""
        name = raw if given else _local_name(raw)
        if len(name) > 96 or not re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$", name) or "--" in name:
            raise ValidationError(f"Invalid model name {raw!r}: letters, digits, '.', '_', '-'",
                                  details={"name": raw})
        return name

    def _check_free(self, name: str) -> None:
        model_id = f"{LOCAL_ORG}/{name}"
        if self.scanner.get(model_id) is not None:
            raise ConflictError(f"{model_id} already exists", details={"model": model_id},
                                resolution_steps=["Give the import another name (name=...)"])

    def _copy(self, src: Path, kind: str, name: str) -> Path:
        """Copy into ``<home>/models`` under a temporary name, then rename: never a half copy listed."""
        dest_dir = models_folder(self.settings)
        dest_dir.mkdir(parents=True, exist_ok=True)
        size = src.stat().st_size if kind == "gguf" else sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
        free = shutil.disk_usage(dest_dir).free
        if size > free:
            raise DiskSpaceError(f"Copying {src.name} needs {fmt_bytes(size)}; {fmt_bytes(free)} free",
                                 details={"needed_bytes": size, "free_bytes": free, "path": str(dest_dir)})
        dest = dest_dir / (src.name if kind == "gguf" else name)
        if dest.exists():
            raise ConflictError(f"{dest} already exists", details={"path": str(dest)})
        tmp = dest_dir / f".{dest.name}.{uuid.uuid4().hex[:8]}.partial"
        try:
            if kind == "gguf":
                shutil.copyfile(src, tmp)
            else:
                shutil.copytree(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            raise
        return dest

    def _register(self, entry: dict[str, Any]) -> None:
        _update_registry(self.registry, lambda entries: [e for e in entries if e["name"] != entry["name"]] + [entry])
        self.scanner.invalidate()
        self._on_change(f"{LOCAL_ORG}/{entry['name']}")

    def forget(self, model: LocalModel) -> dict[str, Any]:
        """Remove an import from the registry; its bytes go too only when the studio copied them."""
        name = model.id.split("/", 1)[1]
        entry = next((e for e in read_registry(self.registry) if e["name"] == name), None)
        if entry is None:
            raise NotFoundError(f"{model.id} is not an import", details={"model": model.id})
        freed = 0
        target = Path(entry["path"])
        if entry.get("copied") and models_folder(self.settings).resolve() in target.resolve().parents:
            freed = model.size_on_disk
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        _update_registry(self.registry, lambda entries: [e for e in entries if e["name"] != name])
        self.scanner.invalidate()
        return {"model": model.id, "freed_bytes": freed, "revisions": [], "deleted": True,
                "files_kept": not entry.get("copied")}

    # By URL ------------------------------------------------------------------------------------

    def import_url(self, url: str, *, sha256: str | None = None, name: str | None = None) -> Job:
        """Queue the download of a ``.gguf`` at ``url`` into ``<home>/models``; returns the Job.

        With ``sha256`` the file is verified before it is listed (a mismatch fails the job and removes
        the partial); without, it is listed as unverified. A stopped import resumes where it was.
        """
        if not isinstance(url, str) or len(url) > 4096:
            raise ValidationError("url must be a string of at most 4096 characters", details={"url": str(url)[:200]})
        parts = urlsplit(url)
        filename = unquote(parts.path.rsplit("/", 1)[-1])
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValidationError(f"Not an HTTPS URL: {url[:200]!r}", details={"url": url[:200]})
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValidationError("Plain http is only accepted from this machine; use https",
                                  details={"url": url[:200]})
        if not filename.lower().endswith(".gguf") or "/" in filename or filename.startswith("."):
            raise ValidationError(f"The URL must name a .gguf file, got {filename[:200]!r}",
                                  details={"url": url[:200]})
        if sha256 is not None:
            sha256 = sha256.strip().lower()
            if not HEX64.match(sha256):
                raise ValidationError("sha256 must be 64 hexadecimal characters", details={"sha256": sha256[:100]})
        name = self._name(name, given=True) if name else self._name(gguf_base_name(filename))
        params = {"url": url, "sha256": sha256, "name": name, "filename": filename}
        found = self.runner.find_or_resume(KIND, lambda job: job.params.get("url") == url
                                           and job.params.get("sha256") == sha256)
        if found is not None:
            return found
        self._check_free(name)
        return self.runner.create(KIND, params, title=f"import {filename}")

    def resume(self, job_id: str) -> Job:
        return self.runner.resume(job_id)

    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        params = job.params
        url, expected = params["url"], params.get("sha256")
        control.progress(Progress(message="asking the server for the size"), force=True)
        size = self._remote_size(url)
        dest_dir = models_folder(self.settings)
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / params["filename"]
        if dest.exists():
            raise ConflictError(f"{dest} already exists", details={"path": str(dest)})
        partial = dest.with_name(dest.name + ".incomplete")
        have = partial.stat().st_size if partial.exists() else 0
        free = shutil.disk_usage(dest_dir).free
        if size - have > free:
            raise DiskSpaceError(f"{params['filename']} needs {fmt_bytes(size - have)}; {fmt_bytes(free)} free",
                                 details={"needed_bytes": size - have, "free_bytes": free})
        # blob_id "" (no git sha1): the transfer hashes sha256 and checks it only when one is given.
        rf = RemoteFile(path=params["filename"], size=size, blob_id="", sha256=expected)
        tracker = ProgressTracker([rf], control.progress)
        transfer = Transfer(self._client, retries=self.settings.download_retries,
                            retry_backoff=self.settings.retry_backoff, stall_timeout=self.settings.stall_timeout)
        actual = transfer.fetch(control, url, {}, url, rf, dest, tracker)
        tracker.message = "verified" if expected else "unverified: no sha256 was given"
        control.last_progress = tracker.snapshot()
        self._register({"name": params["name"], "path": str(dest), "kind": "gguf", "source": "url", "url": url,
                        "copied": True, "verified": bool(expected), "sha256": actual, "added": time.time()})
        return {"model": f"{LOCAL_ORG}/{params['name']}", "path": str(dest), "bytes": size, "sha256": actual,
                "verified": bool(expected), "bytes_transferred": tracker.transferred}

    def _remote_size(self, url: str) -> int:
        try:
            resp = self._client.head(url, headers={"Accept-Encoding": "identity"}, timeout=30.0)
        except httpx.HTTPError as exc:
            raise NetworkError(f"Could not reach {urlsplit(url).hostname}: {exc}", details={"url": url}) from None
        if resp.status_code == 404:
            raise NotFoundError(f"{url} was not found (HTTP 404)", details={"url": url})
        if resp.status_code >= 400:
            raise NetworkError(f"{url} answered HTTP {resp.status_code}", details={"url": url,
                                                                                  "status": resp.status_code})
        raw = resp.headers.get("X-Linked-Size") or resp.headers.get("Content-Length")
        if not raw or not raw.isdigit() or int(raw) <= 0:
            raise NetworkError(f"{url} does not say how large the file is (no Content-Length)",
                               details={"url": url})
        return int(raw)

    def close(self) -> None:
        self.runner.close([KIND], timeout=5.0)
        self._client.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
