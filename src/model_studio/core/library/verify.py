"""Verify a local model's files against the Hub's checksums, file by file (part of ``core.library``).

huggingface_hub's ``HfApi.verify_repo_checksums`` does the same comparison (its ``verify_maps``), but
as one call with no progress and no way to stop it: a 40 GB model takes minutes to hash. So the
comparison is done here over the same inputs (``list_repo_tree`` for the expected sha256 of LFS files
and the git blob sha1 of the others; the snapshot folder for the local files), hashing each file in
1 MiB blocks so a job can report bytes and files done and stop between two blocks.

``verify_model`` is the one implementation; ``Library.verify`` calls it directly and
``VerifyJobs`` runs it as a job (kind ``verify``) with progress, for the model page and the job center.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError, ValidationError
from ..jobs import Control, Job, JobRunner, JobStore, Progress
from ..refs import ModelRef, ensure_within

if TYPE_CHECKING:
    from . import Library

KIND = "verify"
_BLOCK = 1 << 20

#: Hears the bytes of each block hashed.
OnBytes = Callable[[int], None]


def file_digest(path: Path, algorithm: str, on_bytes: OnBytes | None = None) -> str:
    """The sha256, or the git blob sha1 (``sha1(b"blob <size>\\0" + content)``), of one file."""
    size = path.stat().st_size
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.sha1(f"blob {size}\0".encode())
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return digest.hexdigest()


def _expected(entry: Any) -> tuple[str, str]:
    """(algorithm, expected digest) of a ``RepoFile``: sha256 for LFS files, else the git blob id."""
    lfs = getattr(entry, "lfs", None)
    sha = getattr(lfs, "sha256", None) if lfs is not None else None
    if sha is None and isinstance(lfs, dict):
        sha = lfs.get("sha256")
    if sha:
        return "sha256", str(sha).lower()
    return "git-sha1", str(entry.blob_id).lower()


def verify_model(library: Library, model: str | ModelRef,
                 progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Check every local file of ``model`` that the Hub lists; ``progress(state)`` hears
    ``{"files_done", "files_total", "file", "bytes_done", "bytes_total"}`` before each file and
    after each block (it may raise to stop: a job's ``control.check``).

    Returns ``{"model", "commit", "ok", "checked", "mismatches": [{path, expected, actual,
    algorithm}], "not_downloaded": [...], "extra": [...]}``; files of the repo that were never
    downloaded (other quantizations) are listed, not counted as failures.
    """
    ref = ModelRef.coerce(model)
    if ref.is_local:
        raise ValidationError(f"{ref.repo_id} has no Hub checksums to verify against",
                              details={"model": ref.repo_id})
    local = library.local.get(ref.repo_id)
    if local is None or local.commit is None or local.snapshot is None:
        raise NotFoundError(f"{ref.repo_id} is not in the cache", details={"model": ref.repo_id})
    cache = local.path.parent if local.shared else library.settings.cache_path  # a shared cache is only read
    escaped = []
    for name in local.files:
        try:
            ensure_within(cache, local.file_path(name))
        except ValidationError:
            escaped.append(name)
    if escaped:
        raise ValidationError(f"{ref.repo_id} has files that point outside the cache: {escaped}",
                              details={"model": ref.repo_id, "files": escaped},
                              resolution_steps=["Delete the model and download it again"])
    remote = library.hub.repo_files(ref.repo_id, local.commit)
    root = Path(local.snapshot)
    on_disk = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    both = sorted(set(remote) & set(on_disk))
    state: dict[str, Any] = {"files_done": 0, "files_total": len(both), "file": None, "bytes_done": 0,
             "bytes_total": sum(on_disk[p].stat().st_size for p in both)}

    def on_bytes(n: int) -> None:
        state["bytes_done"] += n
        if progress is not None:
            progress(state)

    mismatches = []
    for i, path in enumerate(both):
        state.update(files_done=i, file=path)
        if progress is not None:
            progress(state)
        algorithm, expected = _expected(remote[path])
        actual = file_digest(on_disk[path], algorithm, on_bytes)
        if actual != expected:
            mismatches.append({"path": path, "expected": expected, "actual": actual, "algorithm": algorithm})
    state.update(files_done=len(both), file=None)
    if progress is not None:
        progress(state)
    extra = sorted(set(on_disk) - set(remote))
    out = {"model": ref.repo_id, "commit": local.commit, "ok": not mismatches and not extra,
           "checked": len(both), "mismatches": mismatches,
           "not_downloaded": sorted(set(remote) - set(on_disk)), "extra": extra}
    library.last_verify[ref.repo_id] = {**out, "checked_at": time.time()}  # shown by readiness views
    return out


class VerifyJobs:
    """Verifications as jobs: bytes and files done, cancel between two blocks, listed with the
    other jobs. One active verification per model: starting another returns it."""

    def __init__(self, library: Library, store: JobStore, runner: JobRunner) -> None:
        self.library = library
        self.store = store
        self.runner = runner
        # Hashing is disk- and CPU-bound: one at a time keeps a download's writes and the UI responsive.
        runner.register(KIND, self._run, concurrency=1, pausable=False)
        store.register_resumer(KIND, lambda job_id: runner.resume(job_id))

    def start(self, model: str | ModelRef) -> Job:
        ref = ModelRef.coerce(model)
        local = self.library.local.get(ref.repo_id)
        if local is None:
            raise NotFoundError(f"{ref.repo_id} is not on this machine", details={"model": ref.repo_id})
        if ref.is_local and not local.digests:  # the same refusal as verify(), before a job exists
            raise ValidationError(f"{ref.repo_id} has no checksums to verify against (only Ollama's blobs "
                                  "and imports given a sha256 have one)", details={"model": ref.repo_id})
        same = self.runner.find_or_resume(KIND, lambda job: job.params.get("model") == ref.repo_id, resume=())
        if same is not None:
            return same
        return self.runner.create(KIND, {"model": ref.repo_id}, title=f"Verify {ref.repo_id}")

    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        started = time.monotonic()

        def report(state: dict[str, Any]) -> None:
            control.check()
            done, total = state["bytes_done"], state["bytes_total"]
            elapsed = time.monotonic() - started
            rate = done / elapsed if elapsed > 0 and done else None
            file = state["file"]
            n, of = state["files_done"], state["files_total"]
            message = f"file {min(n + 1, of)} of {of}: {file}" if file else f"{n} of {of} files checked"
            control.progress(Progress(
                done=done, total=total, unit="bytes", rate=rate,
                eta=(total - done) / rate if rate else None, message=message,
                detail={"files_done": n, "files_total": of, "file": file}))

        ref = ModelRef.coerce(job.params["model"])
        if ref.is_local:  # an Ollama blob or an import: its store's sha256, one figure for all its files
            local = self.library.local.get(ref.repo_id)
            n = len(local.digests) if local is not None else 0
            return self.library.verify(ref, lambda done, total: report(
                {"bytes_done": done, "bytes_total": total, "files_done": 0 if done < total else n,
                 "files_total": n, "file": None if done >= total else ref.repo_id}))
        return verify_model(self.library, ref, report)


__all__ = ["KIND", "VerifyJobs", "file_digest", "verify_model"]
