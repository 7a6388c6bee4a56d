"""The engine: a plain Python library (no Jupyter imports) that every front door drives.

It is the ``core`` subpackage, so that ``model_studio.engine()`` (the process-wide Engine) stays a
plain function: a subpackage named ``engine`` would replace it on the package when imported.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from traitlets import TraitError

from ..config import Settings, json_safe
from ..errors import ValidationError
from .chat import ChatService
from .conversations import ConversationStore
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
        #: Problems found in settings.json at start-up (each entry skipped), shown by settings_dict().
        self.settings_file_errors: list[dict[str, Any]] = []
        self._settings_lock = threading.Lock()
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
        self.chat = ChatService(self.settings, self.library, self.jobs, self.runner)
        self.training = TrainingService(self.settings, self.jobs, self.chat, self.runner)
        self.video = VideoService(self.settings, self.jobs, self.library, self.runner)
        # Conversations: their own file beside state.sqlite (see core/conversations/store.py for why).
        self.conversations = ConversationStore(self.settings.home_path / "conversations.sqlite")

    # Settings ----------------------------------------------------------------------------------

    @property
    def _settings_file(self) -> Path:
        return self.settings.home_path / "settings.json"

    def _load_saved_settings(self) -> None:
        """Apply settings.json key by key: a bad file or value is logged, listed in
        ``settings_dict()["file_errors"]`` and skipped, never fatal (the studio starts with defaults)."""
        path = self._settings_file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self._settings_file_error(None, f"{path.name} could not be read ({exc}); using the defaults")
            return
        try:
            saved = json.loads(text)  # NaN/Infinity (written by older versions) parse; the traits refuse them
        except (ValueError, RecursionError) as exc:
            self._settings_file_error(None, f"{path.name} is not valid JSON ({exc}); using the defaults")
            return
        if not isinstance(saved, dict):
            self._settings_file_error(None, f"{path.name} must hold a JSON object, not {type(saved).__name__}; "
                                            "using the defaults")
            return
        for key, value in saved.items():
            if key not in self.MUTABLE_SETTINGS:
                self._settings_file_error(key, f"{key!r} is not a setting that can be saved; ignored")
                continue
            try:
                setattr(self.settings, key, value)
            except (ValidationError, TraitError) as exc:
                message = exc.message if isinstance(exc, ValidationError) else str(exc)
                self._settings_file_error(key, f"{message}; the default is used", value)

    def _settings_file_error(self, key: str | None, message: str, value: Any = None) -> None:
        log.warning("model_studio: %s: %s", self._settings_file, message)
        entry: dict[str, Any] = {"setting": key, "message": message}
        if key is not None:
            entry["value"] = json_safe(value)
        self.settings_file_errors.append(entry)

    def settings_dict(self) -> dict[str, Any]:
        """Every setting with its value, which ones can change at run time, and what was wrong with
        settings.json at start-up (``file_errors``). Always strict JSON (no NaN or Infinity)."""
        names = sorted(self.settings.trait_names(config=True))
        values = {n: getattr(self.settings, n) for n in names if n != "hf_token"}
        values["hf_token_set"] = bool(self.settings.hf_token)
        return {"settings": values, "mutable": list(self.MUTABLE_SETTINGS),
                "file_errors": list(self.settings_file_errors)}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change run-time settings (validated, all or nothing) and save them for the next start.

        Raises ValidationError naming the first bad setting; then nothing changes and nothing is saved.
        """
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Give at least one setting to change", details={"mutable": list(self.MUTABLE_SETTINGS)})
        bad = sorted(str(k) for k in set(changes) - set(self.MUTABLE_SETTINGS))
        if bad:
            raise ValidationError(f"Cannot change {', '.join(bad)} at run time",
                                  details={"settings": bad, "mutable": list(self.MUTABLE_SETTINGS)})
        with self._settings_lock:
            trial = Settings(**{k: getattr(self.settings, k) for k in self.MUTABLE_SETTINGS})
            for key, value in changes.items():
                try:
                    setattr(trial, key, value)  # the traits raise ValidationError naming the setting
                except TraitError as exc:  # e.g. a list where a folder list holds a number
                    raise ValidationError(f"Invalid value for {key}: {exc}",
                                          details={"setting": key, "value": json_safe(value)}) from None
            saved = {k: getattr(trial, k) for k in self.MUTABLE_SETTINGS}
            self._save_settings(saved)
            for key in changes:
                setattr(self.settings, key, getattr(trial, key))
            # The file now holds only valid values: what was wrong with it before is history.
            self.settings_file_errors = []
        if "extra_model_dirs" in changes:
            self.library.local.folders = self.settings.model_dirs()
            self.library.invalidate()
        if "max_concurrent_downloads" in changes:
            self.runner.pump()
        return self.settings_dict()

    def _save_settings(self, saved: dict[str, Any]) -> None:
        """Write settings.json atomically: a temporary file unique to this call, then a rename, so
        two processes (server and kernel) saving at once never mix or truncate each other's file."""
        home = self.settings.home_path
        fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".json.tmp", dir=home)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(saved, f, indent=2, allow_nan=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._settings_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
        self.hub.close()
        self.bus.close()
        self.jobs.close()
        self.conversations.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Engine", "Settings", "Job", "JobState", "JobStore", "Progress", "ModelInfo", "ModelRef", "Library",
           "DownloadManager", "ConversationStore"]
