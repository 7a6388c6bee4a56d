"""Jobs: the store (``state.sqlite``, shared by every process), their events, and the runner.

``store``: ``Job``, ``JobState``, ``Progress`` and ``JobStore``. ``events``: the in-process
``EventBus`` and the machine-wide ``JobFeed``. ``runner``: ``JobRunner``, which queues and runs
the jobs of every kind (downloads, video, batches, training) with one ``Control`` handle, one
poller for cross-process cancel and pause, and one shape of ``Job.error``.
"""

from .events import EventBus, JobFeed
from .runner import Control, JobRunner, RunFn, Stopped
from .store import ACTIVE, RESUMABLE, TERMINAL, Job, JobState, JobStore, Progress, owner_alive

__all__ = ["ACTIVE", "RESUMABLE", "TERMINAL", "Control", "EventBus", "Job", "JobFeed", "JobRunner", "JobState",
           "JobStore", "Progress", "RunFn", "Stopped", "owner_alive"]
