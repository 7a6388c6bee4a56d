"""The model library: one view of the curated catalog, live Hub search and local models.

``records`` holds the ``ModelInfo`` records, ``search`` the catalog, local and Hub merge and the search itself,
``operations`` what is done to one model (info, delete, verify, fit, backends), ``page`` a model's
page (card, metadata, files, revisions, gating, fits); ``Library`` composes the three mixins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ..hub import HubClient
from ..imports import ModelImports, registry_path
from ..local import LocalModel, LocalScanner
from ..stores import store_roots
from ..system import SystemMonitor
from .operations import ModelOperations
from .page import ModelPages
from .records import BACKENDS, CATALOG_PATH, SORTS, STATUSES, TASKS, ModelInfo, Quantization, SearchResults
from .search import ModelSearch

if TYPE_CHECKING:
    from .verify import VerifyJobs

__all__ = ["BACKENDS", "CATALOG_PATH", "SORTS", "STATUSES", "TASKS", "Library", "ModelInfo", "Quantization",
           "SearchResults"]


class Library(ModelPages, ModelOperations, ModelSearch):
    """Search, inspect, verify and delete models; estimate whether they fit."""

    def __init__(self, settings: Settings, hub: HubClient, system: SystemMonitor,
                 active_downloads: Callable[[], set[str]] | None = None) -> None:
        self.settings = settings
        self.hub = hub
        self.system = system
        self.local = LocalScanner(settings.cache_path, settings.model_dirs(), settings.shared_dirs(),
                                  stores=store_roots(settings), imports_file=registry_path(settings))
        self.imports: ModelImports | None = None  # set by the Engine (imports by URL run as jobs)
        self._active_downloads = active_downloads or (lambda: set())
        self._catalog: dict[str, dict[str, Any]] | None = None
        self._hub_cache: dict[tuple, tuple[float, list[ModelInfo]]] = {}
        self._hub_pending: dict[tuple, Future[list[ModelInfo]]] = {}  # one Hub call per search key
        self._hub_overdue: set[Future[list[ModelInfo]]] = set()  # calls a search stopped waiting for
        self._lock = threading.Lock()
        self._local_infos: dict[str, tuple[LocalModel, ModelInfo]] = {}
        self.last_verify: dict[str, dict[str, Any]] = {}  # repo id -> the last verify() result (and when)
        #: Verifications as jobs (``verify_start``), once an engine gives the library its job runner.
        self.verifications: VerifyJobs | None = None
        self._page_cache: dict[tuple, Any] = {}  # (repo id, revision) -> (time, the Hub's part of a page)
        #: The remote endpoints' models (``engine.endpoints.models``), set by the Engine.
        self.remote_models: Callable[[], list[dict[str, Any]]] = lambda: []

    def remote(self) -> list[dict[str, Any]]:
        """Models remote endpoints serve: ``{"id": "remote/<endpoint>/<model>", "name", "endpoint", "status"}``."""
        return self.remote_models()

    def invalidate(self, repo_id: str | None = None) -> None:
        self.local.invalidate(repo_id)
