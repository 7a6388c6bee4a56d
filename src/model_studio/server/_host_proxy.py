"""Forwarding ``/model-studio/v1/chat/completions`` to the model host, or to a remote endpoint for a
``remote/<endpoint>/<model id>`` (``forward_remote``), streaming intact.

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
from ..core.remote import RemoteClient

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
    try:
        async with _http().stream("POST", addr.url + path, json=body,
                                  headers=host.headers(addr)) as upstream:
            if upstream.status_code >= 400:  # answered in this server's shape (and retry header)
                await upstream.aread()
                handler.write_error_response(studio_error(upstream))
                return
            relayed = await _relay(handler, upstream)
            if relayed is None:
                return  # the caller left: leaving the block closes the request to the host
            streaming, last = relayed
            cut = streaming and not last.endswith(b"data: [DONE]\n\n") and b'"error"' not in last
    except httpx.TransportError as exc:
        if handler._headers_written:
            cut = True
        else:
            error = await asyncio.to_thread(host.crashed, addr, f"{type(exc).__name__}: {exc}")
            handler.write_error_response(error)
            return
    if cut:  # the host died mid-answer
        error = await asyncio.to_thread(host.crashed, addr, "the answer was cut before its end")
        if not await _say_cut(handler, error):
            return
    if not handler._finished:
        handler.finish()


async def _say_cut(handler: Any, error: Exception) -> bool:
    """An answer cut mid-stream: say so in the stream, as OpenAI's servers do. False if the caller left."""
    try:
        handler.write(f"data: {json.dumps(from_studio_error(error).body())}\n\n")
        await handler.flush()
    except StreamClosedError:
        return False
    return True


async def _relay(handler: Any, upstream: httpx.Response) -> tuple[bool, bytes] | None:
    """Copy ``upstream``'s status, content headers and body to ``handler``, flushing each piece of an
    event stream as it arrives. ``(streaming, the body's last bytes)``, or None if the caller left."""
    handler.set_status(upstream.status_code)
    for name in ("Content-Type", "Cache-Control", "X-Accel-Buffering"):
        if name in upstream.headers:
            handler.set_header(name, upstream.headers[name])
    streaming = upstream.headers.get("Content-Type", "").startswith("text/event-stream")
    last = b""
    async for piece in upstream.aiter_raw():
        handler.write(piece)
        last = (last + piece)[-64:]
        if streaming:
            try:
                await handler.flush()
            except StreamClosedError:
                return None
    return streaming, last


async def forward_remote(handler: Any, client: RemoteClient, path: str, body: dict[str, Any]) -> None:
    """Answer ``handler``'s request from a remote endpoint: ``body`` as the caller sent it (so every
    field the serving engine supports, tools included, reaches it) with ``model`` its own id, sent
    with the endpoint's key and headers; its answer relayed as it streams. Its errors become the
    studio's typed errors (``EndpointAuthError`` for a refused key, ``NetworkError`` when it is down
    or silent past its timeout), in OpenAI's shape."""
    try:
        async with _http().stream("POST", client.url(path), json=body, headers=client.headers,
                                  timeout=client.timeout) as upstream:
            if upstream.status_code >= 400:
                handler.write_error_response(client.response_error(upstream.status_code, await upstream.aread(),
                                                                   body.get("model")))
                return
            if await _relay(handler, upstream) is None:
                return  # the caller left: leaving the block closes the request to the endpoint
    except httpx.TransportError as exc:
        error = client.transport_error(exc)
        if not handler._headers_written:
            handler.write_error_response(error)
            return
        if not await _say_cut(handler, error):
            return
    if not handler._finished:
        handler.finish()
