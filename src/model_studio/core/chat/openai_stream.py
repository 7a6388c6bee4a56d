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
from dataclasses import dataclass, field
from typing import Any

from tornado.iostream import StreamClosedError

from ...errors import StudioError
from .openai_request import ChatRequest, OpenAIError, from_studio_error

log = logging.getLogger(__name__)


@dataclass
class _Done:
    stats: Any  # ChatStats or None (of the last answer)
    model: str | None = None  # the loaded model's id (org/name:QUANT)
    tool_format: str | None = None  # "template" / "json" when tools were offered (``structured``)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Failed:
    error: BaseException


def _generate(chat: Any, request: ChatRequest, stop: threading.Event, put: Callable[[Any], None]) -> None:
    """Worker thread: stream the ``n`` answers, one after another, into ``put`` as ``(index, chunk)``;
    always ends with ``_Done`` or ``_Failed``.

    The engine serialises generations on one loaded model (a llama.cpp context runs one at a
    time), so concurrent requests for a model queue there; a request whose client left while
    queued ends at its first token. With a ``seed``, answer ``i`` uses ``seed + i`` (n answers
    that differ, and the same n again for the same seed).
    """
    done = _Done(None)
    try:
        for index in range(request.n):
            kwargs: dict[str, Any] = {"cancel": stop, **request.sampling, **request.controls}
            if request.load_options:
                kwargs["load_options"] = request.load_options
            if index and kwargs.get("seed") is not None:
                kwargs["seed"] = (kwargs["seed"] + index) % 2**32
            stream = chat.stream(request.model, request.messages, **kwargs)
            done.model = getattr(getattr(stream, "model", None), "model_id", None)
            done.tool_format = getattr(stream, "tool_format", None)
            tokens = 0
            stats = None
            for chunk in stream:
                stats = getattr(chunk, "stats", None) or stats  # the last chunk carries the answer's figures
                tokens += chunk.tokens
                put((index, chunk))
            done.stats = stats
            done.prompt_tokens = _count(stats, "prompt_tokens") or done.prompt_tokens
            done.completion_tokens += _count(stats, "completion_tokens") or tokens
            if stop.is_set():
                break
        put(done)
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
    # "cancelled": the client has gone anyway
    return reason if reason in ("stop", "length", "tool_calls") else "stop"


def _studio(done: _Done, stats: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if stats:
        figures = done.stats
        if figures is not None and not isinstance(figures, dict):
            figures = figures.to_dict()
        out.update(model=done.model, stats=figures)
    if done.tool_format is not None:
        out["tool_format"] = done.tool_format
    return out


def _usage(done: _Done) -> dict[str, int]:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def _call_deltas(calls: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
    """OpenAI's streamed ``tool_calls`` deltas: per call one with id, type, name and empty
    arguments, then one with the arguments."""
    out = []
    for i, call in enumerate(calls, start=first):
        fn = call["function"]
        out.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                    "function": {"name": fn["name"], "arguments": ""}}]})
        out.append({"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]})
    return out


@dataclass
class _Choice:
    """One answer as it is gathered for the JSON reply."""

    parts: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None

    def add(self, chunk: Any) -> None:
        self.parts.append(chunk.text)
        self.calls.extend(chunk.tool_calls or [])
        self.logprobs.extend(chunk.logprobs or [])
        self.reason = chunk.finish_reason or self.reason

    def body(self, index: int, logprobs: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.parts) or None if self.calls
                                   else "".join(self.parts)}
        if self.calls:
            message["tool_calls"] = self.calls
        return {"index": index, "message": message,
                "logprobs": {"content": self.logprobs} if logprobs else None,
                "finish_reason": _finish_reason(self.reason)}


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
        choices = [_Choice() for _ in range(request.n)]
        while True:
            item = await queue.get()
            if isinstance(item, _Failed):
                self.write_error_response(self.chat_error(item.error))
                return None
            if isinstance(item, _Done):
                break
            index, chunk = item
            choices[index].add(chunk)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice.body(i, request.logprobs) for i, choice in enumerate(choices)],
            "usage": _usage(item),
        }
        extra = _studio(item, request.stats)
        if extra:
            body["model_studio"] = extra
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

        def event(delta: dict, reason: str | None = None, index: int = 0, logprobs: Any = None, **extra: Any) -> str:
            if request.logprobs and logprobs is None and reason is None:
                logprobs = []
            choice = {"index": index, "delta": delta,
                      "logprobs": {"content": logprobs} if logprobs is not None else None, "finish_reason": reason}
            chunk = dict(base, choices=[choice], **usage_field, **extra)
            return f"data: {json.dumps(chunk, default=str)}\n\n"

        started: set[int] = set()
        calls = [0] * request.n  # tool calls sent per answer
        last_reason = None
        item = first
        try:
            while True:
                # Everything already queued goes out in one write and one flush.
                while True:
                    if isinstance(item, (_Done, _Failed)):
                        break
                    index, chunk = item
                    if index not in started:  # each answer opens with its role, as OpenAI's do
                        started.add(index)
                        self.write(event({"role": "assistant", "content": ""}, index=index))
                    if chunk.text:
                        self.write(event({"content": chunk.text}, index=index, logprobs=chunk.logprobs))
                    if chunk.tool_calls:
                        for n, delta in enumerate(_call_deltas(chunk.tool_calls, calls[index])):
                            # the calls' tokens' logprobs ride on the first delta
                            self.write(event(delta, index=index, logprobs=None if n else chunk.logprobs))
                        calls[index] += len(chunk.tool_calls)
                    if chunk.finish_reason is not None:
                        if index == request.n - 1:  # the last answer's end goes out with the figures
                            last_reason = chunk.finish_reason
                        else:
                            self.write(event({}, _finish_reason(chunk.finish_reason), index=index))
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
            studio = _studio(item, request.stats)
            extra = {"model_studio": studio} if studio else {}
            self.write(event({}, _finish_reason(last_reason or _stat(item.stats, "finish_reason")),
                             index=request.n - 1, **extra))
            if request.include_usage:
                self.write("data: " + json.dumps(dict(base, choices=[], usage=_usage(item))) + "\n\n")
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
