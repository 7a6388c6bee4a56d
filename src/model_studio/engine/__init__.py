"""The engine: a plain Python library (no Jupyter imports) that every front door drives."""

from __future__ import annotations

import json
import logging
import sys
import types
from typing import Any

from ..config import Settings
from ..errors import ValidationError
from .chat import ChatService
from .downloads import DownloadManager
from .hub import HubClient
from .jobs import EventBus, Job, JobFeed, JobRunner, JobState, JobStore, Progress
from .library import Library, ModelInfo
from .refs import ModelRef
from .system import SystemMonitor
from .training import TrainingService
from .video import VideoService

log = logging.getLogger(__name__)


class Engine:
    """Library, downloads, chat, training, video and system over one job store.

    Processes share durable state, not memory: weights live in the Hugging Face cache and jobs in
    ``<home>/state.sqlite``, so a download started in a kernel shows in the server and vice versa.
    """

    #: Settings a user may change while the studio runs (REST, widgets); persisted in the home.
    MUTABLE_SETTINGS = ("max_concurrent_downloads", "files_per_download", "memory_budget", "idle_ttl",
                        "extra_model_dirs")

    def __init__(self, settings: Settings | None = None) -> None:
        explicit = settings is not None
        self.settings = settings or Settings()
        self.settings.home_path.mkdir(parents=True, exist_ok=True)
        if not explicit:
            self._load_saved_settings()
        self.bus = EventBus(self.settings.event_interval)
        self.jobs = JobStore(self.settings.state_db, self.bus)
        # One runner for every kind of job: one queue per lane, one poller for other processes' requests.
        self.runner = JobRunner(self.jobs)
        interrupted = self.jobs.mark_orphans_interrupted()
        if interrupted:
            log.info("marked %d jobs of exited processes as interrupted", len(interrupted))
        self.hub = HubClient(self.settings)
        self.system = SystemMonitor([self.settings.home_path, self.settings.cache_path])
        self.downloads = DownloadManager(self.settings, self.jobs, self.hub, self.runner,
                                         on_change=self._model_changed)
        self.library = Library(self.settings, self.hub, self.system, self.downloads.active_repos)
        self.feed = JobFeed(self.jobs)
        self.chat = ChatService(self.settings, self.library, self.jobs)
        self.training = TrainingService(self.settings, self.jobs, self.chat)
        self.video = VideoService(self.settings, self.jobs, self.library)

    # Settings ----------------------------------------------------------------------------------

    @property
    def _settings_file(self):
        return self.settings.home_path / "settings.json"

    def _load_saved_settings(self) -> None:
        try:
            saved = json.loads(self._settings_file.read_text())
        except (OSError, ValueError):
            return
        for key, value in saved.items():
            if key in self.MUTABLE_SETTINGS:
                try:
                    setattr(self.settings, key, value)
                except Exception:
                    log.warning("ignoring saved setting %s=%r", key, value)

    def settings_dict(self) -> dict[str, Any]:
        """Every setting with its value, and which ones can change at run time."""
        names = sorted(self.settings.trait_names(config=True))
        values = {n: getattr(self.settings, n) for n in names if n != "hf_token"}
        values["hf_token_set"] = bool(self.settings.hf_token)
        return {"settings": values, "mutable": list(self.MUTABLE_SETTINGS)}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change run-time settings (validated, all or nothing) and save them for the next start."""
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Give at least one setting to change", details={"mutable": list(self.MUTABLE_SETTINGS)})
        bad = sorted(set(changes) - set(self.MUTABLE_SETTINGS))
        if bad:
            raise ValidationError(f"Cannot change {', '.join(bad)} at run time",
                                  details={"settings": bad, "mutable": list(self.MUTABLE_SETTINGS)})
        trial = Settings(**{k: getattr(self.settings, k) for k in self.MUTABLE_SETTINGS})
        try:
            for key, value in changes.items():
                setattr(trial, key, value)  # validators raise ValidationError; TraitError for bad types
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(f"Invalid setting: {exc}", details={"changes": changes}) from None
        for key in changes:
            setattr(self.settings, key, getattr(trial, key))
        if "extra_model_dirs" in changes:
            self.library.local.folders = self.settings.model_dirs()
            self.library.invalidate()
        if "max_concurrent_downloads" in changes:
            self.runner.pump()
        saved = {k: getattr(self.settings, k) for k in self.MUTABLE_SETTINGS}
        tmp = self._settings_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved, indent=2))
        tmp.replace(self._settings_file)
        return self.settings_dict()

    def _model_changed(self, repo_id: str) -> None:
        self.library.invalidate(repo_id)

    def close(self) -> None:
        """Stop this process's downloads (they become resumable) and release resources."""
        self.feed.close()
        self.video.close()
        self.training.close()
        self.chat.close()
        self.downloads.close()
        self.runner.close()
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
