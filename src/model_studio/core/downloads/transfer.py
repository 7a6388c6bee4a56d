"""The byte transfer of one file: resumed with HTTP Range, verified, retried with backoff.

Ours rather than ``hf_hub_download`` (2.x), which restarts an interrupted file from zero and never
checks sha256. The caller holds the blob's lock and links the snapshot entry afterwards.
"""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path

import httpx

from ...errors import IntegrityError, NetworkError, NotFoundError, gated_error
from ..hub import RemoteFile
from ..jobs import Control
from .cache import fmt_bytes
from .progress import ProgressTracker

#: Longest wait between two tries, seconds.
MAX_BACKOFF = 30.0


def backoff(attempt: int, base: float, retry_after: float | None = None) -> float:
    """Seconds to wait before try ``attempt + 1``: ``base`` doubling per attempt (at least the server's
    ``Retry-After``), at most ``MAX_BACKOFF``, with +-20% jitter so parallel files do not retry together."""
    delay = max(retry_after or 0.0, base * 2 ** (attempt - 1))
    return min(MAX_BACKOFF, delay) * (0.8 + 0.4 * random.random())


class StallWatchdog:
    """Notices a transfer that stopped moving: no byte for ``timeout`` seconds.

    A read timeout of the HTTP client (1 s, so cancel stays prompt) is not a failure by itself: the
    transfer asks again from where it is, and only once the watchdog says it is stalled does the
    timeout count as a failed attempt.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last = time.monotonic()

    def fed(self) -> None:
        """Bytes arrived."""
        self._last = time.monotonic()

    def stalled(self) -> bool:
        return time.monotonic() - self._last >= self.timeout


# Sentinels of one request, each handled by one case of the retry switch in ``fetch``.


class Transient(Exception):
    """A failure worth retrying: a cut connection, a 5xx or 429, a short read."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RestartFromZero(Exception):
    """The server ignored or misread our Range: the partial cannot be continued."""


class Oversize(Exception):
    """The body ran (or was declared to run) past the file's size: corrupt, never appended."""

    def __init__(self, received: int, declared: int | None = None) -> None:
        super().__init__(received)
        self.received = received  # bytes of the file held, counting the chunk that overran
        self.declared = declared  # offset + Content-Length, when that already said too much


class Hasher:
    """sha256 for LFS files, git blob sha1 for the rest, fed as bytes arrive. A file with neither
    (``blob_id`` empty: a URL import without a sha256) is hashed with sha256 and not checked."""

    def __init__(self, rf: RemoteFile) -> None:
        self.rf = rf
        self.expected: str | None
        if rf.sha256 or not rf.blob_id:
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

    def seed_from(self, partial: Path, control: Control) -> int:
        """Hash the bytes already in a partial file; returns its size (removing an oversize one)."""
        if not partial.exists():
            return 0
        size = partial.stat().st_size
        if size > self.rf.size:
            partial.unlink()
            return 0
        with open(partial, "rb") as fh:
            while chunk := fh.read(8 << 20):
                self._h.update(chunk)
                if control.stopped:
                    control.check()
        return size

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def matches(self) -> bool:
        return self.expected is None or self.hexdigest() == self.expected


class Transfer:
    """Brings files' bytes from the Hub into blobs, over one shared HTTP client."""

    def __init__(self, client: httpx.Client, *, retries: int, retry_backoff: float, stall_timeout: float) -> None:
        self.client = client
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.stall_timeout = stall_timeout

    def fetch(self, control: Control, url: str, headers: dict[str, str], repo_id: str, rf: RemoteFile,
              blob: Path, tracker: ProgressTracker) -> str:
        """Write ``rf``'s verified bytes to ``blob``; returns their digest (hex).

        Internal logic:
        1. Seed: hash the bytes a stopped or crashed run left in ``<blob>.incomplete``, to go on after them.
        2. Request the rest (``Range: bytes=<offset>-``) and append it as the network delivers, hashing
           as it goes (``_stream``); a stop request ends the job between two chunks, the partial kept.
        3. On a failure, one switch: a body longer than the file is corrupt (5.); a server that ignores
           Range restarts the file from zero (not progress, so it cannot loop forever); anything
           transient (a cut, a 5xx or 429, a read timeout) asks again from where it is after
           ``backoff`` -- a read timeout only counts as a failure once the ``StallWatchdog`` says no
           byte came for ``stall_timeout``; failures count since the file last grew, so a slow but
           moving transfer never runs out of tries, and after ``retries`` it is a ``NetworkError``.
        4. Verify the whole file: its size and sha256 (LFS) or git sha1.
        5. Corrupt bytes are deleted (never resumed from) and the file starts over, at most
           ``retries`` times, then ``IntegrityError``.
        6. Move the partial into place (huggingface_hub's ``_chmod_and_move``).
        """
        partial = blob.with_name(blob.name + ".incomplete")
        # 1. Seed from the partial.
        hasher = Hasher(rf)
        offset = hasher.seed_from(partial, control)
        tracker.set_file(rf.path, done=offset, state="downloading")
        attempts = 0  # failed requests since the file last grew past ``reached``
        reached = offset  # the most bytes of this file held so far in this pass
        integrity_failures = 0
        watchdog = StallWatchdog(self.stall_timeout)
        while True:
            control.check()
            corrupt: IntegrityError | None = None
            if offset < rf.size:
                # 2. Request the rest.
                failure: Exception | None = None
                try:
                    offset += self._stream(control, url, headers, partial, offset, rf, hasher, tracker, watchdog,
                                           repo_id=repo_id)
                    if offset < rf.size:
                        raise Transient("connection closed before the end of the file")
                except (Oversize, RestartFromZero, Transient, httpx.TransportError) as exc:
                    failure = exc
                # 3. One switch over what went wrong.
                match failure:
                    case None:
                        pass
                    case Oversize():
                        corrupt = IntegrityError(
                            f"{rf.path} is longer than the Hub says: the server sent more than its "
                            f"{rf.size} bytes",
                            details={"repo_id": repo_id, "file": rf.path, "expected_size": rf.size,
                                     "received_bytes": failure.received, "declared_bytes": failure.declared},
                            resolution_steps=["Retry the download later",
                                              "If it keeps failing, a proxy or mirror may be altering the file"],
                        )
                    case RestartFromZero():
                        # Not progress: ``reached`` stays, so a server that also keeps cutting the
                        # connection runs out of attempts.
                        partial.unlink(missing_ok=True)
                        tracker.set_file(rf.path, done=0)
                        hasher = Hasher(rf)
                        offset = 0
                        continue
                    case _:  # transient: a cut, an HTTP status worth retrying, a timeout
                        offset = partial.stat().st_size if partial.exists() else 0
                        if offset > reached:
                            reached = offset
                            attempts = 0
                        if isinstance(failure, httpx.ReadTimeout) and not watchdog.stalled():
                            continue  # a short stall: ask again from where we are
                        attempts += 1
                        if attempts > self.retries:
                            raise NetworkError(
                                f"Download of {rf.path} failed after {attempts} attempts: {failure}",
                                details={"repo_id": repo_id, "file": rf.path, "bytes_done": offset,
                                         "status": getattr(failure, "status", None)},
                                resolution_steps=["Resume the download later; it continues from "
                                                  f"{fmt_bytes(offset)}"],
                            ) from None
                        self._wait_to_retry(control, tracker, rf, attempts, str(failure),
                                            getattr(failure, "retry_after", None))
                        continue
            # 4. Verify before the blob becomes visible.
            if corrupt is None and (offset != rf.size or not hasher.matches()):
                corrupt = IntegrityError(
                    f"{rf.path} does not match the Hub's {hasher.algorithm} "
                    f"(expected {hasher.expected}, got {hasher.hexdigest()})",
                    details={"repo_id": repo_id, "file": rf.path, "algorithm": hasher.algorithm,
                             "expected": hasher.expected, "actual": hasher.hexdigest(), "size": offset},
                    resolution_steps=["Retry the download", "If it keeps failing, report the file"],
                )
            if corrupt is not None:
                # 5. Corrupt bytes are never kept, not even as a partial to resume from.
                partial.unlink(missing_ok=True)
                integrity_failures += 1
                if integrity_failures > self.retries:
                    raise corrupt
                tracker.set_file(rf.path, done=0)
                hasher = Hasher(rf)
                offset = reached = attempts = 0
                self._wait_to_retry(control, tracker, rf, integrity_failures, f"{corrupt}; downloading it again")
                continue
            # 6. Move into place.
            tracker.set_file(rf.path, state="verifying")
            from huggingface_hub.file_download import _chmod_and_move

            _chmod_and_move(partial, blob)
            return hasher.hexdigest()

    def _wait_to_retry(self, control: Control, tracker: ProgressTracker, rf: RemoteFile, attempt: int, why: str,
                       retry_after: float | None = None) -> None:
        delay = backoff(attempt, self.retry_backoff, retry_after)
        tracker.message = f"retrying {rf.path} in {delay:.1f}s ({why})"
        tracker.set_file(rf.path, state="retrying")
        control.sleep(delay)
        tracker.set_file(rf.path, state="downloading")

    def _stream(self, control: Control, url: str, headers: dict[str, str], partial: Path, offset: int,
                rf: RemoteFile, hasher: Hasher, tracker: ProgressTracker, watchdog: StallWatchdog,
                repo_id: str = "") -> int:
        """One HTTP request appending to ``partial`` from ``offset``; returns bytes received.

        A failure after some bytes arrived is re-raised as it is: those bytes are in the partial
        (and fed the watchdog), and the caller reads the new offset from the file.
        """
        # Byte for byte: a compressed answer would break Range offsets, the size check and the hash.
        req_headers = {**headers, "Accept-Encoding": "identity"}
        if offset:
            req_headers["Range"] = f"bytes={offset}-"
        received = 0
        with self.client.stream("GET", url, headers=req_headers) as resp:
            status = resp.status_code
            if status == 416:
                raise RestartFromZero()
            if status in (429, 500, 502, 503, 504, 408):
                raise Transient(f"HTTP {status}", status=status,
                                retry_after=_retry_after(resp.headers.get("Retry-After")))
            if status in (401, 403):
                code = resp.headers.get("X-Error-Code", "")
                raise gated_error(repo_id or rf.path, token_sent=bool(headers.get("authorization")
                                                                       or headers.get("Authorization")),
                                  status=status, file=rf.path,
                                  hub_message=f"{code} {resp.headers.get('X-Error-Message', '')}".strip())
            if status == 404:
                raise NotFoundError(f"{rf.path} is no longer on the Hub", details={"file": rf.path})
            if status >= 400:
                raise Transient(f"HTTP {status}", status=status)
            if offset and status == 200:
                raise RestartFromZero()  # the server ignored Range
            if offset and status == 206:
                start = _content_range_start(resp.headers.get("Content-Range"))
                if start != offset:
                    raise RestartFromZero()
            declared = _content_length(resp.headers.get("Content-Length"))
            if declared is not None and offset + declared > rf.size:
                raise Oversize(offset, offset + declared)  # refused before reading a byte of it
            with open(partial, "ab") as fh:
                for chunk in resp.iter_raw():  # as the network delivers: a cut loses nothing buffered
                    if control.stopped:
                        fh.flush()
                        control.check()
                    if offset + received + len(chunk) > rf.size:
                        # Stop reading here: the body may never end.
                        raise Oversize(offset + received + len(chunk))
                    fh.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                    watchdog.fed()
                    tracker.add(rf.path, len(chunk))
        return received


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


__all__ = ["MAX_BACKOFF", "StallWatchdog", "Transfer", "backoff"]
