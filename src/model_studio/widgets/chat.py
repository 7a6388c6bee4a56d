"""``ChatPlayground``: chat with a local model, streaming, with sampling controls and compare mode.

Besides the ``model_studio.api`` operations (``chat.models``, ``chat.loaded``, ``chat.load``,
``chat.unload``, ``downloads.start``, ...), the widget answers two messages of its own, because a
streamed answer is a conversation between the kernel and the front end rather than one JSON reply:

- ``{id, kind: "call", method: "chat.stream", params: {model, messages, <sampling>, load_options?}}``
  runs ``engine.chat.stream`` in a worker thread, pushes
  ``{kind: "event", type: "chat.chunk", data: {request_id: id, text, tokens}}`` per chunk, then
  replies ``{id, kind: "result", result: {text, stats, finish_reason}}``;
- ``{id, kind: "call", method: "chat.stop", params: {request_id}}`` sets that stream's stop event
  (the stream then ends within a few tokens, its result saying ``finish_reason: "cancelled"``).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import traitlets

from ..core.chat.base import SamplingParams
from ..errors import StudioError, ValidationError
from ._base import StudioWidget, internal_error

log = logging.getLogger(__name__)

#: Sampling parameter names a ``chat.stream`` call may carry: the fields of the one declaration.
SAMPLING = tuple(f.name for f in fields(SamplingParams))
#: Messages this widget answers itself instead of ``api.call``.
WIDGET_METHODS = ("chat.stream", "chat.stop")
#: Chunk events are coalesced to at most one per this many seconds (a fast model never floods the comm).
CHUNK_INTERVAL = 0.03


def open_stream(chat: Any, model: str, messages: list[dict[str, Any]], stop_event: threading.Event,
                sampling: dict[str, Any], load_options: dict[str, Any] | None = None) -> Any:
    """``chat.stream(...)`` with the stop event and the stop *strings* each under the right name.

    The service's ``stop`` keyword is the stop ``threading.Event``; sampling's ``stop`` (a list of
    strings) then travels as ``stop_strings`` (or ``stop_sequences``), unless the service names its
    event ``stop_event``/``cancel``, in which case ``stop`` keeps the strings.
    """
    sampling = dict(sampling)
    strings = sampling.pop("stop", None)
    kwargs: dict[str, Any] = {}
    if load_options:
        kwargs["load_options"] = load_options
    try:
        names = set(inspect.signature(chat.stream).parameters)
    except (TypeError, ValueError):
        names = set()
    event_name = next((n for n in ("stop_event", "cancel", "cancel_event") if n in names), "stop")
    kwargs[event_name] = stop_event
    if strings:
        if event_name != "stop":
            sampling["stop"] = strings
        else:
            name = next((n for n in ("stop_strings", "stop_sequences", "stop_words") if n in names), "stop_strings")
            sampling[name] = strings
    return chat.stream(model, messages, **kwargs, **sampling)


def _stats_dict(stats: Any) -> dict[str, Any] | None:
    if stats is None:
        return None
    if hasattr(stats, "to_dict"):
        return stats.to_dict()
    if is_dataclass(stats):
        return asdict(stats)
    return dict(stats) if isinstance(stats, dict) else None


class ChatPlayground(StudioWidget):
    """A chat playground for local models (the ``Chat`` tab of ``Studio``, and ``%studio chat MODEL``).

    ``model`` is the chosen model (synced: set it to switch); ``system_prompt`` seeds the system
    message. Streaming, stop, regenerate, compare mode and export live in the front end, drawn over
    ``engine.chat.stream``; the export offers the ``ms.engine().chat.complete(...)`` code that
    repeats the conversation.
    """

    _bundle = "chat.js"

    #: The chosen model id (``org/name[:variant]`` or ``local/<name>``); empty: pick in the widget.
    model = traitlets.Unicode("").tag(sync=True)
    #: The system prompt the conversation starts with.
    system_prompt = traitlets.Unicode("").tag(sync=True)
    #: The saved conversation shown (an id; empty: a new one, saved on the first message). Synced both
    #: ways: set it to open another, and it follows the conversation picked or started in the widget.
    conversation = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model: str = "", conversation: str = "", **kwargs: Any) -> None:
        self._streams: dict[str, threading.Event] = {}
        self._streams_lock = threading.Lock()
        super().__init__(model=model, conversation=self._conversation_id(kwargs.get("engine"), conversation),
                         **kwargs)

    @staticmethod
    def _conversation_id(engine: Any, name: str) -> str:
        """``name`` (an id or a title) as the id of a saved conversation; NotFoundError if none has it."""
        if not name:
            return ""
        if engine is None:
            from .. import get_engine

            engine = get_engine()
        found = engine.conversations.find(name)
        if found is None:
            from ..errors import NotFoundError

            raise NotFoundError(f"No conversation {name!r}", details={"conversation": name},
                                resolution_steps=["ms.conversations().list() lists them"])
        return found["id"]

    # Calls -------------------------------------------------------------------------------------

    def _run_call(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method == "chat.stream":
            self._run_stream(msg)
        elif method == "chat.stop":
            self._run_stop(msg)
        else:
            super()._run_call(msg)

    def _run_stop(self, msg: dict[str, Any]) -> None:
        params = msg.get("params") or {}
        request_id = params.get("request_id") if isinstance(params, dict) else None
        if not isinstance(request_id, str) or not request_id:
            self._reply(msg.get("id"), error=ValidationError(
                "Parameter 'request_id' must be the id of a chat.stream call").to_dict()["error"])
            return
        with self._streams_lock:
            event = self._streams.get(request_id)
        if event is not None:
            event.set()
        self._reply(msg.get("id"), result={"request_id": request_id, "stopped": event is not None})

    def _run_stream(self, msg: dict[str, Any]) -> None:
        call_id = msg.get("id")
        stop = threading.Event()
        key = str(call_id)
        with self._streams_lock:
            self._streams[key] = stop
        try:
            result = self._stream(key, msg.get("params"), stop)
        except StudioError as exc:
            self._reply(call_id, error=exc.to_dict()["error"])
        except Exception as exc:  # a bug must become a banner, never a dead kernel
            log.exception("chat.stream failed")
            self._reply(call_id, error=internal_error(exc, "chat.stream"))
        else:
            self._reply(call_id, result=result)
        finally:
            with self._streams_lock:
                self._streams.pop(key, None)

    def _stream(self, request_id: str, params: Any, stop: threading.Event) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise ValidationError("chat.stream params must be an object {model, messages, ...}")
        model = params.get("model") or self.model
        if not isinstance(model, str) or not model:
            raise ValidationError("Parameter 'model' is required: pick a model first",
                                  details={"parameter": "model"})
        messages = params.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValidationError("Parameter 'messages' must be a non-empty list of {role, content}",
                                  details={"parameter": "messages"})
        unknown = set(params) - {"model", "messages", "load_options", *SAMPLING}
        if unknown:
            raise ValidationError(f"Unknown parameter(s) for chat.stream: {', '.join(sorted(unknown))}",
                                  details={"unknown": sorted(unknown)})
        sampling = {k: params[k] for k in SAMPLING if params.get(k) is not None}
        load_options = params.get("load_options") or None
        chat = self._engine.chat
        started = time.monotonic()
        parts: list[str] = []
        pending: list[str] = []
        pending_tokens = 0
        tokens = 0
        finish_reason = None
        first = None
        last_sent = 0.0

        def flush() -> None:
            nonlocal pending, pending_tokens, last_sent
            if pending:
                self._send_message({"kind": "event", "type": "chat.chunk",
                                    "data": {"request_id": request_id, "text": "".join(pending),
                                             "tokens": pending_tokens}})
                pending, pending_tokens = [], 0
                last_sent = time.monotonic()

        iterator = open_stream(chat, model, messages, stop, sampling, load_options)
        try:
            for chunk in iterator:
                if chunk.text:
                    if first is None:
                        first = time.monotonic() - started
                    parts.append(chunk.text)
                    pending.append(chunk.text)
                n = int(getattr(chunk, "tokens", 1) or 0)
                tokens += n
                pending_tokens += n
                if getattr(chunk, "finish_reason", None):
                    finish_reason = chunk.finish_reason
                if time.monotonic() - last_sent >= CHUNK_INTERVAL:
                    flush()
                if self._closed.is_set():
                    stop.set()
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        flush()
        total = time.monotonic() - started
        stats = _stats_dict(getattr(iterator, "stats", None)) or self._loaded_stats(model)
        if stats is None:
            gen = total - (first or 0.0)
            stats = {"prompt_tokens": 0, "completion_tokens": tokens, "ttft": first,
                     "tokens_per_second": (tokens / gen) if gen > 0 and tokens else None,
                     "total_time": total, "finish_reason": finish_reason}
        if finish_reason is None:
            finish_reason = stats.get("finish_reason") or ("cancelled" if stop.is_set() else "stop")
        stats["finish_reason"] = finish_reason
        return {"text": "".join(parts), "stats": stats, "finish_reason": finish_reason}

    def _loaded_stats(self, model: str) -> dict[str, Any] | None:
        """The model's ``last_stats`` (set by the backend when the stream ends), when reachable."""
        get = getattr(self._engine.chat, "get_loaded", None)
        if get is None:
            return None
        try:
            loaded = get(model)
        except Exception:
            return None
        return _stats_dict(getattr(loaded, "last_stats", None))

    # Life cycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every running stream, then close."""
        lock = getattr(self, "_streams_lock", None)
        if lock is not None:
            with lock:
                for event in self._streams.values():
                    event.set()
        super().close()

    def _summary(self) -> str:
        parts = [f"model={self.model!r}" if self.model else "",
                 f"conversation={self.conversation!r}" if self.conversation else ""]
        return ", ".join(p for p in parts if p)
