"""Downloads that resume and verify, written in the Hugging Face cache layout.

huggingface_hub gives the metadata (sizes, sha256, commit), URLs, auth headers and the cache
layout; the byte transfer is ours because ``hf_hub_download`` (2.x) restarts an interrupted file
from zero and never checks sha256. Here each blob is written to ``blobs/<etag>.incomplete`` under
the same per-blob lock huggingface_hub uses, resumed with HTTP Range after a cancel, a crash or a
restart, verified (sha256 for LFS files, git sha1 for the rest) and only then moved into place and
linked from ``snapshots/<commit>/<file>``, so every HF tool reads the result.
"""

from __future__ import annotations

import builtins
import collections
import fnmatch
import hashlib
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock
from filelock import Timeout as LockTimeout

from ..config import Settings
from ..errors import (
    ConflictError,
    DiskSpaceError,
    GatedRepoError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    StudioError,
    ValidationError,
)
from .hub import HubClient, RemoteFile, RemoteRepo
from .jobs import RESUMABLE, Job, JobState, JobStore, Progress
from .refs import HEX40, HEX64, ModelRef, ensure_within, gguf_quant, safe_filename

log = logging.getLogger(__name__)

KIND = "download"
# Formats transformers would never load when safetensors weights sit beside them.
_REDUNDANT_WEIGHTS = ("pytorch_model*.bin", "tf_model.h5", "flax_model.msgpack", "*.ckpt", "*.ot",
                      "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.msgpack", "*.h5")
_DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q8_0", "Q6_K", "Q5_K_S", "F16")


def disk_free(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def repo_folder(cache: Path, repo_id: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return cache / repo_folder_name(repo_id=repo_id, repo_type="model")


class _Stop(Exception):
    """Raised inside a transfer when the user cancelled or paused the job."""

    def __init__(self, control: str) -> None:
        super().__init__(control)
        self.control = control


class _Transient(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


# --- file selection ---------------------------------------------------------------------------


@dataclass
class Selection:
    files: list[RemoteFile]
    variant: str | None = None
    skipped: list[str] = field(default_factory=list)
    note: str = ""


def quantizations(files: Iterable[RemoteFile]) -> dict[str, list[RemoteFile]]:
    """GGUF files of a repo grouped by quantization name (split parts together)."""
    groups: dict[str, list[RemoteFile]] = collections.defaultdict(list)
    for f in files:
        quant = gguf_quant(f.path)
        if quant and "mmproj" not in f.path.lower():
            groups[quant].append(f)
    return dict(groups)


def select_files(
    repo: RemoteRepo,
    *,
    variant: str | None = None,
    files: list[str] | None = None,
    include: list[str] | None = None,
) -> Selection:
    """Which files of ``repo`` a download fetches.

    Explicit ``files`` win; then a ``variant`` (a GGUF quantization such as Q4_K_M, or a file name);
    then ``include`` glob patterns. With none of these, a GGUF repo gets its default quantization
    (not every quantization, which can be 100+ GB) and a safetensors repo skips redundant formats.
    """
    by_path = {f.path: f for f in repo.files}
    if files:
        missing = [p for p in files if p not in by_path]
        if missing:
            raise NotFoundError(
                f"{repo.repo_id} has no file {missing[0]!r}",
                details={"repo_id": repo.repo_id, "missing": missing, "available": sorted(by_path)[:50]},
            )
        return Selection([by_path[p] for p in files])
    quants = quantizations(repo.files)
    if variant:
        chosen = quants.get(variant.upper())
        if chosen is None:
            exact = by_path.get(variant) or next((f for f in repo.files if f.path.endswith("/" + variant)), None)
            if exact is None:
                raise NotFoundError(
                    f"{repo.repo_id} has no quantization or file {variant!r}",
                    details={"repo_id": repo.repo_id, "variant": variant, "quantizations": sorted(quants)},
                    resolution_steps=[f"Pick one of: {', '.join(sorted(quants)) or '(no GGUF files)'}"],
                )
            chosen = [exact]
        return Selection(sorted(chosen, key=lambda f: f.path), variant=variant.upper() if variant.upper() in quants else variant)
    if include:
        chosen = [f for f in repo.files if any(fnmatch.fnmatch(f.path, pat) for pat in include)]
        if not chosen:
            raise NotFoundError(
                f"No file of {repo.repo_id} matches {include}",
                details={"repo_id": repo.repo_id, "include": include},
            )
        return Selection(chosen)
    if quants and not any(f.path.endswith(".safetensors") for f in repo.files):
        default = next((q for q in _DEFAULT_QUANTS if q in quants), None) or min(
            quants, key=lambda q: sum(f.size for f in quants[q])
        )
        chosen = sorted(quants[default], key=lambda f: f.path)
        skipped = [f.path for f in repo.files if f.path.endswith(".gguf") and f not in chosen]
        return Selection(chosen, variant=default, skipped=skipped,
                         note=f"chose quantization {default}; pass :QUANT for another")
    if any(f.path.endswith(".safetensors") for f in repo.files):
        skipped = [f.path for f in repo.files
                   if any(fnmatch.fnmatch(Path(f.path).name, pat) for pat in _REDUNDANT_WEIGHTS)]
        chosen = [f for f in repo.files if f.path not in skipped]
        return Selection(chosen, skipped=skipped,
                         note="skipped weights in other formats" if skipped else "")
    return Selection(list(repo.files))


# --- progress ---------------------------------------------------------------------------------


class _ProgressTracker:
    """Bytes per file and per job, with a rate over the last few seconds."""

    def __init__(self, files: list[RemoteFile], publish: Callable[[Progress], None]) -> None:
        self._lock = threading.Lock()
        self._publish = publish
        self.files: dict[str, dict[str, Any]] = {
            f.path: {"done": 0, "total": f.size, "state": "pending"} for f in files}
        self.total = sum(f.size for f in files)
        self.done = 0
        self.transferred = 0  # bytes that came over the network in this run
        self.reused = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)
        self._last_publish = 0.0
        self.message = ""

    def set_file(self, path: str, *, done: int | None = None, state: str | None = None) -> None:
        with self._lock:
            entry = self.files[path]
            if done is not None:
                self.done += done - entry["done"]
                entry["done"] = done
            if state is not None:
                entry["state"] = state
                if state == "downloading":  # per-file rate counts from here
                    entry["_t0"], entry["_d0"] = time.monotonic(), entry["done"]
        self.publish(force=state is not None)

    def add(self, path: str, n: int) -> None:
        with self._lock:
            self.files[path]["done"] += n
            self.done += n
            self.transferred += n
        self.publish()

    def snapshot(self) -> Progress:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, self.transferred))
            while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
                self._samples.popleft()
            t0, b0 = self._samples[0]
            rate = (self.transferred - b0) / (now - t0) if now - t0 > 0.2 else None
            remaining = max(0, self.total - self.done)
            active = {p: self._file_view(e, now) for p, e in self.files.items()
                      if e["state"] not in ("pending", "done")}
            counts = collections.Counter(e["state"] for e in self.files.values())
            return Progress(
                done=self.done,
                total=self.total,
                unit="bytes",
                rate=rate,
                eta=(remaining / rate) if rate else None,
                message=self.message,
                detail={"files": active, "file_counts": dict(counts), "files_total": len(self.files),
                        "transferred": self.transferred, "reused": self.reused},
            )

    @staticmethod
    def _file_view(entry: dict[str, Any], now: float) -> dict[str, Any]:
        """A file's bytes, state, rate (bytes/s) and ETA (seconds) since it started downloading."""
        view = {k: v for k, v in entry.items() if not k.startswith("_")}
        rate = None
        if "_t0" in entry and now - entry["_t0"] > 0.2:
            rate = (entry["done"] - entry["_d0"]) / (now - entry["_t0"])
        view["rate"] = rate
        view["eta"] = (entry["total"] - entry["done"]) / rate if rate else None
        return view

    def publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < 0.1:
            return
        self._last_publish = now
        self._publish(self.snapshot())


# --- the manager -------------------------------------------------------------------------------


class _Run:
    """One running download job inside this process."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.stop = threading.Event()
        self.control = ""
        self.discard = False
        self.thread: threading.Thread | None = None

    def request(self, control: str) -> None:
        if not self.control:
            self.control = control
        self.stop.set()

    def check(self) -> None:
        if self.stop.is_set():
            raise _Stop(self.control or "cancel")


class DownloadManager:
    """A queue of download jobs with a concurrency limit (``Settings.max_concurrent_downloads``)."""

    def __init__(self, settings: Settings, store: JobStore, hub: HubClient,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self._on_change = on_change or (lambda repo_id: None)
        self._lock = threading.Lock()
        self._queue: collections.deque[str] = collections.deque()
        self._running: dict[str, _Run] = {}
        self._closed = False
        self._monitor: threading.Thread | None = None
        self._client = httpx.Client(
            follow_redirects=True,
            # A short read timeout keeps cancel prompt even when the server stalls; a stall is then
            # resumed with a Range request and only counts as a failure after ``stall_timeout``.
            timeout=httpx.Timeout(connect=10.0, read=1.0, write=10.0, pool=30.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
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
        ref = ModelRef.parse(model, revision=revision, variant=variant)
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
        for job in self.store.list(KIND, limit=500):
            same = all(job.params.get(k) == params[k] for k in ("repo_id", "revision", "variant", "files", "include"))
            if not same:
                continue
            if job.active:
                return job
            if job.state in RESUMABLE and job.state != JobState.FAILED:
                try:
                    return self.resume(job.id)
                except ConflictError:
                    continue
        job = self.store.create(KIND, params, title=str(ref))
        self._enqueue(job.id)
        return job

    def resume(self, job_id: str) -> Job:
        """Resume a paused, cancelled, interrupted or failed download (from any process)."""
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise ValidationError(f"Job {job_id} is not a download", details={"job_id": job_id})
        job = self.store.claim(job_id, RESUMABLE)
        self._enqueue(job_id)
        return job

    def cancel(self, job_id: str, *, discard: bool = False) -> Job:
        """Stop a download, keeping its partial files for a later resume (unless ``discard``)."""
        return self._control(job_id, "cancel", discard=discard)

    def pause(self, job_id: str) -> Job:
        return self._control(job_id, "pause")

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise NotFoundError(f"No download {job_id!r}", details={"job_id": job_id})
        return job

    def list(self, states: Iterable[JobState | str] | None = None, limit: int = 200) -> list[Job]:
        return self.store.list(KIND, states, limit=limit)

    def active_repos(self) -> set[str]:
        jobs = self.store.list(KIND, ("queued", "running"), limit=1000)
        return {str(j.params["repo_id"]) for j in jobs if j.params.get("repo_id")}

    def close(self) -> None:
        self._closed = True
        with self._lock:
            runs = list(self._running.values())
            self._queue.clear()
        for run in runs:
            run.request("pause")
        # Let transfers reach their next chunk and record "paused" (resumable) before the
        # connection pool goes away under them.
        deadline = time.monotonic() + 5.0
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))
        self._client.close()

    # Scheduling --------------------------------------------------------------------------------

    def _control(self, job_id: str, control: str, discard: bool = False) -> Job:
        job = self.get(job_id)
        with self._lock:
            run = self._running.get(job_id)
            queued_here = job_id in self._queue
            if queued_here:
                self._queue.remove(job_id)
        if run is not None:
            run.discard = discard
            run.request(control)
            return self.store.request(job_id, control)
        if queued_here:
            state = JobState.PAUSED if control == "pause" else JobState.CANCELLED
            return self.store.set_state(job_id, state)
        job = self.store.request(job_id, control)
        if discard and not job.active:
            self._discard_partials(job)
        return job

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._queue and job_id not in self._running:
                self._queue.append(job_id)
        self._pump()

    def _pump(self) -> None:
        with self._lock:
            if self._closed:
                return
            while self._queue and len(self._running) < self.settings.max_concurrent_downloads:
                job_id = self._queue.popleft()
                run = _Run(job_id)
                self._running[job_id] = run
                run.thread = threading.Thread(target=self._run_job, args=(run,), name=f"download-{job_id}",
                                              daemon=True)
                run.thread.start()
            if self._running and (self._monitor is None or not self._monitor.is_alive()):
                self._monitor = threading.Thread(target=self._watch_controls, name="download-controls",
                                                 daemon=True)
                self._monitor.start()

    def _watch_controls(self) -> None:
        """Honour cancel/pause flags set by other processes (the server, another kernel)."""
        while not self._closed:
            with self._lock:
                runs = dict(self._running)
                queued = list(self._queue)
            if not runs and not queued:
                return
            for job_id, run in runs.items():
                control = self.store.control(job_id)
                if control:
                    run.request(control)
            for job_id in queued:
                control = self.store.control(job_id)
                if control:
                    with self._lock:
                        if job_id in self._queue:
                            self._queue.remove(job_id)
                    self.store.set_state(job_id, JobState.PAUSED if control == "pause" else JobState.CANCELLED)
            time.sleep(0.2)

    # One job -----------------------------------------------------------------------------------

    def _run_job(self, run: _Run) -> None:
        job_id = run.job_id
        repo_id = None
        tracker: _ProgressTracker | None = None
        try:
            job = self.store.get(job_id)
            if job.control:
                raise _Stop(job.control)
            job = self.store.set_state(job_id, JobState.RUNNING,
                                       progress=Progress(message="fetching metadata"))
            params = job.params
            repo_id = params["repo_id"]
            run.check()
            repo = self.hub.repo(repo_id, None if params.get("revision") in (None, "main") else params["revision"])
            run.check()
            selection = select_files(repo, variant=params.get("variant"), files=params.get("files"),
                                     include=params.get("include"))
            storage = repo_folder(self.settings.cache_path, repo_id)
            tracker = _ProgressTracker(selection.files, lambda p: self.store.set_progress(job_id, p))
            tracker.message = selection.note
            need = self._check_disk_space(storage, selection.files)
            plan = {"commit": repo.commit, "variant": selection.variant, "files": [f.path for f in selection.files],
                    "blobs": [f.etag for f in selection.files],
                    "skipped": selection.skipped, "total_bytes": tracker.total, "bytes_to_fetch": need}
            self.store.set_state(job_id, JobState.RUNNING, params={**params, "plan": plan},
                                 progress=tracker.snapshot())
            self._fetch_all(run, repo, selection.files, storage, tracker)
            if params.get("revision") and params["revision"] != repo.commit:
                _write_ref(storage, params["revision"], repo.commit)
            snapshot = storage / "snapshots" / repo.commit
            result = {
                "repo_id": repo_id,
                "commit": repo.commit,
                "path": str(snapshot),
                "files": [f.path for f in selection.files],
                "variant": selection.variant,
                "skipped": selection.skipped,
                "bytes_total": tracker.total,
                "bytes_transferred": tracker.transferred,
                "bytes_reused": tracker.reused,
                "verified": sum(1 for f in selection.files),
            }
            tracker.message = "verified"
            self.store.set_state(job_id, JobState.COMPLETED, result=result, progress=tracker.snapshot())
        except _Stop as stop:
            state = JobState.PAUSED if stop.control == "pause" else JobState.CANCELLED
            if run.discard:  # before the state change, so a waiter never sees the partials
                self._discard_partials(self.store.get(job_id))
            self.store.set_state(job_id, state, progress=tracker.snapshot() if tracker else None)
        except StudioError as exc:
            self.store.set_state(job_id, JobState.FAILED, error=exc.to_dict()["error"],
                                 progress=tracker.snapshot() if tracker else None)
        except Exception as exc:  # never let a bug leave a job "running" forever
            log.exception("download %s failed", job_id)
            err = StudioError(f"Unexpected error: {exc}", details={"cause": type(exc).__name__})
            self.store.set_state(job_id, JobState.FAILED, error=err.to_dict()["error"])
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            if repo_id:
                self._on_change(repo_id)
            self._pump()

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
                f"Not enough disk space: need {_fmt(need)}, {_fmt(free)} free at {storage.parent}",
                details={"need_bytes": need, "free_bytes": free, "path": str(storage.parent)},
                resolution_steps=["Free space (delete unused models from the library)",
                                  "Or point HF_HUB_CACHE at a larger disk"],
            )
        return need

    def _fetch_all(self, run: _Run, repo: RemoteRepo, files: builtins.list[RemoteFile], storage: Path,
                   tracker: _ProgressTracker) -> None:
        workers = max(1, min(self.settings.files_per_download, len(files)))
        if workers == 1:
            for f in files:
                self._fetch_file(run, repo, f, storage, tracker)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix=f"dl-{run.job_id}") as pool:
            futures = [pool.submit(self._fetch_file, run, repo, f, storage, tracker) for f in files]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((fut for fut in done if fut.exception() is not None), None)
            if failed is not None:
                run.stop.set()  # the others stop at their next chunk
                exc = failed.exception()
                wait(futures)
                stops = [fut.exception() for fut in futures if isinstance(fut.exception(), _Stop)]
                if not isinstance(exc, _Stop) and not run.control:
                    raise exc  # type: ignore[misc]
                raise stops[0] if stops else exc  # type: ignore[misc]

    def _fetch_file(self, run: _Run, repo: RemoteRepo, rf: RemoteFile, storage: Path,
                    tracker: _ProgressTracker) -> None:
        run.check()
        if not (HEX64.match(rf.etag) or HEX40.match(rf.etag)):
            raise ValidationError(f"Malformed etag for {rf.path}", details={"file": rf.path})
        blobs = storage / "blobs"
        snapshot = storage / "snapshots" / repo.commit
        blob = blobs / rf.etag
        pointer = snapshot / rf.path
        if _pointer_ok(pointer, blob, rf, storage):
            tracker.reused += rf.size
            tracker.set_file(rf.path, done=rf.size, state="done")
            return
        blobs.mkdir(parents=True, exist_ok=True)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        ensure_within(storage, pointer.parent)
        if _blob_ok(blob, rf):
            _link(blob, pointer)
            tracker.reused += rf.size
            tracker.set_file(rf.path, done=rf.size, state="done")
            return
        # Same lock file as huggingface_hub, so we never race an `hf download` of the same blob.
        lock_path = self.settings.cache_path / ".locks" / storage.name / f"{rf.etag}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        waited = False
        while True:
            run.check()
            try:
                lock.acquire(timeout=0.25)
                break
            except LockTimeout:
                if not waited:
                    waited = True
                    tracker.set_file(rf.path, state="waiting")
        try:
            if _blob_ok(blob, rf):  # another process finished it while we waited
                tracker.reused += rf.size
            else:
                self._transfer(run, repo, rf, blob, tracker)
            _link(blob, pointer)
        finally:
            lock.release()
        tracker.set_file(rf.path, done=rf.size, state="done")

    def _transfer(self, run: _Run, repo: RemoteRepo, rf: RemoteFile, blob: Path,
                  tracker: _ProgressTracker) -> None:
        partial = blob.with_name(blob.name + ".incomplete")
        url = self.hub.file_url(repo.repo_id, repo.commit, rf.path)
        headers = self.hub.headers()
        hasher = _Hasher(rf)
        offset = hasher.seed_from(partial, run)
        tracker.set_file(rf.path, done=offset, state="downloading")
        attempts = 0  # failed requests since the file last grew past ``reached``
        reached = offset  # the most bytes of this file held so far in this pass
        integrity_failures = 0
        last_byte = time.monotonic()
        while True:
            run.check()
            corrupt: IntegrityError | None = None
            if offset < rf.size:
                received = 0
                try:
                    received = self._stream(run, url, headers, partial, offset, rf, hasher, tracker)
                    offset += received
                    if offset < rf.size:
                        raise _Transient("connection closed before the end of the file")
                except _Oversize as over:
                    corrupt = IntegrityError(
                        f"{rf.path} is longer than the Hub says: the server sent more than its "
                        f"{rf.size} bytes",
                        details={"repo_id": repo.repo_id, "file": rf.path, "expected_size": rf.size,
                                 "received_bytes": over.received, "declared_bytes": over.declared},
                        resolution_steps=["Retry the download later",
                                          "If it keeps failing, a proxy or mirror may be altering the file"],
                    )
                except _RestartFromZero:
                    # The server ignored or misread our Range. Not progress: ``reached`` stays, so a
                    # server that also keeps cutting the connection runs out of attempts.
                    partial.unlink(missing_ok=True)
                    tracker.set_file(rf.path, done=0)
                    hasher = _Hasher(rf)
                    offset = 0
                    continue
                except (_Transient, httpx.TransportError) as exc:
                    offset = partial.stat().st_size if partial.exists() else 0
                    if isinstance(exc, _StreamError):
                        received = exc.received
                    if received:
                        last_byte = time.monotonic()
                    if offset > reached:
                        reached = offset
                        attempts = 0
                    stalled = isinstance(exc, httpx.ReadTimeout) or getattr(exc, "read_timeout", False)
                    if stalled and time.monotonic() - last_byte < self.settings.stall_timeout:
                        continue  # a short stall: ask again from where we are
                    attempts += 1
                    if attempts > self.settings.download_retries:
                        raise NetworkError(
                            f"Download of {rf.path} failed after {attempts} attempts: {exc}",
                            details={"repo_id": repo.repo_id, "file": rf.path, "bytes_done": offset,
                                     "status": getattr(exc, "status", None)},
                            resolution_steps=["Resume the download later; it continues from "
                                              f"{_fmt(offset)}"],
                        ) from None
                    self._wait_to_retry(run, tracker, rf, attempts, str(exc), getattr(exc, "retry_after", None))
                    continue
            # All bytes are here: verify before the blob becomes visible.
            if corrupt is None and (offset != rf.size or not hasher.matches()):
                corrupt = IntegrityError(
                    f"{rf.path} does not match the Hub's {hasher.algorithm} "
                    f"(expected {hasher.expected}, got {hasher.hexdigest()})",
                    details={"repo_id": repo.repo_id, "file": rf.path, "algorithm": hasher.algorithm,
                             "expected": hasher.expected, "actual": hasher.hexdigest(), "size": offset},
                    resolution_steps=["Retry the download", "If it keeps failing, report the file"],
                )
            if corrupt is not None:
                # Corrupt bytes are never kept, not even as a partial to resume from.
                partial.unlink(missing_ok=True)
                integrity_failures += 1
                if integrity_failures > self.settings.download_retries:
                    raise corrupt
                tracker.set_file(rf.path, done=0)
                hasher = _Hasher(rf)
                offset = reached = attempts = 0
                self._wait_to_retry(run, tracker, rf, integrity_failures, f"{corrupt}; downloading it again")
                continue
            tracker.set_file(rf.path, state="verifying")
            from huggingface_hub.file_download import _chmod_and_move

            _chmod_and_move(partial, blob)
            return

    def _wait_to_retry(self, run: _Run, tracker: _ProgressTracker, rf: RemoteFile, attempt: int, why: str,
                       retry_after: float | None = None) -> None:
        """Exponential backoff with jitter (``retry_backoff`` doubling, at most 30 s) before try ``attempt + 1``."""
        delay = max(retry_after or 0.0, self.settings.retry_backoff * 2 ** (attempt - 1))
        delay = min(30.0, delay) * (0.8 + 0.4 * random.random())
        tracker.message = f"retrying {rf.path} in {delay:.1f}s ({why})"
        tracker.set_file(rf.path, state="retrying")
        if run.stop.wait(delay):
            run.check()
        tracker.set_file(rf.path, state="downloading")

    def _stream(self, run: _Run, url: str, headers: dict[str, str], partial: Path, offset: int,
                rf: RemoteFile, hasher: _Hasher, tracker: _ProgressTracker) -> int:
        """One HTTP request appending to ``partial`` from ``offset``; returns bytes received."""
        # Byte for byte: a compressed answer would break Range offsets, the size check and the hash.
        req_headers = {**headers, "Accept-Encoding": "identity"}
        if offset:
            req_headers["Range"] = f"bytes={offset}-"
        received = 0
        try:
            with self._client.stream("GET", url, headers=req_headers) as resp:
                status = resp.status_code
                if status == 416:
                    raise _RestartFromZero()
                if status in (429, 500, 502, 503, 504, 408):
                    raise _Transient(f"HTTP {status}", status=status,
                                     retry_after=_retry_after(resp.headers.get("Retry-After")))
                if status in (401, 403):
                    code = resp.headers.get("X-Error-Code", "")
                    raise GatedRepoError(f"Access to {rf.path} was refused ({status} {code})",
                                         details={"file": rf.path, "status": status},
                                         resolution_steps=["Accept the licence on the model page",
                                                           "Run `hf auth login` or set HF_TOKEN"])
                if status == 404:
                    raise NotFoundError(f"{rf.path} is no longer on the Hub", details={"file": rf.path})
                if status >= 400:
                    raise _Transient(f"HTTP {status}", status=status)
                if offset and status == 200:
                    raise _RestartFromZero()  # the server ignored Range
                if offset and status == 206:
                    start = _content_range_start(resp.headers.get("Content-Range"))
                    if start != offset:
                        raise _RestartFromZero()
                declared = _content_length(resp.headers.get("Content-Length"))
                if declared is not None and offset + declared > rf.size:
                    raise _Oversize(offset, offset + declared)  # refused before reading a byte of it
                with open(partial, "ab") as fh:
                    for chunk in resp.iter_raw():  # as the network delivers: a cut loses nothing buffered
                        if run.stop.is_set():
                            fh.flush()
                            run.check()
                        if offset + received + len(chunk) > rf.size:
                            # Stop reading here: the body may never end.
                            raise _Oversize(offset + received + len(chunk))
                        fh.write(chunk)
                        hasher.update(chunk)
                        received += len(chunk)
                        tracker.add(rf.path, len(chunk))
        except (httpx.TransportError, _Transient) as exc:
            if received:
                raise _StreamError(str(exc) or type(exc).__name__, received,
                                   read_timeout=isinstance(exc, httpx.ReadTimeout)) from exc
            raise
        return received

    def _discard_partials(self, job: Job) -> None:
        plan = job.params.get("plan") or {}
        repo_id = job.params.get("repo_id")
        if not repo_id:
            return
        blobs = repo_folder(self.settings.cache_path, repo_id) / "blobs"
        for etag in plan.get("blobs") or []:
            if HEX64.match(etag) or HEX40.match(etag):
                (blobs / f"{etag}.incomplete").unlink(missing_ok=True)


class _RestartFromZero(Exception):
    pass


class _Oversize(Exception):
    """The body ran (or was declared to run) past the file's size: corrupt, never appended."""

    def __init__(self, received: int, declared: int | None = None) -> None:
        super().__init__(received)
        self.received = received  # bytes of the file held, counting the chunk that overran
        self.declared = declared  # offset + Content-Length, when that already said too much


class _StreamError(_Transient):
    """A transport error after some bytes arrived (the stall clock restarts; attempts reset past ``reached``)."""

    def __init__(self, message: str, received: int, read_timeout: bool = False) -> None:
        super().__init__(message)
        self.received = received
        self.read_timeout = read_timeout


class _Hasher:
    """sha256 for LFS files, git blob sha1 for the rest, fed as bytes arrive."""

    def __init__(self, rf: RemoteFile) -> None:
        self.rf = rf
        if rf.sha256:
            self.algorithm = "sha256"
            self.expected = rf.sha256
            self._h = hashlib.sha256()
        else:
            self.algorithm = "git-sha1"
            self.expected = rf.blob_id
            self._h = hashlib.sha1()
            self._h.update(f"blob {rf.size}\0".encode())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def seed_from(self, partial: Path, run: _Run) -> int:
        """Hash the bytes already in a partial file; returns its size (truncating an oversize one)."""
        if not partial.exists():
            return 0
        size = partial.stat().st_size
        if size > self.rf.size:
            partial.unlink()
            return 0
        with open(partial, "rb") as fh:
            while chunk := fh.read(8 << 20):
                self._h.update(chunk)
                if run.stop.is_set():
                    run.check()
        return size

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def matches(self) -> bool:
        return self.hexdigest() == self.expected


def _blob_ok(blob: Path, rf: RemoteFile) -> bool:
    try:
        return blob.is_file() and not blob.is_symlink() and blob.stat().st_size == rf.size
    except OSError:
        return False


def _pointer_ok(pointer: Path, blob: Path, rf: RemoteFile, storage: Path) -> bool:
    if not pointer.is_symlink() and not pointer.is_file():
        return False
    try:
        target = ensure_within(storage, pointer)
    except ValidationError:
        pointer.unlink(missing_ok=True)  # a link out of the cache is never trusted
        return False
    return target == blob.resolve() and _blob_ok(blob, rf)


def _link(blob: Path, pointer: Path) -> None:
    from huggingface_hub.file_download import _create_symlink

    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    _create_symlink(str(blob), str(pointer), new_blob=False)


def _write_ref(storage: Path, revision: str, commit: str) -> None:
    from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision

    _cache_commit_hash_for_specific_revision(str(storage), revision, commit)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _fmt(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n} B"

