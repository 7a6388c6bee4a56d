"""The job runner: queues, worker threads, stop requests and terminal states for every kind of job.

A service registers its kind once (``register``) with a ``run(job, control)`` function and what is
specific to it (its lane, whether it can pause, a clean-up on stop), then ``submit``s jobs. The
runner does the rest, the same way for downloads, video generations, chat batches and training runs:

- a FIFO queue per lane (``download``, ``video:cuda:0``, ...) with a concurrency per lane, read
  each time a job could start, so a setting changed at run time applies to the next start;
- a worker thread per running job, started in a compare-and-set with the store (``QUEUED`` with
  no control request -> ``RUNNING``), so a cancel racing the start cannot lose;
- one ``Control`` per running job: ``check()`` raises ``Stopped`` once a cancel or pause was asked
  (in this process, or through the store's control flag from another one), ``stopped`` is the
  cheap in-memory flag for tight loops, ``sleep()`` waits but wakes on a stop;
- one poller thread for cross-process requests (one query for all jobs of this process), which
  also stops queued jobs at once;
- the terminal states: the run's return value -> ``completed``; ``Stopped`` -> ``cancelled``,
  ``paused`` or ``interrupted``; any exception -> ``failed`` with one error shape,
  ``StudioError.to_dict()["error"]`` (an unexpected exception is logged with its traceback and
  stored as a ``StudioError`` naming its class), with the last progress the run reported;
- find-or-resume of an equivalent job (``find_or_resume``), so a repeated request does not start
  a duplicate.

A process that dies with jobs running leaves them ``running`` in the store; the next engine marks
them ``interrupted`` (``JobStore.mark_orphans_interrupted``) and they can be resumed.
"""

from __future__ import annotations

import collections
import functools
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConflictError, StudioError
from .store import ACTIVE, RESUMABLE, Job, JobState, JobStore, Progress

log = logging.getLogger(__name__)

#: Seconds between two looks at the store for control requests from other processes.
POLL_INTERVAL = 0.2


class Stopped(Exception):
    """Raised by ``Control.check()`` (and ``sleep()``) when the job was asked to stop.

    ``state`` is where the job ends: ``cancelled``, ``paused`` or ``interrupted``.
    """

    def __init__(self, state: JobState) -> None:
        super().__init__(state.value)
        self.state = state


class Control:
    """The handle a running job's ``run(job, control)`` uses to notice stop requests and report progress."""

    def __init__(self, store: JobStore, job_id: str, states: Callable[[str], JobState]) -> None:
        self.store = store
        self.job_id = job_id
        self._states = states  # control flag ("cancel", "pause") -> the state it leads to
        self._event = threading.Event()
        self._children: list[Control] = []
        self._lock = threading.Lock()
        self.state: JobState | None = None  # where a stop leads, once one was asked
        self.last_progress: Progress | None = None

    def request(self, state: JobState) -> None:
        """Ask the job to stop and end as ``state`` (the first request wins)."""
        with self._lock:
            if self.state is None:
                self.state = state
            children = list(self._children)
        self._event.set()
        for child in children:
            child.request(state)

    @property
    def stopped(self) -> bool:
        """True once a stop was asked in this process or seen by the poller (no database read)."""
        return self._event.is_set()

    @property
    def event(self) -> threading.Event:
        """Set on a stop request; for APIs that take an event (``chat.stream(cancel=...)``)."""
        return self._event

    def check(self) -> None:
        """Raise ``Stopped`` if a cancel or pause was asked, here or through the store (read now)."""
        if not self._event.is_set():
            flag = self.store.control(self.job_id)
            if flag:
                self.request(self._states(flag))
        if self._event.is_set():
            raise Stopped(self.state or JobState.CANCELLED)

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raise ``Stopped`` as soon as a stop is asked."""
        if self._event.wait(max(0.0, seconds)):
            self.check()

    def progress(self, progress: Progress, *, force: bool = False) -> None:
        """Publish ``progress`` (coalesced); the runner writes the last one with the job's final state."""
        self.last_progress = progress
        self.store.set_progress(self.job_id, progress, force=force)

    def fork(self) -> Control:
        """A control for one part of the job (a file of a download): it stops with the job, and can be
        stopped alone (``request``) to end the job's other parts after one of them failed."""
        child = Control(self.store, self.job_id, self._states)
        child.last_progress = self.last_progress
        with self._lock:
            self._children.append(child)
            if self.state is not None:
                child.request(self.state)
        return child


RunFn = Callable[[Job, Control], Any]


@dataclass
class _Kind:
    run: RunFn
    lane: Callable[[Job], str]
    concurrency: Callable[[], int | None]
    pausable: bool
    close_state: JobState
    on_stop: Callable[[Job, JobState], None] | None
    error_for: Callable[[Exception, Job], StudioError | None] | None


@dataclass
class _Lane:
    queue: collections.deque[str] = field(default_factory=collections.deque)
    running: set[Control] = field(default_factory=set)  # one per run (a job resumed at once runs anew)


class JobRunner:
    """Runs the jobs of every registered kind for one engine (one store, one poller)."""

    #: Seconds an idle worker thread waits for another job before it ends.
    WORKER_IDLE = 300.0

    def __init__(self, store: JobStore, poll_interval: float = POLL_INTERVAL) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._kinds: dict[str, _Kind] = {}
        self._lanes: dict[str, _Lane] = {}
        self._controls: dict[str, Control] = {}
        self._threads: dict[str, threading.Event] = {}  # job id -> set when its run has returned
        self._idle: list[queue.Queue[Any]] = []  # inboxes of worker threads waiting for a job
        self._queued: dict[str, str] = {}  # job id -> lane, for jobs waiting in a lane here
        self._kind: dict[str, str] = {}  # job id -> kind, for jobs queued or running here
        self._lock = threading.RLock()
        self._poller: threading.Thread | None = None
        self._wake = threading.Event()
        self._closed: set[str] = set()  # kinds closed: nothing new starts
        self._all_closed = False
        #: Builds the service that registers ``kind`` when it is not registered yet (the engine
        #: constructs services on first use: a download child never builds chat, video or training).
        self.loader: Callable[[str], object] | None = None
        #: Energy accounts (``core/carbon.py``): measure the kinds that compute around their runs.
        self.metering: Any = None

    # Registration -----------------------------------------------------------------------------

    def register(
        self,
        kind: str,
        run: RunFn,
        *,
        lane: str | Callable[[Job], str] | None = None,
        concurrency: int | Callable[[], int | None] | None = 1,
        pausable: bool = True,
        close_state: JobState = JobState.PAUSED,
        on_stop: Callable[[Job, JobState], None] | None = None,
        error_for: Callable[[Exception, Job], StudioError | None] | None = None,
    ) -> None:
        """Run jobs of ``kind`` with ``run(job, control)``; its return value is the job's result.

        ``lane``: the queue a job waits in (a name, or a function of the job, e.g. its device);
        ``concurrency``: jobs running at once per lane (``None``: no limit; a function is read at
        each start); ``pausable``: a pause request pauses (else it cancels); ``close_state``: where
        a running job ends when the engine closes; ``on_stop(job, state)``: clean-up before a
        stopped job's state is written (a waiter never sees leftovers); ``error_for(exc, job)``:
        the typed error for an exception that is not a ``StudioError`` (None: the generic one).
        """
        lane_of: Callable[[Job], str]
        if callable(lane):
            lane_of = lane
        else:
            name = lane or kind
            lane_of = lambda job: name  # noqa: E731
        limit: Callable[[], int | None] = concurrency if callable(concurrency) else (lambda: concurrency)
        self._kinds[kind] = _Kind(run, lane_of, limit, pausable, close_state, on_stop, error_for)

    def _spec(self, kind: str) -> _Kind | None:
        spec = self._kinds.get(kind)
        if spec is None and self.loader is not None:
            self.loader(kind)
            spec = self._kinds.get(kind)
        return spec

    def state_for(self, kind: str, flag: str) -> JobState:
        """The state a control flag (``cancel``, ``pause``) leads to for jobs of ``kind``."""
        spec = self._spec(kind)
        if flag == "pause" and (spec is None or spec.pausable):
            return JobState.PAUSED
        return JobState.CANCELLED

    # Submitting -------------------------------------------------------------------------------

    def submit(self, job: Job | str) -> Job:
        """Queue a ``queued`` job of a registered kind in its lane; returns its snapshot."""
        job = self.store.get(job) if isinstance(job, str) else job
        spec = self._spec(job.kind)
        if spec is None:
            raise ConflictError(f"No runner for jobs of kind {job.kind!r}", details={"job_id": job.id})
        if self._all_closed or job.kind in self._closed:
            raise ConflictError("The engine is closing", details={"job_id": job.id})
        lane = spec.lane(job)
        with self._lock:
            # (Its previous run may still be finishing here: the new one waits in the lane all the same.)
            if job.id not in self._queued:
                self._lanes.setdefault(lane, _Lane()).queue.append(job.id)
                self._queued[job.id] = lane
                self._kind[job.id] = job.kind
        self.pump()
        return job

    def create(self, kind: str, params: dict[str, Any], *, title: str = "") -> Job:
        """Create a job of ``kind`` in the store and queue it."""
        return self.submit(self.store.create(kind, params, title=title))

    def resume(self, job_id: str, from_states: Collection[JobState] = RESUMABLE) -> Job:
        """Make this process the owner of a stopped job (atomically) and queue it again."""
        job = self.store.claim(job_id, from_states)
        return self.submit(job)

    def find_or_resume(
        self,
        kind: str,
        same: Callable[[Job], bool],
        *,
        reuse: Collection[JobState] = ACTIVE,
        resume: Collection[JobState] = RESUMABLE - {JobState.FAILED},
        limit: int = 500,
    ) -> Job | None:
        """An existing job of ``kind`` for which ``same(job)``, instead of a duplicate: one in ``reuse``
        states as it is (an active one, by default), else one in ``resume`` states resumed (through
        the kind's resumer, ``JobStore.resume``). None when there is none."""
        for job in self.store.list(kind, limit=limit):
            if not same(job):
                continue
            if job.state in reuse:
                return job
            if job.state in resume:
                try:
                    return self.store.resume(job.id)
                except ConflictError:  # resumed by another process this instant: follow that run
                    fresh = self.store.get(job.id)
                    if fresh.state in reuse or fresh.active:
                        return fresh
        return None

    # Stopping ---------------------------------------------------------------------------------

    def request(self, job_id: str, flag: str) -> Job:
        """Ask a job to ``cancel`` or ``pause``: at once if it waits or runs here, else through the
        store for the process that owns it."""
        job = self.store.get(job_id)
        state = self.state_for(job.kind, flag)
        with self._lock:
            control = self._controls.get(job_id)
            lane = self._dequeue(job_id)
        if lane is not None:  # never started: it ends here, unless a worker took it this instant
            if self._stop_queued(job, state):
                return self.store.get(job_id)
        job = self.store.request(job_id, flag)  # other processes (and a late start) see it too
        if control is not None:
            control.request(state)
        return job

    def cancel(self, job_id: str) -> Job:
        return self.request(job_id, "cancel")

    def pause(self, job_id: str) -> Job:
        return self.request(job_id, "pause")

    def _dequeue(self, job_id: str) -> str | None:
        """Take a job out of its lane here (under the lock); returns the lane, None if it was not queued."""
        lane = self._queued.pop(job_id, None)
        if lane is not None:
            self._lanes[lane].queue.remove(job_id)
            self._kind.pop(job_id, None)
        return lane

    def _stop_queued(self, job: Job, state: JobState) -> bool:
        """End a job that never started as ``state`` if it is still queued; False if it is not."""
        spec = self._spec(job.kind)
        fresh = self.store.get(job.id)
        if fresh.state != JobState.QUEUED:
            return False
        if spec is not None and spec.on_stop is not None:
            self._call_on_stop(spec, fresh, state)
        try:
            self.store.set_state(job.id, state, expect=(JobState.QUEUED,))
            return True
        except ConflictError:
            return False

    # Running ----------------------------------------------------------------------------------

    def pump(self) -> None:
        """Start queued jobs while their lane has room (call it after a concurrency change)."""
        starts: list[tuple[str, Control]] = []
        with self._lock:
            for lane in self._lanes.values():
                while lane.queue:
                    job_id = lane.queue[0]
                    kind = self._kind[job_id]
                    if kind in self._closed or self._all_closed:
                        break
                    limit = self._kinds[kind].concurrency()
                    if limit is not None and len(lane.running) >= max(1, int(limit)):
                        break
                    lane.queue.popleft()
                    self._queued.pop(job_id, None)
                    control = Control(self.store, job_id, functools.partial(self.state_for, kind))
                    lane.running.add(control)
                    self._controls[job_id] = control
                    starts.append((job_id, control))
            for job_id, control in starts:
                done = threading.Event()
                self._threads[job_id] = done
                self._hand_over((job_id, control, done))
            if (self._controls or self._queued) and self._poller is None and not self._all_closed:
                self._poller = threading.Thread(target=self._poll, name="job-controls", daemon=True)
                self._poller.start()

    def _hand_over(self, item: tuple[str, Control, threading.Event]) -> None:
        """Run a job on an idle worker thread, or a new one (called under the lock).

        Worker threads outlive their jobs and run the next ones: a thread made for every job ran
        torch (OpenMP) at half speed on this 2-core machine once another thread had used it first
        (a video generation took twice as long as the same call in the main thread).
        """
        inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.Queue()
            threading.Thread(target=self._serve, args=(inbox,), name="job-worker", daemon=True).start()
        inbox.put(item)

    def _serve(self, inbox: queue.Queue[Any]) -> None:
        """A worker thread: runs the jobs handed to it; ends after WORKER_IDLE seconds without one."""
        while True:
            try:
                item = inbox.get(timeout=self.WORKER_IDLE)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # else a job is being handed over right now
                        self._idle.remove(inbox)
                        return
                continue
            if item is None:  # the runner closed
                return
            job_id, control, done = item
            try:
                self._work(job_id, control)
            finally:
                done.set()
            with self._lock:
                if self._all_closed:
                    return
                self._idle.append(inbox)

    def _work(self, job_id: str, control: Control) -> None:
        try:
            self._execute(job_id, control)
        except Exception:  # the runner itself must never leave a lane blocked
            log.exception("job %s: the runner failed", job_id)
        finally:
            with self._lock:
                if self._controls.get(job_id) is control:  # not a new run of the same job
                    del self._controls[job_id]
                    self._threads.pop(job_id, None)
                    if job_id not in self._queued:
                        self._kind.pop(job_id, None)
                for lane in self._lanes.values():
                    lane.running.discard(control)
            self.pump()

    def _execute(self, job_id: str, control: Control) -> None:
        job = self.store.get(job_id)
        spec = self._kinds[job.kind]
        if job.state != JobState.QUEUED:
            return  # cancelled, or taken by another process, since it was queued
        if control.stopped:  # the engine closed before it started
            self._stop_queued(job, control.state or spec.close_state)
            return
        try:
            # Only if still queued with no control request, in one step: a cancel racing this start
            # (from this process or another) wins or loses as a whole.
            job = self.store.set_state(job_id, JobState.RUNNING, expect=(JobState.QUEUED,), expect_control="")
        except ConflictError:
            fresh = self.store.get(job_id)
            if fresh.state == JobState.QUEUED and fresh.control:
                self._stop_queued(fresh, self.state_for(job.kind, fresh.control))
            return
        try:
            run = spec.run if self.metering is None else self.metering.wrap(job.kind, spec.run)
            result = run(job, control)
        except Stopped as stop:
            self._finish(job, stop.state, control, spec=spec)
        except StudioError as exc:
            self._finish(job, JobState.FAILED, control, error=exc.to_dict()["error"])
        except Exception as exc:
            log.exception("%s job %s failed", job.kind, job_id)
            self._finish(job, JobState.FAILED, control, error=self.error_shape(exc, job, spec.error_for))
        else:
            self._finish(job, JobState.COMPLETED, control, result=result)

    @staticmethod
    def error_shape(exc: BaseException, job: Job | None = None,
                    error_for: Callable[[Exception, Job], StudioError | None] | None = None) -> dict[str, Any]:
        """The one shape of ``Job.error``: ``{type, message, details, resolution_steps}``.

        A ``StudioError`` as it is; another exception through the kind's ``error_for``, else as a
        ``StudioError`` naming the exception's class (no traceback: that goes to the log).
        """
        if isinstance(exc, StudioError):
            return exc.to_dict()["error"]
        typed = error_for(exc, job) if error_for is not None and job is not None and isinstance(exc, Exception) else None
        if typed is None:
            name = type(exc).__name__
            typed = StudioError(f"{name}: {exc}"[:1000], details={"exception": name})
        return typed.to_dict()["error"]

    def _finish(self, job: Job, state: JobState, control: Control, *, result: Any = None,
                error: dict[str, Any] | None = None, spec: _Kind | None = None) -> None:
        if spec is not None and spec.on_stop is not None:
            self._call_on_stop(spec, job, state)
        try:
            self.store.set_state(job.id, state, result=result, error=error, progress=control.last_progress,
                                 expect=(JobState.RUNNING,))
        except ConflictError as exc:  # e.g. marked interrupted by a process that thought this one dead
            log.warning("job %s ended as %s but was %s", job.id, state.value, exc.details.get("state"))

    @staticmethod
    def _call_on_stop(spec: _Kind, job: Job, state: JobState) -> None:
        try:
            assert spec.on_stop is not None
            spec.on_stop(job, state)
        except Exception:
            log.exception("clean-up of stopped job %s failed", job.id)

    def _poll(self) -> None:
        """Honour cancel and pause asked through the store by other processes (the server, a kernel)."""
        while not self._wake.wait(self.poll_interval):
            with self._lock:
                running = dict(self._controls)
                queued = dict(self._queued)
                if not running and not queued:  # under the lock: pump() starts a new poller after this
                    self._poller = None
                    return
            try:
                flags = self.store.controls([*running, *queued])
            except Exception:
                log.exception("reading job controls failed")
                continue
            for job_id, flag in flags.items():
                if job_id in running:
                    control = running[job_id]
                    if not control.stopped:
                        control.request(control._states(flag))
                    continue
                with self._lock:
                    lane = self._dequeue(job_id)
                if lane is not None:
                    job = self.store.get(job_id)
                    self._stop_queued(job, self.state_for(job.kind, flag))

    # Introspection and shutdown ---------------------------------------------------------------

    def running(self, kind: str | None = None) -> list[str]:
        """Ids of the jobs running in this process (of ``kind``)."""
        with self._lock:
            return [i for i in self._controls if kind is None or self._kind.get(i) == kind]

    def queued(self, kind: str | None = None) -> list[str]:
        """Ids of the jobs waiting in this process's lanes (of ``kind``), in order."""
        with self._lock:
            return [i for lane in self._lanes.values() for i in lane.queue
                    if kind is None or self._kind.get(i) == kind]

    def close(self, kinds: Iterable[str] | None = None, timeout: float = 5.0) -> None:
        """Stop the jobs of ``kinds`` (all when None) in this process: queued and running ones end in
        their kind's ``close_state`` (running ones at their next check); waits up to ``timeout`` s."""
        import time

        names = set(self._kinds) if kinds is None else set(kinds)
        if kinds is None:
            self._all_closed = True
        self._closed |= names
        with self._lock:
            waiting = [(i, self._kind[i]) for i in list(self._queued) if self._kind.get(i) in names]
            for job_id, _kind in waiting:
                self._dequeue(job_id)
            stopping = [(i, c, self._kind[i]) for i, c in self._controls.items() if self._kind.get(i) in names]
            threads = [self._threads[i] for i, _, _ in stopping if i in self._threads]
        for job_id, kind in waiting:
            self._stop_queued(self.store.get(job_id), self._kinds[kind].close_state)
        for _job_id, control, kind in stopping:
            control.request(self._kinds[kind].close_state)
        deadline = time.monotonic() + timeout
        for done in threads:
            done.wait(max(0.0, deadline - time.monotonic()))
        if kinds is None:
            self._wake.set()
            with self._lock:
                idle, self._idle = self._idle, []
            for inbox in idle:
                inbox.put(None)
            poller = self._poller
            if poller is not None:
                poller.join(1.0)


__all__ = ["Control", "JobRunner", "RunFn", "Stopped"]
