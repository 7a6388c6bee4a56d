"""Answering an OpenAI ``/chat/completions`` request from a ``ChatService``: engine stream ->
OpenAI chunks (Server-Sent Events) or one JSON answer.

``ChatCompletionWriter`` is a mixin for a tornado ``RequestHandler`` with no Jupyter in it, so the
Jupyter server's ``/model-studio/v1`` handler (Jupyter's auth on top) and the model host's
handler (the host's secret on top) answer with the same code. The handler supplies
``write_error_response(error)``.

Generation runs in a worker thread that feeds an ``asyncio.Queue`` through
``loop.call_soon_threadsafe``; a client that disconnects sets the stop event, so generation ends
within a few tokens. One loaded model generates for one request at a time (llama.cpp's context is
not re-entrant): requests for the same model queue on the engine's per-model lock.

With the studio's extension ``model_studio: {"stats": true}`` the last chunk (or the JSON answer)
carries ``model_studio: {"model", "stats"}``: the exact model that answered and its ``ChatStats``
(time to first token, tokens per second, the real finish reason, ``cancelled`` included).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tornado.iostream import StreamClosedError

from ...errors import StudioError
from .openai_request import ChatRequest, OpenAIError, from_studio_error

log = logging.getLogger(__name__)


@dataclass
class _Done:
    stats: Any  # ChatStats or None
    model: str | None = None  # the loaded model's id (org/name:QUANT)


@dataclass
class _Failed:
    error: BaseException


def _generate(chat: Any, request: ChatRequest, stop: threading.Event, put: Callable[[Any], None]) -> None:
    """Worker thread: stream the answer into ``put``; always ends with ``_Done`` or ``_Failed``.

    The engine serialises generations on one loaded model (a llama.cpp context runs one at a
    time), so concurrent requests for a model queue there; a request whose client left while
    queued ends at its first token.
    """
    stats = None
    model = None
    try:
        kwargs: dict[str, Any] = {"cancel": stop, **request.sampling}
        if request.load_options:
            kwargs["load_options"] = request.load_options
        stream = chat.stream(request.model, request.messages, **kwargs)
        model = getattr(getattr(stream, "model", None), "model_id", None)
        for chunk in stream:
            stats = getattr(chunk, "stats", None) or stats  # the last chunk carries the answer's figures
            put(chunk)
        put(_Done(stats, model))
    except BaseException as exc:  # handed to the event loop, which answers it
        put(_Failed(exc))


def _stat(stats: Any, name: str) -> Any:
    if stats is None:
        return None
    return stats.get(name) if isinstance(stats, dict) else getattr(stats, name, None)


def _count(stats: Any, name: str) -> int | None:
    value = _stat(stats, name)
    return int(value) if isinstance(value, (int, float)) else None


def _finish_reason(reason: str | None) -> str:
    return reason if reason in ("stop", "length") else "stop"  # "cancelled": the client has gone anyway


def _studio(done: _Done) -> dict[str, Any]:
    stats = done.stats
    if stats is not None and not isinstance(stats, dict):
        stats = stats.to_dict()
    return {"model": done.model, "stats": stats}


class ChatCompletionWriter:
    """Mixin for a tornado ``RequestHandler``: ``await self.answer(chat, request)``."""

    _stop: threading.Event | None = None

    def on_connection_close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        super().on_connection_close()  # type: ignore[misc]  # the handler's (it cancels a forward)

    def chat_started(self, request: ChatRequest, stop: threading.Event) -> None:
        """Hook: an answer to ``request`` is being generated (``stop`` ends it)."""

    def chat_ended(self, request: ChatRequest, done: _Done | None) -> None:
        """Hook: the answer ended (``done`` None when it failed or the client left)."""

    def internal_error(self, error: BaseException) -> OpenAIError:
        """A bug, answered without its text (logged)."""
        log.error("model_studio: chat completion failed", exc_info=error)
        return OpenAIError(500, "Chat completion failed unexpectedly; see the server log", "server_error")

    def chat_error(self, error: BaseException) -> BaseException:
        """The generation's error as it is answered (typed errors keep their type)."""
        if isinstance(error, (OpenAIError, StudioError)):
            return error
        return self.internal_error(error)

    async def answer(self: Any, chat: Any, request: ChatRequest) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stop = stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has closed (server shutting down): stop generating
                stop.set()

        self.chat_started(request, stop)
        threading.Thread(target=_generate, args=(chat, request, stop, put),
                         name=f"openai-chat-{request.model}", daemon=True).start()
        done = None
        try:
            if request.stream:
                done = await self._stream(request, queue)
            else:
                done = await self._complete(request, queue)
        finally:
            stop.set()  # ends the worker if we leave early (error, disconnect)
            self.chat_ended(request, done)

    async def _complete(self: Any, request: ChatRequest, queue: asyncio.Queue) -> _Done | None:
        parts: list[str] = []
        tokens = 0
        reason = None
        while True:
            item = await queue.get()
            if isinstance(item, _Failed):
                self.write_error_response(self.chat_error(item.error))
                return None
            if isinstance(item, _Done):
                break
            parts.append(item.text)
            tokens += item.tokens
            reason = item.finish_reason or reason
        stats = item.stats
        completion = _count(stats, "completion_tokens") or tokens
        prompt = _count(stats, "prompt_tokens") or 0
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "logprobs": None, "finish_reason": _finish_reason(reason or _stat(stats, "finish_reason"))}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }
        if request.stats:
            body["model_studio"] = _studio(item)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, default=str))
        return item

    async def _stream(self: Any, request: ChatRequest, queue: asyncio.Queue) -> _Done | None:
        # Wait for the first item before answering: a model that is unknown or cannot load gets a
        # proper HTTP error status, not an error inside a 200 stream.
        first = await queue.get()
        if isinstance(first, _Failed):
            self.write_error_response(self.chat_error(first.error))
            return None
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": request.model}
        usage_field = {"usage": None} if request.include_usage else {}

        def event(delta: dict, reason: str | None = None, **extra: Any) -> str:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
                         **usage_field, **extra)
            return f"data: {json.dumps(chunk, default=str)}\n\n"

        self.write(event({"role": "assistant", "content": ""}))
        tokens = 0
        reason = None
        item = first
        try:
            while True:
                # Everything already queued goes out in one write and one flush.
                while True:
                    if isinstance(item, (_Done, _Failed)):
                        break
                    tokens += item.tokens
                    reason = item.finish_reason or reason
                    if item.text:
                        self.write(event({"content": item.text}))
                    try:
                        item = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        item = None
                        break
                if isinstance(item, _Failed):
                    err = self.chat_error(item.error)
                    body = err.body() if isinstance(err, OpenAIError) else self.error_body(err)
                    self.write(f"data: {json.dumps(body)}\n\n")
                    await self.flush()
                    self.finish()
                    return None
                if isinstance(item, _Done):
                    break
                await self.flush()
                item = await queue.get()
            stats = item.stats
            extra = {"model_studio": _studio(item)} if request.stats else {}
            self.write(event({}, _finish_reason(reason or _stat(stats, "finish_reason")), **extra))
            if request.include_usage:
                completion = _count(stats, "completion_tokens") or tokens
                prompt = _count(stats, "prompt_tokens") or 0
                self.write("data: " + json.dumps(dict(base, choices=[], usage={
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion})) + "\n\n")
            self.write("data: [DONE]\n\n")
            await self.flush()
            self.finish()
            return item
        except StreamClosedError:
            return None  # the client went away; answer() stops the generation

    def error_body(self, error: BaseException) -> dict[str, Any]:
        """The body of an error sent inside a stream (OpenAI's shape)."""
        if isinstance(error, StudioError):
            return from_studio_error(error).body()
        return OpenAIError(500, str(error), "server_error").body()
