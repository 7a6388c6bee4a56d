"""Job events: the in-process ``EventBus`` and the machine-wide ``JobFeed``.

The bus publishes this process's job changes to subscribers, coalesced per job so a fast download
never floods a comm or the database. The feed adds jobs owned by other processes (a download
started in another kernel, or from the CLI), read from the shared job store, polled for rows
changed since the last look.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Job, JobStore

log = logging.getLogger(__name__)


Subscriber = Callable[["Job"], None]


class EventBus:
    """Publishes job snapshots to subscribers, at most one update per job every ``interval`` seconds.

    State changes are delivered at once; progress updates in between are coalesced so that only the
    latest snapshot of each job is sent.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._subscribers: list[Subscriber] = []
        self._pending: dict[str, Job] = {}
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, job: Job, *, immediate: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._subscribers:
                return
            due = immediate or now - self._last_sent.get(job.id, 0.0) >= self.interval
            if due:
                self._pending.pop(job.id, None)
                self._last_sent[job.id] = now
            else:
                self._pending[job.id] = job
                self._ensure_thread()
                return
        self._deliver(job)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="model-studio-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # Ticks every ``interval`` while anything is pending; cheap enough to keep simple.
        while not self._closed:
            self._stop.wait(self.interval)
            now = time.monotonic()
            ready: list[Job] = []
            with self._lock:
                for job_id, job in list(self._pending.items()):
                    if now - self._last_sent.get(job_id, 0.0) >= self.interval:
                        ready.append(job)
                        del self._pending[job_id]
                        self._last_sent[job_id] = now
            for job in ready:
                self._deliver(job)

    def _deliver(self, job: Job) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(job)
            except Exception:  # a broken subscriber must not break the job
                log.exception("job event subscriber failed")

    def close(self) -> None:
        self._closed = True
        self._stop.set()


class JobFeed:
    def __init__(self, store: JobStore, interval: float = 0.5) -> None:
        self.store = store
        self.interval = interval
        self._subscribers: list[Callable[[Job], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe_bus: Callable[[], None] | None = None
        self._seen: dict[str, float] = {}

    def subscribe(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` for every job change; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)
            if self._unsubscribe_bus is None:
                self._unsubscribe_bus = self.store.bus.subscribe(self._deliver)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._poll, name="job-feed", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                if not self._subscribers:
                    self._stop.set()
                    if self._unsubscribe_bus is not None:
                        self._unsubscribe_bus()
                        self._unsubscribe_bus = None

        return unsubscribe

    def _deliver(self, job: Job) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(job)
            except Exception:
                log.exception("job feed subscriber failed")

    def _poll(self) -> None:
        last = time.time()
        while not self._stop.wait(self.interval):
            try:
                # Clocks of different processes agree to well under a second; look back a little.
                changed = self.store.list(since=last - 2.0, limit=500)
            except Exception:
                log.exception("job feed poll failed")
                continue
            for job in reversed(changed):
                last = max(last, job.updated_at)
                if job.owner_pid == self.store.owner_pid:
                    continue  # the bus already delivered it
                if self._seen.get(job.id) == job.updated_at:
                    continue
                self._seen[job.id] = job.updated_at
                self._deliver(job)

    def close(self) -> None:
        self._stop.set()
