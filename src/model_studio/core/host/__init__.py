"""The model host: one process per studio home that holds every loaded chat model and video
pipeline for the server, the kernels and the CLI (see DESIGN.md, "Where loaded models live").

- ``launcher``: start it on first need (detached, one per home under a lock), find it, stop it;
- ``server``: the host itself (tornado; OpenAI protocol plus a small management API);
- ``client``: the HTTP client engines use (secret, SSE, typed errors, crash detection);
- ``chat``: ``engine.chat`` / ``engine.video`` in host mode;
- ``mode``: host or in process (``Settings.model_host``);
- ``HostService`` below: ``engine.host`` (status, stop, logs).

Nothing here imports Jupyter.
"""

from __future__ import annotations

from typing import Any

from ...config import Settings
from .chat import HostChat, HostVideo, RemoteModel
from .client import HostClient
from .files import HostFiles, pid_alive
from .launcher import ensure_host, find_host, healthy, stop_host
from .mode import client_identity, set_front_door, uses_host


class HostService:
    """``engine.host``: the state of this home's model host, its log, and stopping it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.files = HostFiles(settings.home_path)
        #: True when this engine's chat and video go to the host (``Settings.model_host``).
        self.enabled = uses_host(settings)
        self._client: HostClient | None = None

    @property
    def client(self) -> HostClient:
        if self._client is None:
            self._client = HostClient(self.settings)
        return self._client

    def start(self) -> dict[str, Any]:
        """Start the host if none runs; returns ``status()``."""
        ensure_host(self.settings)
        return self.status()

    def status(self) -> dict[str, Any]:
        """``HostStatus`` as a dict: up, down or crashed; pid, since, version, restarts, the last
        crash (with its log tail), the URL (never the secret), and the models and pipelines it holds."""
        state = self.files.read_state()
        crash = state.get("last_crash")
        out: dict[str, Any] = {"state": "down", "mode": "host" if self.enabled else "in_process",
                               "restarts": int(state.get("restarts") or 0), "last_crash": crash,
                               "log": str(self.files.log), "version": state.get("version")}
        if state.get("state") == "up":
            pid = int(state.get("pid") or 0)
            if pid_alive(pid, state.get("create_time")) and self.files.secret_file.exists() \
                    and healthy(state, self.files.secret()):
                out.update(state="up", pid=pid, since=state.get("since"), url=f"http://127.0.0.1:{state['port']}")
                try:
                    live = self.client.request("GET", "/manage/status", start=False) or {}
                except Exception:  # it died this instant: the next status says so
                    live = {}
                out.update(models=live.get("models", []), pipelines=live.get("pipelines", []),
                           loads=int(live.get("loads") or 0))
            elif pid and not pid_alive(pid, state.get("create_time")):
                from .launcher import child_exit_code

                out.update(state="crashed", pid=pid,
                           last_crash=self.files.record_crash(pid, "the host process was found dead",
                                                              child_exit_code(pid)))
        elif state.get("state") == "crashed":
            out.update(state="crashed", pid=state.get("pid"))
        out["models"] = [{**m, "memory_bytes": int(m.get("memory_bytes") or 0)} for m in out.get("models", [])]
        from .status import HostStatus  # pydantic: imported when a status is asked for, not by every engine

        return HostStatus.model_validate(out).model_dump(mode="json")

    def memory(self) -> dict[str, Any] | None:
        """The host's arbiter snapshot (its models and pipelines, and every reservation), or None when
        no host is up: in host mode the models are there, not in this process."""
        state = self.files.read_state()
        if state.get("state") != "up" or not pid_alive(int(state.get("pid") or 0), state.get("create_time")):
            return None
        try:
            return self.client.request("GET", "/manage/memory", start=False)
        except Exception:  # it died this instant: this process's own view is the answer
            return None

    def stop(self) -> dict[str, Any]:
        """Stop the host (its models are unloaded; the next request starts a new one)."""
        from .status import HostStop

        return HostStop(stopped=stop_host(self.settings)).model_dump()

    def logs(self, lines: int = 200) -> dict[str, Any]:
        """The last ``lines`` lines of the host's log."""
        from .status import HostLogs

        return HostLogs(path=str(self.files.log), log=self.files.log_tail(int(lines))).model_dump()

    def close(self) -> None:
        """Close this engine's connection (the host keeps running for the others)."""
        if self._client is not None:
            self._client.close()


def __getattr__(name: str) -> Any:
    """The status models (``HostStatus``, ...) on first use: they import pydantic."""
    if name in ("HostStatus", "HostModel", "HostCrash", "HostLogs", "HostStop"):
        from . import status

        return getattr(status, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["HostService", "HostClient", "HostChat", "HostVideo", "RemoteModel", "HostFiles", "HostStatus",
           "HostModel", "HostCrash", "HostLogs", "HostStop", "ensure_host", "find_host", "stop_host",
           "set_front_door", "uses_host", "client_identity"]
