"""Where this process's models live: in the model host or in process (``Settings.model_host``).

``auto`` means the host when this process is a front door a user keeps open next to others (the
Jupyter server, an IPython kernel, the ``model-studio`` CLI) and in process otherwise (plain
scripts, tests). The server and the CLI say what they are with ``set_front_door``; a kernel is
recognised by IPython.
"""

from __future__ import annotations

import os
import sys

from ...config import Settings

_front_door: str | None = None


def set_front_door(name: str) -> None:
    """Called by the Jupyter server extension (``"server"``) and the CLI (``"cli"``) before they
    build their engine."""
    global _front_door
    _front_door = name


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def front_door() -> str | None:
    """``"server"``, ``"cli"``, ``"kernel"`` or None (a plain script)."""
    if _front_door is not None:
        return _front_door
    return "kernel" if _in_kernel() else None


def uses_host(settings: Settings) -> bool:
    """True when this process's chat and video go to the model host."""
    mode = settings.model_host
    if mode == "auto":
        return front_door() is not None
    return mode == "host"


def client_identity() -> str:
    """Who is asking, as the host shows it (``kernel 1234``, ``server``, ``cli``, ``python 1234``)."""
    door = front_door()
    if door in ("server", "cli"):
        return door
    return f"{door or 'python'} {os.getpid()}"
