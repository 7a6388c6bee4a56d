"""The download manager: download jobs on the engine's job runner, written in the Hugging Face cache layout.

Each job resolves its repo's metadata, selects files (``select``), checks free disk space, then
brings each file into ``blobs/<etag>`` under the same per-blob lock huggingface_hub uses
(``transfer``) and links ``snapshots/<commit>/<file>`` to it (``cache``). The runner owns the
queue (``Settings.max_concurrent_downloads`` at once), cancel and pause from any process and the
job's final state; a paused, cancelled or interrupted download resumes from its partial files.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock
from filelock import Timeout as LockTimeout

from ...config import Settings
from ...errors import DiskSpaceError, NotFoundError, ValidationError
from ..hub import HubClient, RemoteFile, RemoteRepo
from ..jobs import ACTIVE, Control, Job, JobRunner, JobState, JobStore, Progress, Stopped
from ..refs import HEX40, HEX64, ModelRef, ensure_within, safe_filename
from .cache import blob_ok, disk_free, fmt_bytes, link, pointer_ok, repo_folder, write_ref
from .progress import ProgressTracker
from .select import select_files
from .transfer import Transfer

log = logging.getLogger(__name__)

KIND = "download"
#: What makes two downloads the same: a second request for it finds or resumes the first.
_IDENTITY = ("repo_id", "revision", "variant", "files", "include")


class DownloadManager:
    """Download jobs: start, resume, cancel or pause them from any process; they run on ``runner``."""

    def __init__(self, settings: Settings, store: JobStore, hub: HubClient, runner: JobRunner,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.runner = runner
        self._on_change = on_change or (lambda repo_id: None)
        self._discard: set[str] = set()  # jobs whose partial files go when they stop
        self._client = httpx.Client(
            follow_redirects=True,
            # A short read timeout keeps cancel prompt even when the server stalls; a stall is then
            # resumed with a Range request and only counts as a failure after ``stall_timeout``.
            timeout=httpx.Timeout(connect=10.0, read=1.0, write=10.0, pool=30.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        runner.register(KIND, self._run, lane=KIND, concurrency=lambda: self.settings.max_concurrent_downloads,
                        on_stop=self._on_stop)
        store.register_resumer(KIND, self.resume)

    # Public API --------------------------------------------------------------------------------

    def start(
        self,
        model: str | ModelRef,
        *,
        files: list[str] | None = None,
        include: list[str] | None = None,
        revision: str | None = None,
        variant: str | None = None,
    ) -> Job:
        """Queue a download of ``model`` (``org/name[@rev][:QUANT]``); returns the Job at once.

        A paused, cancelled or interrupted download of the same selection is resumed instead of
        starting over; an active one is returned as it is.
        """
        ref = ModelRef.coerce(model).with_(revision=revision, variant=variant)
        if ref.is_local:
            raise ValidationError(f"{ref.repo_id} is a local model; there is nothing to download",
                                  details={"model": str(ref)})
        files = [safe_filename(f) for f in files] if files else None
        if include:
            for pat in include:
                if not isinstance(pat, str) or ".." in pat or pat.startswith("/"):
                    raise ValidationError(f"Invalid include pattern {pat!r}", details={"include": pat})
        params = {"model": str(ref), "repo_id": ref.repo_id, "revision": ref.revision or "main",
                  "variant": ref.variant, "files": files, "include": list(include) if include else None}
        found = self.runner.find_or_resume(KIND, lambda job: all(job.params.get(k) == params[k] for k in _IDENTITY))
        return found or self.runner.create(KIND, params, title=str(ref))

    def resume(self, job_id: str) -> Job:
        """Resume a paused, cancelled, interrupted or failed download (from any process)."""
        self.get(job_id)
        self._discard.discard(job_id)
        return self.runner.resume(job_id)

    def cancel(self, job_id: str, *, discard: bool = False) -> Job:
        """Stop a download, keeping its partial files for a later resume (unless ``discard``)."""
        self.get(job_id)
        if discard:
            self._discard.add(job_id)
        job = self.runner.cancel(job_id)
        if discard and not job.active:
            self._discard_partials(job)
        return job

    def pause(self, job_id: str) -> Job:
        self.get(job_id)
        return self.runner.pause(job_id)

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise NotFoundError(f"No download {job_id!r}", details={"job_id": job_id})
        return job

    def list(self, states: Iterable[JobState | str] | None = None, limit: int = 200) -> builtins.list[Job]:
        return self.store.list(KIND, states, limit=limit)

    def active_repos(self) -> set[str]:
        jobs = self.store.list(KIND, ACTIVE, limit=1000)
        return {str(j.params["repo_id"]) for j in jobs if j.params.get("repo_id")}

    def close(self) -> None:
        """Pause this process's downloads (resumable), then close the connections."""
        # Transfers reach their next chunk and record "paused" before the connection pool goes away.
        self.runner.close([KIND], timeout=5.0)
        self._client.close()

    # One job -----------------------------------------------------------------------------------

    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        """Metadata, selection, disk space, then every file; returns the job's result."""
        params = job.params
        repo_id = params["repo_id"]
        tracker: ProgressTracker | None = None
        try:
            control.progress(Progress(message="fetching metadata"), force=True)
            repo = self.hub.repo(repo_id, None if params.get("revision") in (None, "main") else params["revision"])
            control.check()
            selection = select_files(repo, variant=params.get("variant"), files=params.get("files"),
                                     include=params.get("include"))
            storage = repo_folder(self.settings.cache_path, repo_id)
            tracker = ProgressTracker(selection.files, control.progress)
            tracker.message = selection.note
            need = self._check_disk_space(storage, selection.files)
            plan = {"commit": repo.commit, "variant": selection.variant, "files": [f.path for f in selection.files],
                    "blobs": [f.etag for f in selection.files],
                    "skipped": selection.skipped, "total_bytes": tracker.total, "bytes_to_fetch": need}
            control.last_progress = tracker.snapshot()
            self.store.set_state(job.id, JobState.RUNNING, params={**params, "plan": plan},
                                 progress=control.last_progress)
            self._fetch_all(control, repo, selection.files, storage, tracker)
            if params.get("revision") and params["revision"] != repo.commit:
                write_ref(storage, params["revision"], repo.commit)
            tracker.message = "verified"
            return {
                "repo_id": repo_id,
                "commit": repo.commit,
                "path": str(storage / "snapshots" / repo.commit),
                "files": [f.path for f in selection.files],
                "variant": selection.variant,
                "skipped": selection.skipped,
                "bytes_total": tracker.total,
                "bytes_transferred": tracker.transferred,
                "bytes_reused": tracker.reused,
                "verified": len(selection.files),
            }
        finally:
            if tracker is not None:  # the bytes reached, written with the final state
                control.last_progress = tracker.snapshot()
            self._on_change(repo_id)

    def _on_stop(self, job: Job, state: JobState) -> None:
        if job.id in self._discard:  # before the state change, so a waiter never sees the partials
            self._discard.discard(job.id)
            self._discard_partials(self.store.get(job.id))

    def _check_disk_space(self, storage: Path, files: builtins.list[RemoteFile]) -> int:
        """Bytes still to fetch; raises DiskSpaceError before any byte is written if they do not fit."""
        blobs = storage / "blobs"
        need = 0
        for f in files:
            blob = blobs / f.etag
            if blob.exists():
                continue
            partial = blobs / (f.etag + ".incomplete")
            have = partial.stat().st_size if partial.exists() else 0
            need += max(0, f.size - have)
        free = disk_free(storage)
        margin = 16 << 20
        if need + margin > free:
            raise DiskSpaceError(
                f"Not enough disk space: need {fmt_bytes(need)}, {fmt_bytes(free)} free at {storage.parent}",
                details={"need_bytes": need, "free_bytes": free, "path": str(storage.parent)},
                resolution_steps=["Free space (delete unused models from the library)",
                                  "Or point HF_HUB_CACHE at a larger disk"],
            )
        return need

    def _fetch_all(self, control: Control, repo: RemoteRepo, files: builtins.list[RemoteFile], storage: Path,
                   tracker: ProgressTracker) -> None:
        transfer = Transfer(self._client, retries=self.settings.download_retries,
                            retry_backoff=self.settings.retry_backoff, stall_timeout=self.settings.stall_timeout)
        workers = max(1, min(self.settings.files_per_download, len(files)))
        if workers == 1:
            for f in files:
                self._fetch_file(control, transfer, repo, f, storage, tracker)
            return
        files_control = control.fork()  # stopped alone when one file fails, to end the others
        with ThreadPoolExecutor(workers, thread_name_prefix=f"dl-{control.job_id}") as pool:
            futures = [pool.submit(self._fetch_file, files_control, transfer, repo, f, storage, tracker)
                       for f in files]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((fut for fut in done if fut.exception() is not None), None)
            if failed is not None:
                files_control.request(JobState.CANCELLED)  # the others stop at their next chunk
                exc = failed.exception()
                wait(futures)
                if control.stopped:  # the user's stop, not a failure
                    raise Stopped(control.state or JobState.CANCELLED)
                raise exc  # type: ignore[misc]

    def _fetch_file(self, control: Control, transfer: Transfer, repo: RemoteRepo, rf: RemoteFile, storage: Path,
                    tracker: ProgressTracker) -> None:
        control.check()
        if not (HEX64.match(rf.etag) or HEX40.match(rf.etag)):
            raise ValidationError(f"Malformed etag for {rf.path}", details={"file": rf.path})
        blobs = storage / "blobs"
        snapshot = storage / "snapshots" / repo.commit
        blob = blobs / rf.etag
        pointer = snapshot / rf.path
        if pointer_ok(pointer, blob, rf, storage):
            tracker.reused += rf.size
            tracker.set_file(rf.path, done=rf.size, state="done")
            return
        blobs.mkdir(parents=True, exist_ok=True)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        ensure_within(storage, pointer.parent)
        if blob_ok(blob, rf):
            link(blob, pointer)
            tracker.reused += rf.size
            tracker.set_file(rf.path, done=rf.size, state="done")
            return
        # Same lock file as huggingface_hub, so we never race an `hf download` of the same blob.
        lock_path = self.settings.cache_path / ".locks" / storage.name / f"{rf.etag}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        waited = False
        while True:
            control.check()
            try:
                lock.acquire(timeout=0.25)
                break
            except LockTimeout:
                if not waited:
                    waited = True
                    tracker.set_file(rf.path, state="waiting")
        try:
            if blob_ok(blob, rf):  # another process finished it while we waited
                tracker.reused += rf.size
            else:
                url = self.hub.file_url(repo.repo_id, repo.commit, rf.path)
                transfer.fetch(control, url, self.hub.headers(), repo.repo_id, rf, blob, tracker)
            link(blob, pointer)
        finally:
            lock.release()
        tracker.set_file(rf.path, done=rf.size, state="done")

    def _discard_partials(self, job: Job) -> None:
        plan = job.params.get("plan") or {}
        repo_id = job.params.get("repo_id")
        if not repo_id:
            return
        blobs = repo_folder(self.settings.cache_path, repo_id) / "blobs"
        for etag in plan.get("blobs") or []:
            if HEX64.match(etag) or HEX40.match(etag):
                (blobs / f"{etag}.incomplete").unlink(missing_ok=True)


__all__ = ["KIND", "DownloadManager"]
