"""``ModelLibrary``: browse, filter, inspect, download and delete models from a notebook."""

from __future__ import annotations

from typing import Any

import traitlets

from ..core.library import BACKENDS, STATUSES, TASKS
from ._base import StudioWidget


def _one_of(name: str, choices: tuple[str, ...] | list[str], value: str) -> str:
    if value and value not in choices:
        raise traitlets.TraitError(f"{name} must be one of {', '.join(choices)} (or empty), got {value!r}")
    return value


class ModelLibrary(StudioWidget):
    """The model library: catalog, Hub search and local models in one filterable list.

    The filters are synced traitlets: set them from Python (``ModelLibrary(query="qwen",
    task="text-generation")``, or ``lib.query = "smol"`` later) and the widget follows; read
    them back after the user changed them in the widget. ``selected`` is the id of the model
    the user opened. Every action the widget offers is an ``api`` operation
    (``library.search``, ``downloads.start``, ``library.delete``, ...), the same as
    ``ms.engine().library.search(...)`` in Python.
    """

    _bundle = "library.js"

    #: Search text (matches id, name and tags).
    query = traitlets.Unicode("").tag(sync=True)
    #: ``text-generation``, ``text-to-video``, ``image-to-video`` or empty for any task.
    task = traitlets.Unicode("").tag(sync=True)
    #: ``llama-cpp``, ``transformers``, ``diffusers`` or empty for any backend.
    backend = traitlets.Unicode("").tag(sync=True)
    #: ``available``, ``downloading``, ``local``, ``error`` or empty for any status.
    status = traitlets.Unicode("").tag(sync=True)
    #: The model id the user selected in the widget (empty: none).
    selected = traitlets.Unicode("").tag(sync=True)

    @traitlets.validate("task")
    def _check_task(self, proposal: Any) -> str:
        return _one_of("task", TASKS, proposal["value"])

    @traitlets.validate("backend")
    def _check_backend(self, proposal: Any) -> str:
        return _one_of("backend", BACKENDS, proposal["value"])

    @traitlets.validate("status")
    def _check_status(self, proposal: Any) -> str:
        return _one_of("status", STATUSES, proposal["value"])

    def _summary(self) -> str:
        filters = {"query": self.query, "task": self.task, "backend": self.backend, "status": self.status}
        return ", ".join(f"{k}={v!r}" for k, v in filters.items() if v)
