"""The engine: a plain Python library (no Jupyter imports) that every front door drives."""

from __future__ import annotations

import logging
import sys
import types

from ..config import Settings
from .downloads import DownloadManager
from .hub import HubClient
from .jobs import EventBus, Job, JobState, JobStore, Progress
from .library import Library, ModelInfo
from .refs import ModelRef
from .system import SystemMonitor

log = logging.getLogger(__name__)


class Engine:
    """Library, downloads, system (and later chat, training, video) over one job store.

    Processes share durable state, not memory: weights live in the Hugging Face cache and jobs in
    ``<home>/state.sqlite``, so a download started in a kernel shows in the server and vice versa.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.home_path.mkdir(parents=True, exist_ok=True)
        self.bus = EventBus(self.settings.event_interval)
        self.jobs = JobStore(self.settings.state_db, self.bus)
        interrupted = self.jobs.mark_orphans_interrupted()
        if interrupted:
            log.info("marked %d jobs of exited processes as interrupted", len(interrupted))
        self.hub = HubClient(self.settings)
        self.system = SystemMonitor([self.settings.home_path, self.settings.cache_path])
        self.downloads = DownloadManager(self.settings, self.jobs, self.hub, on_change=self._model_changed)
        self.library = Library(self.settings, self.hub, self.system, self.downloads.active_repos)

    def _model_changed(self, repo_id: str) -> None:
        self.library.invalidate(repo_id)

    def close(self) -> None:
        """Stop this process's downloads (they become resumable) and release resources."""
        self.downloads.close()
        self.bus.close()
        self.jobs.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CallableModule(types.ModuleType):
    """Lets ``model_studio.engine()`` return the process-wide Engine even after this subpackage
    (which shares the name) has been imported and has replaced the function on the package."""

    def __call__(self) -> Engine:
        from .. import get_engine

        return get_engine()


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["Engine", "Settings", "Job", "JobState", "JobStore", "Progress", "ModelInfo", "ModelRef", "Library",
           "DownloadManager"]
