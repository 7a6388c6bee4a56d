"""OpenAI's legacy ``/completions``: continue a raw prompt, no chat template.

``stream_prompt`` is the engine's call (``engine.chat.stream_prompt``); ``parse_completion_request``
reads the request body and ``CompletionWriter`` (a tornado ``RequestHandler`` mixin, like
``openai_stream.ChatCompletionWriter``) answers it as one JSON ``text_completion`` or as
Server-Sent Events, for the Jupyter server's ``/model-studio/v1`` and the model host alike.

Fields: ``model`` and ``prompt`` (a string, or a list of strings: one choice per prompt, answered
in turn) are required; the sampling fields are chat's (``max_tokens``, ``temperature``, ``top_p``,
``stop``, ``seed`` and the extensions ``top_k``, ``repeat_penalty``); ``stream`` and
``stream_options.include_usage``. ``presence_penalty``, ``frequency_penalty`` and ``user`` are
accepted and ignored; ``echo``, ``suffix``, ``logprobs``, ``best_of`` > 1, ``n`` > 1 and token-id
prompts are refused with a 400 rather than silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError

from ...errors import StudioError, ValidationError
from .base import ChatChunk, LoadedModel
from .openai_request import OpenAIError, _bad, _integer, _number, _sampling, from_studio_error

if TYPE_CHECKING:
    from . import ChatService, ChatStream

log = logging.getLogger(__name__)
MAX_PROMPTS = 16  # prompts of one request, answered one after another


def stream_prompt(chat: ChatService, model: Any, prompt: str, *, cancel: threading.Event | None = None,
                  load_options: dict[str, Any] | None = None, **sampling: Any) -> ChatStream:
    """Stream the continuation of ``prompt`` (no chat template); loads the model on demand."""
    from . import ChatStream

    if not isinstance(prompt, str) or not prompt:
        raise ValidationError("prompt must be a non-empty string", details={"param": "prompt"})
    stop = sampling.pop("stop", None)
    params = chat._sampling(sampling, [stop] if isinstance(stop, str) else stop)
    loaded = model if isinstance(model, LoadedModel) else chat._load(model, chat._options(load_options))
    key = (loaded.model_id, loaded.backend, loaded.options.adapter)

    def chunks() -> Iterator[ChatChunk]:
        with chat.manager.using(key):
            tokens = loaded.count_prompt_tokens(prompt)
            if tokens + 1 > loaded.context_length:
                raise ValidationError(f"The prompt takes {tokens} tokens, more than the context of "
                                      f"{loaded.context_length}", details={"prompt_tokens": tokens,
                                                                           "context_length": loaded.context_length,
                                                                           "param": "prompt"})
            bounded = replace(params, max_tokens=min(params.max_tokens, loaded.context_length - tokens))
            for chunk in loaded.stream_prompt(prompt, bounded, cancel):
                if chunk.stats is not None:
                    chunk.stats.prompt_tokens = tokens
                yield chunk

    return ChatStream(chunks(), loaded)


@dataclass
class CompletionRequest:
    model: str
    prompts: list[str]
    sampling: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    stats: bool = False
    load_options: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


def parse_completion_request(body: Any) -> CompletionRequest:
    """The request body -> ``CompletionRequest``; ``OpenAIError`` (400) naming the bad field."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("'model' is required: the id of a local model (see GET /models)", "model")
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if isinstance(prompts, list) and prompts and all(isinstance(p, int) for p in prompts) or \
            isinstance(prompts, list) and any(isinstance(p, list) for p in prompts):
        raise _bad("Token-id prompts are not supported; send the prompt as text", "prompt")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise _bad("'prompt' must be a non-empty string or an array of non-empty strings", "prompt")
    if len(prompts) > MAX_PROMPTS:
        raise _bad(f"At most {MAX_PROMPTS} prompts in one request", "prompt")
    for name, ok in (("n", (_integer(body, "n", 1) or 1) == 1), ("best_of", (_integer(body, "best_of", 1) or 1) == 1),
                     ("echo", not body.get("echo")), ("suffix", not body.get("suffix")),
                     ("logprobs", body.get("logprobs") is None), ("logit_bias", not body.get("logit_bias"))):
        if not ok:
            raise _bad(f"'{name}' is not supported here" + (" (only 1)" if name in ("n", "best_of") else ""), name)
    for name in ("presence_penalty", "frequency_penalty"):
        _number(body, name, -2.0, 2.0)
    sampling = _sampling(body)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and (not stream or not isinstance(options, dict)
                                or not isinstance(options.get("include_usage", False), bool)):
        raise _bad("'stream_options' is {\"include_usage\": bool}, only when 'stream' is true", "stream_options")
    ext = body.get("model_studio") or {}
    if not isinstance(ext, dict) or not isinstance(ext.get("load_options") or {}, dict) \
            or not isinstance(ext.get("request_id") or "", str):
        raise _bad("'model_studio' must be an object {stats, load_options, request_id}", "model_studio")
    return CompletionRequest(model.strip(), list(prompts), sampling, stream, bool((options or {}).get("include_usage")),
                             bool(ext.get("stats")), dict(ext.get("load_options") or {}), ext.get("request_id") or None)


def _finish(reason: str | None) -> str:
    return reason if reason in ("stop", "length") else "stop"


class CompletionWriter:
    """Mixin for a tornado ``RequestHandler`` with ``write_error_response``: ``await self.answer_prompt(chat, request)``."""

    _stop: threading.Event | None = None

    def on_connection_close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        super().on_connection_close()  # type: ignore[misc]  # the handler's (it cancels a forward)

    def completion_started(self, request: CompletionRequest, stop: threading.Event) -> None:
        """Hook: an answer to ``request`` is being generated (``stop`` ends it)."""

    def completion_ended(self, request: CompletionRequest) -> None:
        """Hook: the answer ended, whichever way."""

    async def answer_prompt(self: Any, chat: Any, request: CompletionRequest) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._stop = stop = threading.Event()
        self.completion_started(request, stop)

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                stop.set()

        def work() -> None:
            try:
                for index, prompt in enumerate(request.prompts):
                    kwargs: dict[str, Any] = {"cancel": stop, **request.sampling}
                    if request.load_options:
                        kwargs["load_options"] = request.load_options
                    stream = chat.stream_prompt(request.model, prompt, **kwargs)
                    for chunk in stream:
                        put((index, chunk))
                        if stop.is_set():
                            break
                put(None)
            except BaseException as exc:  # answered on the event loop
                put(exc)

        threading.Thread(target=work, name=f"openai-completion-{request.model}", daemon=True).start()
        base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": request.model, "system_fingerprint": None}
        texts = [""] * len(request.prompts)
        reasons: list[str | None] = [None] * len(request.prompts)
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        stats: list[Any] = []
        started = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    if not isinstance(item, (OpenAIError, StudioError)):
                        log.error("model_studio: completion failed", exc_info=item)
                        item = OpenAIError(500, "Completion failed unexpectedly; see the server log", "server_error")
                    if not started:
                        self.write_error_response(item)
                    else:
                        body = item.body() if isinstance(item, OpenAIError) else from_studio_error(item).body()
                        self.write(f"data: {json.dumps(body)}\n\n")
                        self.finish()
                    return
                if item is None:
                    break
                index, chunk = item
                if chunk.stats is not None:
                    stats.append(chunk.stats.to_dict())
                    usage["prompt_tokens"] += chunk.stats.prompt_tokens
                    usage["completion_tokens"] += chunk.stats.completion_tokens
                if chunk.finish_reason is not None:
                    reasons[index] = _finish(chunk.finish_reason)
                if not request.stream:
                    texts[index] += chunk.text
                    continue
                if not started:
                    started = True
                    self.set_header("Content-Type", "text/event-stream; charset=utf-8")
                    self.set_header("Cache-Control", "no-cache")
                    self.set_header("X-Accel-Buffering", "no")
                if chunk.text or chunk.finish_reason is not None:
                    choice = {"text": chunk.text, "index": index, "logprobs": None,
                              "finish_reason": reasons[index] if chunk.finish_reason is not None else None}
                    extra = {"model_studio": {"stats": stats[-1]}} if request.stats and chunk.stats else {}
                    self.write(f"data: {json.dumps(dict(base, choices=[choice], **extra))}\n\n")
                    await self.flush()
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if request.stream:
                if not started:
                    self.set_header("Content-Type", "text/event-stream; charset=utf-8")
                if request.include_usage:
                    self.write(f"data: {json.dumps(dict(base, choices=[], usage=usage))}\n\n")
                self.write("data: [DONE]\n\n")
                self.finish()
                return
            body = dict(base, choices=[{"text": text, "index": i, "logprobs": None, "finish_reason": reasons[i] or "stop"}
                                       for i, text in enumerate(texts)], usage=usage)
            if request.stats:
                body["model_studio"] = {"stats": stats}
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps(body, default=str))
        except StreamClosedError:
            return
        finally:
            stop.set()
            self.completion_ended(request)
