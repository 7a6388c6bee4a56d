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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from traitlets import TraitError

from ..config import Settings, json_safe
from ..errors import StudioError, ValidationError
from ._settings import changes_between, read_saved
from .carbon import EnergyAccounts
from .downloads import DownloadManager
from .hub import HubClient
from .imports import ModelImports
from .jobs import EventBus, Job, JobFeed, JobRunner, JobState, JobStore, Progress
from .library import Library, ModelInfo
from .library.verify import VerifyJobs
from .refs import ModelRef
from .system import SystemMonitor

if TYPE_CHECKING:
    from .arbiter import Arbiter
    from .auth import HubAuth
    from .chat import ChatService
    from .conversations import ConversationStore
    from .disk_usage import DiskUsage
    from .host import HostService
    from .job_center import JobCenter
    from .remote import EndpointService
    from .training import TrainingService
    from .video import VideoService

log = logging.getLogger(__name__)


_T = TypeVar("_T")


class _OnFirstUse(Generic[_T]):
    """An engine service built the first time it is read, once, under the engine's lock.

    A process that only downloads (``model-studio pull``, a kernel's first ``pull``) never imports
    or builds chat, training, video, the model host or the job center: that halved the engine's
    own import time (the download bench's ``process`` ratio pays it). A non-data descriptor: once
    built, the instance attribute answers without calling back here.
    """

    def __init__(self, build: Callable[[Engine], _T]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, engine: None, owner: type | None = None) -> _OnFirstUse[_T]: ...
    @overload
    def __get__(self, engine: Engine, owner: type | None = None) -> _T: ...
    def __get__(self, engine: Engine | None, owner: type | None = None) -> _T | _OnFirstUse[_T]:
        if engine is None:
            return self
        built = engine.__dict__
        if self.name not in built:
            with engine._build_lock:
                if self.name not in built:
                    built[self.name] = self.build(engine)
        return cast(_T, built[self.name])

    def built(self, engine: Engine) -> _T | None:
        """The service when it was built, else None (``close`` closes only those)."""
        return cast("_T | None", engine.__dict__.get(self.name))


def _chat(eng: Engine) -> ChatService:
    """Backends, loaded models, generation and batches."""
    from .chat import ChatService

    chat = ChatService(eng.settings, eng.library, eng.jobs, eng.runner)
    # Remote models (remote/<endpoint>/<id>) are reached through engine.endpoints, opened on first use.
    chat.endpoints_factory = lambda: eng.endpoints
    chat.energy = eng.energy  # each answer adds to its model's energy of the day
    if eng.host.enabled:
        from .host import HostChat

        chat.remote = HostChat(eng.host.client, chat)
    return chat


def _video(eng: Engine) -> VideoService:
    """Video pipelines, plans and generations (accounted by the chat models' arbiter)."""
    from .video import VideoService

    video = VideoService(eng.settings, eng.jobs, eng.library, eng.runner)
    eng.chat.arbiter.attach(video=video.pipelines)
    if eng.host.enabled:
        from .host import HostVideo

        video.remote = HostVideo(eng.host.client)
    return video


def _training(eng: Engine) -> TrainingService:
    """LoRA fine-tuning runs in worker processes, datasets, merges."""
    from .training import TrainingService

    return TrainingService(eng.settings, eng.jobs, eng.chat, eng.runner)


def _arbiter(eng: Engine) -> Arbiter:
    """Who holds RAM and GPU memory (chat models, video pipelines, reservations) and room for a load."""
    eng.video  # noqa: B018 - builds the video service, which attaches its pipelines to the arbiter
    return eng.chat.arbiter


def _auth(eng: Engine) -> HubAuth:
    """The Hugging Face login (whoami, saved token, logout)."""
    from .auth import HubAuth

    return HubAuth(eng.hub)


def _job_center(eng: Engine) -> JobCenter:
    """Every kind of job: list, cancel, resume, delete, clean up."""
    from .job_center import JobCenter

    return JobCenter(eng)


def _disk(eng: Engine) -> DiskUsage:
    """Bytes per model store, duplicates across them, what could be freed."""
    from .disk_usage import DiskUsage

    return DiskUsage(eng)


def _host(eng: Engine) -> HostService:
    """The model host of this home (``model_host`` setting): chat and video run there when enabled."""
    from .host import HostService

    return HostService(eng.settings)


#: The service that registers each kind of job (its runner and resumer), built when a job of that
#: kind is cancelled or resumed before the service was used in this process.
_SERVICE_OF_KIND = {"video": "video", "train": "training", "batch": "chat"}


class Engine:
    """Library, downloads, chat, training, video and system over one job store.

    Processes share durable state, not memory: weights live in the Hugging Face cache and jobs in
    ``<home>/state.sqlite``, so a download started in a kernel shows in the server and vice versa.
    """

    #: Settings a user may change while the studio runs (REST, widgets); persisted in the home.
    MUTABLE_SETTINGS = ("max_concurrent_downloads", "files_per_download", "memory_budget", "idle_ttl",
                        "extra_model_dirs", "scan_lmstudio", "scan_ollama", "lmstudio_models_dir",
                        "ollama_models_dir", "grid_intensity", "cpu_tdp")

    def __init__(self, settings: Settings | None = None) -> None:
        explicit = settings is not None
        self.settings = settings or Settings()
        self.settings.home_path.mkdir(parents=True, exist_ok=True)
        #: Problems found in settings.json at start-up (each entry skipped), shown by settings_dict().
        self.settings_file_errors: list[dict[str, Any]] = []
        self._settings_lock = threading.Lock()
        self._build_lock = threading.RLock()  # services built on first use (one builds another)
        #: Settings set from settings.json ("file") or through update_settings ("runtime").
        self._setting_sources: dict[str, str] = {}
        #: The run-time settings before settings.json: what a key removed from the file goes back to.
        self._base_settings = self._mutable_values()
        if not explicit:
            self._load_saved_settings()
        self.bus = EventBus(self.settings.event_interval)
        self.jobs = JobStore(self.settings.state_db, self.bus)
        # One runner for every kind of job: one queue per lane, one poller for other processes' requests.
        self.runner = JobRunner(self.jobs)
        #: Energy (Wh) and carbon (gCO2e) of every job that computes and of chat answers.
        self.energy = EnergyAccounts(self.settings)
        self.runner.metering = self.energy
        interrupted = self.jobs.mark_orphans_interrupted()
        if interrupted:
            log.info("marked %d jobs of exited processes as interrupted", len(interrupted))
        self.hub = HubClient(self.settings)
        self.system = SystemMonitor([self.settings.home_path, self.settings.cache_path])
        self.downloads = DownloadManager(self.settings, self.jobs, self.hub, self.runner,
                                         on_change=self._model_changed)
        self.library = Library(self.settings, self.hub, self.system, self.downloads.active_repos)
        self.library.verifications = VerifyJobs(self.library, self.jobs, self.runner)
        #: Imports by path and by URL (``library.import_model`` / ``library.import_url`` use it)
        self.imports = ModelImports(self.settings, self.jobs, self.runner, self.library.local,
                                    on_change=self._model_changed)
        self.library.imports = self.imports
        self.feed = JobFeed(self.jobs)
        # chat, training, video, arbiter, auth, job_center and host are built on first use (_OnFirstUse);
        # a job of their kind cancelled or resumed here before that builds its service first.
        self.runner.loader = self.jobs.loader = self._service_for_kind
        self._conversations: ConversationStore | None = None
        self._endpoints: EndpointService | None = None
        self.library.remote_models = self._remote_models

    chat = _OnFirstUse(_chat)
    video = _OnFirstUse(_video)
    training = _OnFirstUse(_training)
    arbiter = _OnFirstUse(_arbiter)
    auth = _OnFirstUse(_auth)
    job_center = _OnFirstUse(_job_center)
    host = _OnFirstUse(_host)
    disk = _OnFirstUse(_disk)

    def _service_for_kind(self, kind: str) -> object:
        name = _SERVICE_OF_KIND.get(kind)
        return getattr(self, name) if name else None

    def memory_holders(self) -> dict[str, Any]:
        """Who holds RAM and GPU memory: the model host's view when this engine uses a host that is
        up (the models are there; reservations are shared through state.sqlite), else this process's."""
        if self.host.enabled:
            remote = self.host.memory()
            if remote is not None:
                return remote
        return self.arbiter.snapshot()

    @property
    def conversations(self) -> ConversationStore:
        """Saved chat conversations: their own file beside state.sqlite (see core/conversations/store.py
        for why), opened on first use, so an engine that never chats (a download child, a training
        worker) neither creates the file nor imports pydantic for it."""
        if self._conversations is None:
            with self._settings_lock:
                if self._conversations is None:
                    from .conversations import ConversationStore

                    self._conversations = ConversationStore(self.settings.home_path / "conversations.sqlite")
        return self._conversations

    @property
    def endpoints(self) -> EndpointService:
        """Remote serving engines (``core.remote``): add, list, test, update, remove; their models are
        ``remote/<endpoint>/<model id>``. Opened on first use (it imports pydantic)."""
        if self._endpoints is None:
            with self._settings_lock:
                if self._endpoints is None:
                    from .remote import EndpointService

                    self._endpoints = EndpointService(self.settings.home_path)
        return self._endpoints

    def _remote_models(self) -> list[dict[str, Any]]:
        """The remote endpoints' models, or nothing (without importing anything) when none is registered."""
        if self._endpoints is None and not (self.settings.home_path / "endpoints.json").exists():
            return []
        try:
            return self.endpoints.models()
        except StudioError as exc:  # a damaged endpoints.json must not empty the library or the picker
            log.warning("model_studio: remote models not listed: %s", exc.one_line())
            return []

    def capabilities(self) -> dict[str, Any]:
        """Models per task and format, local and available (``core.integrations``)."""
        from .integrations import capabilities

        return capabilities(self)

    def backends(self) -> list[dict[str, Any]]:
        """Each backend's status, suggestions and statistics (``core.integrations``)."""
        from .integrations import backends

        return backends(self)

    # Settings ----------------------------------------------------------------------------------

    @property
    def _settings_file(self) -> Path:
        return self.settings.home_path / "settings.json"

    def _load_saved_settings(self) -> None:
        """Apply settings.json key by key: a bad file or value is logged, listed in
        ``settings_dict()["file_errors"]`` and skipped, never fatal (the studio starts with defaults)."""
        saved = read_saved(self._settings_file, self.MUTABLE_SETTINGS, self._base_settings)
        for key, value in saved.values.items():
            setattr(self.settings, key, value)
            self._setting_sources[key] = "file"
        self.settings_file_errors = saved.errors

    def _mutable_values(self) -> dict[str, Any]:
        return {k: getattr(self.settings, k) for k in self.MUTABLE_SETTINGS}

    def settings_dict(self) -> dict[str, Any]:
        """Every setting with its value and its source (default, environment, config, file, runtime),
        which ones can change at run time, and what was wrong with settings.json when it was last
        read (``file_errors``). Always strict JSON (no NaN or Infinity)."""
        names = sorted(self.settings.trait_names(config=True))
        values = {n: getattr(self.settings, n) for n in names if n != "hf_token"}
        values["hf_token_set"] = bool(self.settings.hf_token)
        sources = {n: self._setting_sources.get(n) or self.settings.source(n) for n in names if n != "hf_token"}
        sources["hf_token_set"] = self.settings.source("hf_token")
        return {"settings": values, "sources": sources, "mutable": list(self.MUTABLE_SETTINGS),
                "file_errors": list(self.settings_file_errors)}

    def update_settings(self, changes: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Change run-time settings (validated, all or nothing) and save them for the next start.

        Raises ValidationError naming the first bad setting; then nothing changes and nothing is saved.
        ``dry_run``: validate and report what would change (``changed``: {name: {from, to}}) without
        changing anything in memory or on disk.
        """
        if not isinstance(changes, dict) or not changes:
            raise ValidationError("Give at least one setting to change", details={"mutable": list(self.MUTABLE_SETTINGS)})
        bad = sorted(str(k) for k in set(changes) - set(self.MUTABLE_SETTINGS))
        if bad:
            raise ValidationError(f"Cannot change {', '.join(bad)} at run time",
                                  details={"settings": bad, "mutable": list(self.MUTABLE_SETTINGS)})
        with self._settings_lock:
            trial = Settings(**self._mutable_values())
            for key, value in changes.items():
                try:
                    setattr(trial, key, value)  # the traits raise ValidationError naming the setting
                except TraitError as exc:  # e.g. a list where a folder list holds a number
                    raise ValidationError(f"Invalid value for {key}: {exc}",
                                          details={"setting": key, "value": json_safe(value)}) from None
            saved = {k: getattr(trial, k) for k in self.MUTABLE_SETTINGS}
            changed = changes_between(self._mutable_values(), saved)
            if dry_run:
                return {**self.settings_dict(), "changed": changed, "dry_run": True}
            self._save_settings(saved)
            for key in changes:
                setattr(self.settings, key, getattr(trial, key))
                self._setting_sources[key] = "runtime"
            # The file now holds only valid values: what was wrong with it before is history.
            self.settings_file_errors = []
        self._settings_applied(changes)
        return {**self.settings_dict(), "changed": changed, "dry_run": False}

    def reload_settings(self) -> dict[str, Any]:
        """Read settings.json again (after an edit by hand) and apply its valid keys, as at start-up.

        A key no longer in the file goes back to its value from the defaults, environment or config;
        a bad value is listed in ``file_errors`` and not applied. ``changed``: {name: {from, to}}.
        """
        with self._settings_lock:
            saved = read_saved(self._settings_file, self.MUTABLE_SETTINGS, self._base_settings)
            wanted = {**self._base_settings, **saved.values}
            changed = changes_between(self._mutable_values(), wanted)
            for key in changed:
                setattr(self.settings, key, wanted[key])
            for key in self.MUTABLE_SETTINGS:
                self._setting_sources.pop(key, None)
            self._setting_sources.update(dict.fromkeys(saved.values, "file"))
            self.settings_file_errors = saved.errors
        self._settings_applied(changed)
        return {**self.settings_dict(), "changed": changed}

    def _settings_applied(self, keys: Any) -> None:
        if "extra_model_dirs" in keys:
            self.library.local.folders = self.settings.model_dirs()
            self.library.invalidate()
        if set(keys) & {"scan_lmstudio", "scan_ollama", "lmstudio_models_dir", "ollama_models_dir"}:
            from .stores import store_roots

            self.library.local.stores = store_roots(self.settings)
            self.library.invalidate()
        if "max_concurrent_downloads" in keys:
            self.runner.pump()

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
        for service in (Engine.host, Engine.video, Engine.training, Engine.chat):
            built = service.built(self)
            if built is not None:
                built.close()
        self.imports.close()
        if self._endpoints is not None:
            self._endpoints.close()
        self.downloads.close()
        self.runner.close()
        self.hub.close()
        self.bus.close()
        self.jobs.close()
        if self._conversations is not None:
            self._conversations.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Engine", "Settings", "Job", "JobState", "JobStore", "Progress", "ModelInfo", "ModelRef", "Library",
           "DownloadManager"]
