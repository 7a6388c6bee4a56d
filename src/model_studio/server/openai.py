"""The OpenAI-compatible surface under ``/model-studio/v1/``: any OpenAI client can chat with local models.

    from openai import OpenAI
    client = OpenAI(base_url="http://localhost:8888/model-studio/v1", api_key=JUPYTER_TOKEN)
    client.chat.completions.create(model="local/SmolLM2-135M-Instruct", messages=[...], stream=True)

Jupyter accepts ``Authorization: Bearer <token>``, so the client's ``api_key`` is the Jupyter token.

Routes: ``GET /models``, ``GET /models/{id}`` (the id may hold ``/``), ``POST /chat/completions``
(JSON or Server-Sent Events). Request fields and what they become:

- ``model``, ``messages``: required. Roles ``system``, ``user``, ``assistant``; ``developer`` is read
  as ``system``. ``content`` is a string or a list of ``{"type": "text", "text": ...}`` parts
  (joined with newlines). Tool and function messages, images and audio are refused with 400.
- ``temperature``, ``top_p``, ``seed``, ``stop`` (a string or up to 4 strings), ``max_tokens`` or
  ``max_completion_tokens`` (the latter wins), and the extensions ``top_k`` and ``repeat_penalty``
  go to the engine's sampler. A field left out takes the engine's default, not OpenAI's.
- ``stream``, ``stream_options.include_usage``: SSE chunks as OpenAI sends them; with
  ``include_usage`` a last chunk with empty ``choices`` carries ``usage``.
- ``n``: only 1. ``presence_penalty``, ``frequency_penalty`` (-2..2), ``user``, ``metadata``,
  ``store``, ``parallel_tool_calls`` and unknown fields are accepted and ignored; llama.cpp's own
  penalty is ``repeat_penalty``. ``logprobs``, ``tools``/``functions``, ``logit_bias`` and a
  ``response_format`` other than text are refused with 400 rather than silently dropped.

Authorization: the server's Authorizer (JupyterHub's, or a custom ``ServerApp.authorizer_class``)
must allow ``read`` on ``model-studio`` to list models and ``execute`` to chat.

A request body is at most ``MAX_REQUEST_BYTES`` (8 MiB; 413 above it), JSON nested at most
``handlers.MAX_JSON_DEPTH`` levels.

Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 400 for bad input,
401 without a valid token, 403 (``permission_error``) when the Authorizer refuses, 404
(``code: model_not_found``) for a model that is not local, 413 for a body over the limit, 507 when
memory is short, 503 when a backend is not installed. Errors that retrying cannot fix carry
``x-should-retry: false``, which the official clients honour. They are written by
``_base.ErrorWriter`` (``error_shape = ErrorShape.OPENAI``), the REST handlers' writer.

Generation runs in a worker thread that feeds an ``asyncio.Queue`` through
``loop.call_soon_threadsafe``; a client that disconnects sets the stop event, so generation ends
within a few tokens. One loaded model generates for one request at a time (llama.cpp's context is
not re-entrant): requests for the same model queue on the engine's per-model lock.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from tornado.iostream import StreamClosedError

from ..errors import StudioError
from ._base import AUTH_RESOURCE, ErrorShape, StudioHandler, from_studio_error
from ._openai_request import ChatRequest, OpenAIError, parse_chat_request
from .handlers import parse_json_body

PREFIX = "/model-studio/v1"
OWNER = "model-studio"
MAX_REQUEST_BYTES = 8 << 20  # a chat request body, in bytes (long conversations fit)


# --- generation in a worker thread ---------------------------------------------------------------


@dataclass
class _Done:
    stats: Any  # ChatStats or None


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
    try:
        for chunk in chat.stream(request.model, request.messages, cancel=stop, **request.sampling):
            stats = getattr(chunk, "stats", None) or stats  # the last chunk carries the answer's figures
            put(chunk)
        put(_Done(stats))
    except BaseException as exc:  # handed to the event loop, which answers it
        put(_Failed(exc))


def _stat(stats: Any, name: str) -> int | None:
    if stats is None:
        return None
    value = stats.get(name) if isinstance(stats, dict) else getattr(stats, name, None)
    return int(value) if isinstance(value, (int, float)) else None


def _finish_reason(reason: str | None) -> str:
    return reason if reason in ("stop", "length") else "stop"  # "cancelled": the client has gone anyway


# --- handlers -----------------------------------------------------------------------------------


class OpenAIHandler(StudioHandler):
    """Base: errors in OpenAI's shape, including tornado's and Jupyter's own (auth, 404, 405)."""

    error_shape = ErrorShape.OPENAI

    async def model_list(self) -> list[dict[str, Any]]:
        models = await asyncio.to_thread(self.engine.chat.models)
        return [{"id": m["id"], "object": "model", "created": int(m.get("created") or 0), "owned_by": OWNER}
                for m in models]


class ModelsHandler(OpenAIHandler):
    """``GET /models`` and ``GET /models/{id}``."""

    @tornado.web.authenticated
    @authorized("read", resource=AUTH_RESOURCE)
    async def get(self, model: str | None = None) -> None:
        try:
            models = await self.model_list()
        except StudioError as exc:
            self.write_error_response(exc)
            return
        if model is None:
            self.write_json({"object": "list", "data": models})
            return
        for m in models:
            if m["id"] == model:
                self.write_json(m)
                return
        self.write_error_response(OpenAIError(404, f"The model '{model}' does not exist or is not local",
                                              param="model", code="model_not_found"))


class ChatCompletionsHandler(OpenAIHandler):
    """``POST /chat/completions``, as JSON or as Server-Sent Events."""

    _stop: threading.Event | None = None

    def on_connection_close(self) -> None:
        if self._stop is not None:
            self._stop.set()

    @tornado.web.authenticated
    @authorized("execute", resource=AUTH_RESOURCE)
    async def post(self) -> None:
        try:
            # not JSON, too deep (400) or too large (413); then each field checked (400)
            request = parse_chat_request(parse_json_body(self.request.body or b"", MAX_REQUEST_BYTES))
        except (StudioError, OpenAIError) as err:
            self.write_error_response(err)
            return

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stop = stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has closed (server shutting down): stop generating
                stop.set()

        threading.Thread(target=_generate, args=(self.engine.chat, request, stop, put),
                         name=f"openai-chat-{request.model}", daemon=True).start()
        try:
            if request.stream:
                await self._stream(request, queue)
            else:
                await self._complete(request, queue)
        finally:
            stop.set()  # ends the worker if we leave early (error, disconnect)

    def _fail(self, error: BaseException) -> OpenAIError:
        """The generation's error as OpenAI's (a bug is logged, and answered without its text)."""
        if isinstance(error, OpenAIError):
            return error
        if isinstance(error, StudioError):
            return from_studio_error(error)
        self.log.error("model_studio: chat completion failed", exc_info=error)
        return OpenAIError(500, "Chat completion failed unexpectedly; see the Jupyter server log", "server_error")

    async def _complete(self, request: ChatRequest, queue: asyncio.Queue) -> None:
        parts: list[str] = []
        tokens = 0
        reason = None
        while True:
            item = await queue.get()
            if isinstance(item, _Failed):
                self.write_error_response(self._fail(item.error))
                return
            if isinstance(item, _Done):
                break
            parts.append(item.text)
            tokens += item.tokens
            reason = item.finish_reason or reason
        stats = item.stats
        completion = _stat(stats, "completion_tokens") or tokens
        prompt = _stat(stats, "prompt_tokens") or 0
        self.write_json({
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "logprobs": None, "finish_reason": _finish_reason(reason or _stat_reason(stats))}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        })

    async def _stream(self, request: ChatRequest, queue: asyncio.Queue) -> None:
        # Wait for the first item before answering: a model that is unknown or cannot load gets a
        # proper HTTP error status, not an error inside a 200 stream.
        first = await queue.get()
        if isinstance(first, _Failed):
            self.write_error_response(self._fail(first.error))
            return
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": request.model}
        usage_field = {"usage": None} if request.include_usage else {}

        def event(delta: dict, reason: str | None = None) -> str:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
                         **usage_field)
            return f"data: {json.dumps(chunk)}\n\n"

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
                    err = self._fail(item.error)
                    self.write(f"data: {json.dumps(err.body())}\n\n")
                    await self.flush()
                    self.finish()
                    return
                if isinstance(item, _Done):
                    break
                await self.flush()
                item = await queue.get()
            stats = item.stats
            self.write(event({}, _finish_reason(reason or _stat_reason(stats))))
            if request.include_usage:
                completion = _stat(stats, "completion_tokens") or tokens
                prompt = _stat(stats, "prompt_tokens") or 0
                self.write("data: " + json.dumps(dict(base, choices=[], usage={
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion})) + "\n\n")
            self.write("data: [DONE]\n\n")
            await self.flush()
            self.finish()
        except StreamClosedError:
            pass  # the client went away; the finally in post() stops the generation


def _stat_reason(stats: Any) -> str | None:
    if stats is None:
        return None
    return stats.get("finish_reason") if isinstance(stats, dict) else getattr(stats, "finish_reason", None)


class OpenAINotFoundHandler(OpenAIHandler):
    """Unknown paths under ``/model-studio/v1`` answer 404 in OpenAI's shape (authenticated; nothing
    to authorize, it serves nothing)."""

    @tornado.web.authenticated
    async def get(self, *args: str) -> None:
        self.write_error_response(OpenAIError(404, f"Unknown request URL: {self.request.method} {self.request.path}",
                                              code="unknown_url"))

    post = patch = delete = put = get
