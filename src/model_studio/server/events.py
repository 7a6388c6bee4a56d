"""``GET /model-studio/api/events``: job changes and system snapshots as Server-Sent Events.

- ``event: job``    the job's JSON, for every change from ``engine.feed`` (jobs of this server
                    and of every other process sharing the studio home: kernels, the CLI);
- ``event: system`` a system snapshot every ``ModelStudioApp.system_interval`` seconds;
- ``: keep-alive``  a comment after ``ModelStudioApp.event_keepalive`` seconds of silence.

``?topics=jobs,system&kinds=download,train&job=<id>`` narrows what is sent (see ``_event_filter``):
a view that follows one job gets only that job's events.

The feed calls back on its own threads; callbacks hand the job to the event loop with
``call_soon_threadsafe``. Changes of one job are coalesced while the client is slow (the latest
state wins), so a stalled client costs one entry per job, not an unbounded queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ._base import AUTH_RESOURCE, StudioHandler
from ._event_filter import PARAMS, EventFilter


class EventStreamHandler(StudioHandler):
    @tornado.web.authenticated
    @authorized("read", resource=AUTH_RESOURCE)
    async def get(self) -> None:
        wanted = EventFilter.parse({name: self.get_query_arguments(name) for name in PARAMS})
        options = self.settings.get("model_studio_events", {})
        system_interval = float(options.get("system_interval", 2.0)) if wanted.system else 0.0
        keepalive = float(options.get("keepalive", 15.0))

        loop = asyncio.get_running_loop()
        pending: dict[str, dict[str, Any]] = {}
        wake = asyncio.Event()
        self._closed = asyncio.Event()

        def on_loop(job: dict[str, Any]) -> None:
            pending.pop(job["id"], None)
            pending[job["id"]] = job  # re-insert: keep changes in arrival order
            wake.set()

        def on_job(job: Any) -> None:  # feed thread
            data = job.to_dict()
            if not wanted.wants(data):
                return
            try:
                loop.call_soon_threadsafe(on_loop, data)
            except RuntimeError:  # loop closed while the server shuts down
                pass

        self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        unsubscribe = self.engine.feed.subscribe(on_job) if "jobs" in wanted.topics else (lambda: None)
        try:
            await self._send("retry: 3000\n\n")
            next_system = time.monotonic() if system_interval > 0 else float("inf")
            last_write = time.monotonic()
            while not self._closed.is_set():
                now = time.monotonic()
                if now >= next_system:
                    snapshot = await asyncio.to_thread(lambda: self.engine.system.snapshot().to_dict())
                    await self._send(_event("system", snapshot))
                    next_system = time.monotonic() + system_interval
                    last_write = time.monotonic()
                    continue
                if now - last_write >= keepalive:
                    await self._send(": keep-alive\n\n")
                    last_write = now
                    continue
                if pending:
                    chunk = "".join(_event("job", job) for job in pending.values())
                    pending.clear()
                    await self._send(chunk)
                    last_write = time.monotonic()
                    continue
                wake.clear()
                timeout = max(0.0, min(next_system, last_write + keepalive) - now)
                await _first(wake, self._closed, timeout)
        except StreamClosedError:
            pass
        finally:
            unsubscribe()

    async def _send(self, text: str) -> None:
        self.write(text)
        await self.flush()  # raises StreamClosedError once the client has gone

    def on_connection_close(self) -> None:
        closed = getattr(self, "_closed", None)
        if closed is not None:
            closed.set()
        super().on_connection_close()


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


async def _first(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    """Wait until ``a`` or ``b`` is set, or ``timeout`` seconds pass."""
    tasks = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
