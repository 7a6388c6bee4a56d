"""jupyter-model-studio: a local AI model studio that lives inside Jupyter."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .engine import Engine

_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide Engine, created on first use (every widget and magic in a kernel shares it)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from .engine import Engine

            _engine = Engine()
        return _engine


# ``model_studio.engine`` is both this function and the ``engine`` subpackage: importing the
# subpackage rebinds the attribute to the module, so the module is made callable (see
# engine/__init__.py) and ``model_studio.engine()`` works either way.
engine = get_engine


def _reset_engine() -> None:
    """Close and forget the process-wide engine (tests, or after changing environment variables)."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.close()
        _engine = None


__all__ = ["engine", "get_engine", "__version__"]
