"""jupyter-model-studio: a local AI model studio that lives inside Jupyter."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from .core import Engine

_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide Engine, created on first use (every widget and magic in a kernel shares it)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from .core import Engine

            _engine = Engine()
        return _engine


# ``model_studio.engine()`` is the public name (DESIGN.md's Python API); the engine's code lives in
# the ``core`` subpackage, so importing it never rebinds this function.
engine = get_engine


def conversations():
    """The saved conversations (``engine().conversations``): ``ms.conversations().list()``, ``.get(id)``,
    ``.create(...)``, ``.append(...)``, ``.branch(...)``, ``.export(id, "markdown")``, ``.import_json(...)``."""
    return get_engine().conversations


def _reset_engine() -> None:
    """Close and forget the process-wide engine (tests, or after changing environment variables)."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.close()
        _engine = None


def _jupyter_labextension_paths() -> list[dict]:
    """Where the built lab extension lives (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "jupyter-model-studio"}]


def _jupyter_server_extension_points() -> list[dict]:
    """Jupyter Server's entry point (enabled by ``jpserver_extensions: {"model_studio": true}``).

    Imports the server extension only when Jupyter asks, so ``import model_studio`` stays light.
    """
    from .server.app import _jupyter_server_extension_points as points

    return points()


# Widgets import anywidget and ipywidgets: load them on first use, so ``import model_studio``
# stays light for scripts, the CLI and the server.
_LAZY_WIDGETS = ("ModelLibrary", "Downloads", "SystemMonitor", "Studio", "ChatPlayground", "TrainingMonitor",
                 "VideoStudio", "ModelPage")


def __getattr__(name: str):
    if name in _LAZY_WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_WIDGETS))


def load_ipython_extension(ipython) -> None:
    """``%load_ext model_studio``: registers the ``%studio`` magic."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext model_studio``."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = ["engine", "get_engine", "conversations", "__version__", "load_ipython_extension", "unload_ipython_extension",
           *_LAZY_WIDGETS]
