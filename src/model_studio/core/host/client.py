"""Talking to the model host: start or find it, send the secret, stream SSE, and turn its
answers back into the studio's typed errors.

A host that dies under a request (connection refused or reset, the stream cut before ``[DONE]``,
the process gone) is a ``HostCrashedError`` carrying its exit status or signal and its log tail;
the crash is recorded in ``host.json`` and ``crashes.jsonl``, and the next request starts a new
host (``restarts`` counts them).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ...config import Settings
from ...errors import HostCrashedError, StudioError, error_from_dict
from .files import HostFiles, pid_alive
from .launcher import HostAddress, child_exit_code, ensure_host, find_host
from .mode import client_identity

# Connecting is instant on loopback; an answer may wait for a model to load (minutes for a big one).
TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=60.0, pool=None)


def studio_error(response: httpx.Response) -> StudioError:
    """The typed error of a host's error answer (its ``error.studio``), else one by status."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and isinstance(err.get("studio"), dict):
        return error_from_dict(err["studio"])
    if isinstance(err, dict) and "resolution_steps" in err:
        return error_from_dict(body)
    message = err.get("message") if isinstance(err, dict) else response.text[:500]
    return error_from_dict({"type": _TYPE_BY_STATUS.get(response.status_code, "StudioError"),
                            "message": message or f"HTTP {response.status_code}",
                            "details": {"status": response.status_code}})


_TYPE_BY_STATUS = {400: "ValidationError", 404: "NotFoundError", 409: "ConflictError", 413: "PayloadTooLargeError",
                   503: "BackendUnavailableError", 507: "ResourceError"}


class HostClient:
    """One engine's connection to its home's model host (thread-safe; one httpx client)."""

    def __init__(self, settings: Settings, identity: str | None = None) -> None:
        self.settings = settings
        self.files = HostFiles(settings.home_path)
        self.identity = identity or client_identity()
        self._lock = threading.Lock()
        self._address: HostAddress | None = None
        self._http = httpx.Client(timeout=TIMEOUT)

    # Finding the host ----------------------------------------------------------------------------

    def address(self, start: bool = True) -> HostAddress | None:
        """The host's address; started when ``start`` and none runs (else None)."""
        with self._lock:
            addr = self._address
            if addr is not None and pid_alive(addr.pid, addr.created):
                return addr
            if addr is not None:  # it ended since our last request: stopped, or crashed
                self._address = None
                if not self._stopped(addr):
                    self.crashed(addr, "the host process exited")
            addr = ensure_host(self.settings) if start else find_host(self.settings)
            self._address = addr
            return addr

    def headers(self, addr: HostAddress) -> dict[str, str]:
        return {"Authorization": f"Bearer {addr.secret}", "X-Model-Studio-Client": self.identity}

    def crashed(self, addr: HostAddress, reason: str) -> HostCrashedError:
        """Record that the host at ``addr`` died; the error to raise. A host that still runs (a
        mere network hiccup) is not recorded."""
        with_lock = self._lock.acquire(blocking=False)
        try:
            if self._address is addr:
                self._address = None
        finally:
            if with_lock:
                self._lock.release()
        if self._stopped(addr):
            return HostCrashedError("The model host was stopped during the request",
                                    details={"pid": addr.pid, "reason": "stopped", "log_tail": self.files.log_tail()},
                                    resolution_steps=["Send the request again: a new model host starts"])
        deadline = time.monotonic() + 2.0  # a process that just crashed closes its sockets, then exits
        while pid_alive(addr.pid, addr.created) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(addr.pid, addr.created):
            return HostCrashedError(f"The model host stopped answering: {reason}",
                                    details={"pid": addr.pid, "reason": reason, "log_tail": self.files.log_tail()},
                                    resolution_steps=["Send the request again", "See model-studio host logs"])
        crash = self.files.record_crash(addr.pid, reason, child_exit_code(addr.pid))
        return HostCrashedError.from_crash("The model host crashed", crash)

    def _stopped(self, addr: HostAddress) -> bool:
        """True when the host at ``addr`` stopped cleanly (``host.json`` says ``down`` for its pid)."""
        state = self.files.read_state()
        return state.get("pid") == addr.pid and state.get("state") == "down"

    # Requests -----------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json_body: Any = None, start: bool = True) -> Any:
        """A management call: its JSON answer; a typed error for an error answer; None when
        ``start`` is False and no host runs."""
        addr = self.address(start)
        if addr is None:
            return None
        try:
            r = self._http.request(method, addr.url + path, json=json_body, headers=self.headers(addr))
        except httpx.TransportError as exc:
            raise self.crashed(addr, f"{type(exc).__name__}: {exc}") from None
        if r.status_code >= 400:
            raise studio_error(r)
        return r.json()

    @contextmanager
    def stream_events(self, path: str, body: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
        """POST ``body`` and iterate the SSE ``data:`` events as dicts; leaving the block closes
        the response (the host sees the client go and stops generating)."""
        addr = self.address(True)
        assert addr is not None
        try:
            with self._http.stream("POST", addr.url + path, json=body, headers=self.headers(addr)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise studio_error(r)
                yield self._events(addr, r)
        except httpx.TransportError as exc:
            raise self.crashed(addr, f"{type(exc).__name__}: {exc}") from None

    def _events(self, addr: HostAddress, response: httpx.Response) -> Iterator[dict[str, Any]]:
        try:
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    return
                event = json.loads(data)
                if "error" in event:
                    raise studio_error(httpx.Response(500, json=event))
                yield event
        except httpx.TransportError as exc:
            raise self.crashed(addr, f"{type(exc).__name__} during an answer: {exc}") from None
        raise self.crashed(addr, "the answer was cut before its end")

    def close(self) -> None:
        self._http.close()
