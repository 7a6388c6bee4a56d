"""Forwarding ``/model-studio/v1/chat/completions`` to the model host, streaming intact.

The server has already authenticated and authorized the caller and checked the request; the
host gets the same body with its own secret. Its status and body are passed through (errors are
already in OpenAI's shape there); each piece of its stream is written and flushed as it arrives.
If the caller leaves, the task running this is cancelled, which closes the request to the host
(it then stops generating). A host that cannot be reached or dies mid-answer is a
``HostCrashedError`` (503), recorded so the next request starts a new host.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import httpx
from tornado.iostream import StreamClosedError

from ..core.chat.openai_request import ChatRequest, from_studio_error
from ..core.host import HostClient
from ..core.host.client import studio_error

_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=60.0, pool=None)
# One client (its connection pool) per event loop: a client is bound to the loop it first ran on.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _http() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient(timeout=_TIMEOUT)
    return client


async def forward_chat(handler: Any, host: HostClient, request: ChatRequest | Any,
                       path: str = "/v1/chat/completions") -> None:
    """Answer ``handler``'s request (chat, or the ``/completions`` or ``/embeddings`` at ``path``)
    from the host (``host`` finds or starts it)."""
    try:
        addr = await asyncio.to_thread(host.address, True)
    except Exception as exc:  # HostCrashedError: it could not start
        handler.write_error_response(exc)
        return
    assert addr is not None
    body = json.loads(handler.request.body)
    body["model"] = request.model
    cut = False
    last = b""
    try:
        async with _http().stream("POST", addr.url + path, json=body,
                                  headers=host.headers(addr)) as upstream:
            if upstream.status_code >= 400:  # answered in this server's shape (and retry header)
                await upstream.aread()
                handler.write_error_response(studio_error(upstream))
                return
            handler.set_status(upstream.status_code)
            for name in ("Content-Type", "Cache-Control", "X-Accel-Buffering"):
                if name in upstream.headers:
                    handler.set_header(name, upstream.headers[name])
            streaming = upstream.headers.get("Content-Type", "").startswith("text/event-stream")
            async for piece in upstream.aiter_raw():
                handler.write(piece)
                last = (last + piece)[-64:]
                if streaming:
                    try:
                        await handler.flush()
                    except StreamClosedError:
                        return  # the caller left: leaving the block closes the request to the host
            cut = streaming and not last.endswith(b"data: [DONE]\n\n") and b'"error"' not in last
    except httpx.TransportError as exc:
        if handler._headers_written:
            cut = True
        else:
            error = await asyncio.to_thread(host.crashed, addr, f"{type(exc).__name__}: {exc}")
            handler.write_error_response(error)
            return
    if cut:  # the host died mid-answer: say so in the stream, as OpenAI's servers do
        error = await asyncio.to_thread(host.crashed, addr, "the answer was cut before its end")
        try:
            handler.write(f"data: {json.dumps(from_studio_error(error).body())}\n\n")
            await handler.flush()
        except StreamClosedError:
            return
    if not handler._finished:
        handler.finish()
