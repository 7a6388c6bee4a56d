"""The shape of ``engine.host.status()``, declared once (``schemas.py`` and the OpenAPI use it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class HostCrash(_Model):
    """How the last host ended when it did not stop cleanly."""

    at: float
    """Unix time (seconds) the crash was found"""
    reason: str
    exit_code: int | None = None
    """The exit status; negative: the signal number"""
    signal: str | None = None
    """SIGSEGV, SIGKILL, ... when a signal ended it"""
    log_tail: str = ""
    """The last lines of host.log"""
    pid: int | None = None


class HostModel(_Model):
    """A chat model the host holds."""

    id: str
    """org/name (what a user picks)"""
    model: str
    """org/name:QUANT (the exact file)"""
    backend: str
    adapter: str | None = None
    memory_bytes: int
    devices: list[str]
    idle_seconds: float
    in_use: bool = False
    last_used: float = 0
    last_used_by: str | None = None
    """kernel <pid>, server, cli, ..."""
    loaded_at: float | None = None


class HostStatus(_Model):
    """The model host of this studio home."""

    state: Literal["up", "down", "crashed"]
    mode: Literal["host", "in_process"]
    """Where this engine's models live (its model_host setting resolved)"""
    pid: int | None = None
    since: float | None = None
    version: str | None = None
    restarts: int = 0
    """Hosts started after a crash"""
    loads: int = 0
    """Models the running host loaded (a reused model is no load)"""
    last_crash: HostCrash | None = None
    url: str | None = None
    """http://127.0.0.1:PORT (the secret is in <home>/host/secret, 0600)"""
    log: str
    """The host's log file"""
    models: list[HostModel] = []
    pipelines: list[dict[str, Any]] = []


class HostStop(_Model):
    stopped: bool
    """A running host was stopped"""


class HostLogs(_Model):
    path: str
    log: str


def status_text(status: dict[str, Any]) -> str:
    """``HostStatus`` as a few lines for terminals and notebooks."""
    from ..units import human_size

    lines = [f"model host: {status['state']}" + (f" (pid {status['pid']}, {status.get('url')})"
                                                 if status["state"] == "up" else ""),
             f"  this engine: {status['mode']}; version {status.get('version') or '?'}; restarts {status['restarts']}"]
    for m in status.get("models") or []:
        who = f", last used by {m['last_used_by']}" if m.get("last_used_by") else ""
        lines.append(f"  {m['model']} [{m['backend']}] {human_size(m['memory_bytes'])} on {', '.join(m['devices'])}, "
                     f"idle {m['idle_seconds']:.0f} s{who}")
    for p in status.get("pipelines") or []:
        lines.append(f"  video {p.get('model')} on {p.get('device')} {human_size(int(p.get('memory_bytes') or 0))}")
    crash = status.get("last_crash")
    if crash:
        why = crash.get("signal") or crash.get("exit_code") or crash.get("reason")
        lines.append(f"  last crash: {why} ({crash.get('reason')}); model-studio host logs for the log")
    lines.append(f"  log: {status['log']}")
    return "\n".join(lines)
