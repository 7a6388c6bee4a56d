"""The job store: one model for all long work (downloads, training runs, video generations, batches).

A ``JobStore`` keeps jobs in ``state.sqlite`` (WAL mode) so every process on the machine (the
Jupyter server, each kernel, the CLI) sees the same jobs. Cancel and pause are a ``control`` flag on
the row that the owning process honours (``runner.JobRunner`` does). Changes are published on an
``events.EventBus``.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import psutil

from ...errors import CancelledError, ConflictError, NotFoundError, ValidationError, error_from_dict
from .events import EventBus

log = logging.getLogger(__name__)


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING})
TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
RESUMABLE = frozenset({JobState.PAUSED, JobState.CANCELLED, JobState.INTERRUPTED, JobState.FAILED})
_ACTIVE_SQL = f"({','.join(repr(s.value) for s in sorted(ACTIVE))})"  # ('queued','running') for SQL


@dataclass
class Progress:
    """How far a job is: ``done`` of ``total`` ``unit`` at ``rate`` units/second, ``eta`` seconds left."""

    done: float = 0
    total: float | None = None
    unit: str = "bytes"
    rate: float | None = None
    eta: float | None = None
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fraction"] = self.fraction
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Progress:
        data = dict(data or {})
        data.pop("fraction", None)
        known = {k: data[k] for k in ("done", "total", "unit", "rate", "eta", "message", "detail") if k in data}
        return cls(**known)


def _owner_identity() -> tuple[int, float]:
    me = psutil.Process()
    return me.pid, me.create_time()


def owner_alive(pid: int | None, started: float | None) -> bool:
    """True if the process that owns a job still runs (guarding against PID reuse)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if started and abs(proc.create_time() - started) > 1.0:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``state.sqlite`` in WAL mode (autocommit, 30 s busy timeout), usable from any thread."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=30000")
    # Switching a new database to WAL needs an exclusive lock and can answer "locked" at
    # once (without the busy handler) when two processes open it for the first time.
    for attempt in range(100):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@dataclass
class Job:
    """A snapshot of a job row, with methods that act on the live job through its store."""

    id: str
    kind: str
    state: JobState
    title: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    error: dict[str, Any] | None = None
    result: Any = None
    owner_pid: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    control: str = ""
    _store: JobStore | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state.value,
            "title": self.title,
            "params": self.params,
            "progress": self.progress.to_dict(),
            "error": self.error,
            "result": self.result,
            "owner_pid": self.owner_pid,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "control": self.control,
        }

    def raise_for_error(self) -> None:
        """Raise the job's typed error if it failed; ``CancelledError`` if it was stopped."""
        if self.state == JobState.FAILED and self.error:
            raise error_from_dict(self.error)
        if self.state in (JobState.CANCELLED, JobState.PAUSED, JobState.INTERRUPTED):
            raise CancelledError(
                f"Job {self.id} is {self.state.value}",
                details={"job_id": self.id, "state": self.state.value},
                resolution_steps=[f"Resume it with engine().jobs.resume('{self.id}')"],
            )

    # Live operations -----------------------------------------------------------------------

    def _require_store(self) -> JobStore:
        if self._store is None:
            raise ConflictError("This job snapshot is detached from its store")
        return self._store

    def refresh(self) -> Job:
        return self._require_store().get(self.id)

    def wait(self, timeout: float | None = None, *, raise_on_error: bool = True) -> Job:
        """Block until the job stops running; return its final snapshot.

        Raises the job's typed error if it failed (and ``CancelledError`` if it was cancelled or
        paused) unless ``raise_on_error`` is False; ``TimeoutError`` after ``timeout`` seconds.
        """
        job = self._require_store().wait(self.id, timeout)
        if raise_on_error:
            job.raise_for_error()
        return job

    def cancel(self) -> Job:
        return self._require_store().request(self.id, "cancel")

    def pause(self) -> Job:
        return self._require_store().request(self.id, "pause")

    def resume(self) -> Job:
        return self._require_store().resume(self.id)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    result TEXT,
    owner_pid INTEGER,
    owner_started REAL,
    control TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs(updated_at);
CREATE INDEX IF NOT EXISTS jobs_kind_state ON jobs(kind, state);
"""

_COLUMNS = (
    "id, kind, state, title, params, progress, error, result, owner_pid, owner_started, control, "
    "created_at, updated_at, started_at, finished_at"
)


class JobStore:
    """Jobs persisted in SQLite (WAL), shared by every process that uses the same studio home."""

    #: Seconds between database writes of a running job's progress (state changes write at once).
    progress_write_interval = 0.5

    def __init__(self, path: Path, bus: EventBus | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.bus = bus or EventBus()
        self._local = threading.local()
        self._changed = threading.Condition()
        self._last_progress_write: dict[str, float] = {}
        self._resumers: dict[str, Callable[[str], Job]] = {}
        #: Builds the service that resumes ``kind`` when none registered yet (``JobRunner.loader``).
        self.loader: Callable[[str], object] | None = None
        self.owner_pid, self.owner_started = _owner_identity()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    # Connections -------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def _row_to_job(self, row: tuple) -> Job:
        (jid, kind, state, title, params, progress, error, result, pid, _started, control,
         created, updated, started_at, finished_at) = row
        return Job(
            id=jid,
            kind=kind,
            state=JobState(state),
            title=title,
            params=json.loads(params or "{}"),
            progress=Progress.from_dict(json.loads(progress or "{}")),
            error=json.loads(error) if error else None,
            result=json.loads(result) if result else None,
            owner_pid=pid,
            created_at=created,
            updated_at=updated,
            started_at=started_at,
            finished_at=finished_at,
            control=control or "",
            _store=self,
        )

    # Queries -----------------------------------------------------------------------------------

    def create(self, kind: str, params: dict[str, Any], *, title: str = "") -> Job:
        now = time.time()
        job_id = f"{kind[:3]}-{uuid.uuid4().hex[:12]}"
        self._conn().execute(
            f"INSERT INTO jobs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (job_id, kind, JobState.QUEUED.value, title, json.dumps(params), "{}", None, None,
             self.owner_pid, self.owner_started, "", now, now, None, None),
        )
        job = self.get(job_id)
        self._notify(job, immediate=True)
        return job

    def get(self, job_id: str) -> Job:
        if not isinstance(job_id, str) or not job_id or len(job_id) > 64:
            raise ValidationError(f"Invalid job id {job_id!r}", details={"job_id": job_id})
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No job {job_id!r}", details={"job_id": job_id})
        return self._row_to_job(row)

    def list(
        self,
        kind: str | None = None,
        states: Iterable[JobState | str] | None = None,
        *,
        since: float | None = None,
        limit: int = 200,
        offset: int = 0,
        text: str | None = None,
    ) -> list[Job]:
        """Jobs newest first, optionally filtered by kind, state, ``updated_at > since`` and ``text``
        (a case-insensitive substring of the id, title or parameters)."""
        where: list[str] = []
        args: list[Any] = []
        if kind:
            where.append("kind=?")
            args.append(kind)
        if states is not None:
            values = [JobState(s).value for s in states]
            where.append(f"state IN ({','.join('?' * len(values))})")
            args.extend(values)
        if since is not None:
            where.append("updated_at>?")
            args.append(since)
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(lower(id) LIKE ? ESCAPE '\\' OR lower(title) LIKE ? ESCAPE '\\' "
                         "OR lower(params) LIKE ? ESCAPE '\\')")
            args.extend([pattern] * 3)
        sql = f"SELECT {_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ? OFFSET ?"
        args.extend([int(limit), int(offset)])
        return [self._row_to_job(r) for r in self._conn().execute(sql, args).fetchall()]

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.active:
            raise ConflictError(f"Job {job_id} is {job.state.value}; cancel it first", details={"job_id": job_id})
        self._conn().execute("DELETE FROM jobs WHERE id=?", (job_id,))

    # Updates by the owning process ------------------------------------------------------------

    def set_state(
        self,
        job_id: str,
        state: JobState,
        *,
        error: dict[str, Any] | None = None,
        result: Any = None,
        progress: Progress | None = None,
        params: dict[str, Any] | None = None,
        expect: Iterable[JobState] | None = None,
        expect_control: str | None = None,
    ) -> Job:
        """Change a job's state; with ``expect`` (and ``expect_control``), only from one of those states
        (with that control request) and atomically, else ``ConflictError``: two threads racing to start
        and to cancel a queued job cannot both win."""
        now = time.time()
        sets = ["state=?", "updated_at=?"]
        args: builtins.list[Any] = [JobState(state).value, now]
        if state == JobState.RUNNING:
            sets += ["started_at=COALESCE(started_at, ?)", "error=NULL"]
            args.append(now)
        if state in TERMINAL or state in (JobState.PAUSED, JobState.INTERRUPTED):
            sets += ["finished_at=?", "control=''"]
            args.append(now)
        if state == JobState.FAILED:
            sets.append("error=?")
            args.append(json.dumps(error) if error else None)
        if result is not None:
            sets.append("result=?")
            args.append(json.dumps(result))
        if progress is not None:
            sets.append("progress=?")
            args.append(json.dumps(progress.to_dict()))
        if params is not None:
            sets.append("params=?")
            args.append(json.dumps(params))
        args.append(job_id)
        where = "id=?"
        if expect is not None:
            states = [JobState(s).value for s in expect]
            where += f" AND state IN ({','.join('?' * len(states))})"
            args += states
            if expect_control is not None:
                where += " AND control=?"
                args.append(expect_control)
        cur = self._conn().execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {where}", args)
        job = self.get(job_id)
        if expect is not None and cur.rowcount != 1:
            raise ConflictError(f"Job {job_id} is {job.state.value}, not {' or '.join(states)}",
                                details={"job_id": job_id, "state": job.state.value, "expected": states})
        self._notify(job, immediate=True)
        return job

    def set_progress(self, job_id: str, progress: Progress, *, force: bool = False) -> None:
        """Record progress: published to subscribers (coalesced), written at most twice a second."""
        now = time.monotonic()
        if force or now - self._last_progress_write.get(job_id, 0.0) >= self.progress_write_interval:
            self._last_progress_write[job_id] = now
            self._conn().execute(
                "UPDATE jobs SET progress=?, updated_at=? WHERE id=?",
                (json.dumps(progress.to_dict()), time.time(), job_id),
            )
        if self.bus._subscribers:
            job = self.get(job_id)
            job.progress = progress
            self.bus.publish(job)

    # Control across processes -----------------------------------------------------------------

    def request(self, job_id: str, control: str) -> Job:
        """Ask the owner of an active job to ``cancel`` or ``pause`` it.

        A queued job whose owner is gone, or that is not active, changes state here directly.
        """
        if control not in ("cancel", "pause"):
            raise ValidationError(f"Unknown control {control!r}", details={"control": control})
        job = self.get(job_id)
        if not job.active:
            if job.state == JobState.PAUSED and control == "cancel":
                return self.set_state(job_id, JobState.CANCELLED)
            if job.state in TERMINAL or job.state in (JobState.PAUSED, JobState.INTERRUPTED):
                return job
        self._conn().execute(
            f"UPDATE jobs SET control=?, updated_at=? WHERE id=? AND state IN {_ACTIVE_SQL}",
            (control, time.time(), job_id),
        )
        with self._changed:
            self._changed.notify_all()
        return self.get(job_id)

    def control(self, job_id: str) -> str:
        row = self._conn().execute("SELECT control FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row[0] if row else "cancel"

    def controls(self, job_ids: Iterable[str]) -> dict[str, str]:
        """The pending control request of each job that has one (one query for many jobs)."""
        ids = builtins.list(job_ids)
        if not ids:
            return {}
        rows = self._conn().execute(
            f"SELECT id, control FROM jobs WHERE control!='' AND id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        return dict(rows)

    def claim(self, job_id: str, from_states: Iterable[JobState]) -> Job:
        """Make this process the owner of a stopped job and queue it again (atomically)."""
        states = [JobState(s).value for s in from_states]
        cur = self._conn().execute(
            f"UPDATE jobs SET state='{JobState.QUEUED.value}', control='', owner_pid=?, owner_started=?, updated_at=?, "
            f"finished_at=NULL, error=NULL WHERE id=? AND state IN ({','.join('?' * len(states))})",
            (self.owner_pid, self.owner_started, time.time(), job_id, *states),
        )
        job = self.get(job_id)
        if cur.rowcount != 1:
            raise ConflictError(
                f"Job {job_id} is {job.state.value} and cannot be resumed",
                details={"job_id": job_id, "state": job.state.value},
            )
        self._notify(job, immediate=True)
        return job

    def mark_orphans_interrupted(self) -> builtins.list[str]:
        """Jobs whose owner process is gone become ``interrupted``; returns their ids."""
        rows = self._conn().execute(
            f"SELECT id, owner_pid, owner_started FROM jobs WHERE state IN {_ACTIVE_SQL}"
        ).fetchall()
        gone = []
        for job_id, pid, started in rows:
            if pid == self.owner_pid and started == self.owner_started:
                continue
            if not owner_alive(pid, started):
                gone.append(job_id)
        for job_id in gone:
            self._conn().execute(
                f"UPDATE jobs SET state='{JobState.INTERRUPTED.value}', control='', updated_at=?, finished_at=? "
                f"WHERE id=? AND state IN {_ACTIVE_SQL}",
                (time.time(), time.time(), job_id),
            )
        return gone

    # Resume routing ----------------------------------------------------------------------------

    def register_resumer(self, kind: str, resumer: Callable[[str], Job]) -> None:
        self._resumers[kind] = resumer

    def resume(self, job_id: str) -> Job:
        job = self.get(job_id)
        resumer = self._resumers.get(job.kind)
        if resumer is None and self.loader is not None:
            self.loader(job.kind)
            resumer = self._resumers.get(job.kind)
        if resumer is None:
            raise ConflictError(f"Jobs of kind {job.kind!r} cannot be resumed here", details={"job_id": job_id})
        return resumer(job_id)

    # Waiting -----------------------------------------------------------------------------------

    def _notify(self, job: Job, immediate: bool) -> None:
        self.bus.publish(job, immediate=immediate)
        with self._changed:
            self._changed.notify_all()

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait until a job is no longer queued or running (in this process or another)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if not job.active:
                return job
            if job.owner_pid != self.owner_pid and not owner_alive(job.owner_pid, None):
                self.mark_orphans_interrupted()
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"Job {job_id} still {job.state.value} after {timeout} s")
            with self._changed:
                self._changed.wait(0.2 if remaining is None else min(0.2, remaining))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

