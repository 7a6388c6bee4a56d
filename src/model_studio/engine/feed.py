"""Job changes from every process on the machine, for front doors that show live jobs.

This process's jobs arrive through the in-process event bus (several updates a second); jobs
owned by other processes (a download started in another kernel, or from the CLI) are read from
the shared job store, polled for rows changed since the last look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .jobs import Job, JobStore

log = logging.getLogger(__name__)


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
        import time

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
