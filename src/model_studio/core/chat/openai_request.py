"""Reading OpenAI's ``/chat/completions`` request: every field checked, and a 400 that names the bad one.

Shared by the Jupyter server's ``/model-studio/v1`` and the model host (``core/host``), so it
imports nothing from Jupyter. Besides OpenAI's fields a request may carry the studio's own
extension object ``model_studio``: ``{"stats": true}`` asks for the engine's ``ChatStats`` in the
last chunk (or the JSON answer), ``load_options`` are ``LoadOptions`` fields for the model, and
``request_id`` names the answer so that ``POST /manage/cancel`` on the host can stop it.

``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format``, ``logprobs`` and
``top_logprobs`` are read by the engine's ``structured.OutputControls`` (one reading for every
door) and carried in ``ChatRequest.controls``; ``n`` answers are generated one after another.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ...errors import BackendUnavailableError, NotFoundError, ResourceError, StudioError, ValidationError
from .base import SamplingParams
from .structured import OutputControls, checked_messages

MAX_N = 16  # answers per request (generated one after another)
_CONTROLS = ("tools", "tool_choice", "parallel_tool_calls", "response_format", "logprobs", "top_logprobs")

_SAMPLING = {f.name for f in fields(SamplingParams)}
_IGNORED = ("presence_penalty", "frequency_penalty")  # accepted (range-checked), not applied


class OpenAIError(Exception):
    """An error to answer in OpenAI's shape."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", *,
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @property
    def retryable(self) -> bool:
        return self.status in (408, 409, 429, 502, 503, 504) and self.code != "backend_unavailable"


def _bad(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


@dataclass
class ChatRequest:
    """A validated ``/chat/completions`` request."""

    model: str
    messages: list[dict[str, Any]]  # roles system/user/assistant/tool; assistant tool_calls kept
    sampling: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    stats: bool = False  # extension: the engine's ChatStats in the last chunk / the answer
    load_options: dict[str, Any] = field(default_factory=dict)  # extension: LoadOptions fields
    request_id: str | None = None  # extension: the id a cancel request names
    #: ``engine.chat.stream`` keywords: tools, tool_choice, parallel_tool_calls, response_format,
    #: logprobs, top_logprobs (only those the request set)
    controls: dict[str, Any] = field(default_factory=dict)
    n: int = 1  # answers to generate

    @property
    def logprobs(self) -> bool:
        return bool(self.controls.get("logprobs"))


def _number(body: dict, name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _bad(f"'{name}' must be a number between {lo:g} and {hi:g}; got {value!r}", name)
    return float(value)


def _integer(body: dict, name: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bounds = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise _bad(f"'{name}' must be an integer {bounds}; got {value!r}", name)
    return value


def _content(i: int, message: dict) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if content is None and message.get("role") == "assistant":
        return None if message.get("tool_calls") else ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _bad(f"messages[{i}].content: only text parts are supported; got {kind!r}",
                           f"messages.[{i}].content")
            texts.append(part["text"])
        return "\n".join(texts)
    raise _bad(f"messages[{i}].content must be a string or a list of text parts", f"messages.[{i}].content")


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _bad("'messages' must be a non-empty array of {role, content}", "messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise _bad(f"messages[{i}] must be an object with 'role' and 'content'", f"messages.[{i}]")
        role = m.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise _bad(f"messages[{i}].role must be one of 'system', 'developer', 'user', 'assistant', 'tool'; "
                       f"got {role!r}", f"messages.[{i}].role")
        msg = {**{k: m[k] for k in ("tool_calls", "tool_call_id", "name") if m.get(k) is not None},
               "role": role, "content": _content(i, m)}
        out.append(msg)
    try:  # the engine's own reading of tool calls and results
        checked_messages(out)
    except ValidationError as exc:
        raise _bad(exc.message, str(exc.details.get("param") or "messages")) from None
    return out


def _sampling(body: dict) -> dict[str, Any]:
    """The sampling fields, checked by the engine's one declaration of them (``SamplingParams``).

    OpenAI's spellings: ``max_completion_tokens`` (or the older ``max_tokens``), ``stop`` as one
    string or an array.
    """
    sampling = {name: body[name] for name in _SAMPLING if body.get(name) is not None}
    names = {name: name for name in sampling}
    if body.get("max_completion_tokens") is not None:
        sampling["max_tokens"] = body["max_completion_tokens"]
        names["max_tokens"] = "max_completion_tokens"
    if isinstance(sampling.get("stop"), str):
        sampling["stop"] = [sampling["stop"]]
    try:
        SamplingParams.checked(**sampling)
    except ValidationError as exc:
        name = str(exc.details.get("parameter", ""))
        shown = names.get(name, name)
        raise _bad(exc.message.replace(f"'{name}'", f"'{shown}'"), shown or None) from None
    return sampling


def parse_chat_request(body: Any) -> ChatRequest:
    """OpenAI's request body -> ``ChatRequest``; raises ``OpenAIError`` (400) naming the bad field."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("'model' is required: the id of a local chat model (see GET /models)", "model")
    messages = _messages(body.get("messages"))

    n = _integer(body, "n", 1, MAX_N) or 1
    for name in _IGNORED:
        _number(body, name, -2.0, 2.0)
    if body.get("functions") or body.get("function_call"):
        raise _bad("The legacy 'functions' / 'function_call' fields are not supported: use 'tools' and "
                   "'tool_choice'", "functions")
    if body.get("logit_bias"):
        raise _bad("logit_bias is not supported", "logit_bias")
    controls = {name: body[name] for name in _CONTROLS if body.get(name) is not None}
    try:
        OutputControls.checked(**controls)
    except ValidationError as exc:
        raise _bad(exc.message, str(exc.details.get("param") or "")) from None

    sampling = _sampling(body)

    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise _bad("'stream_options' is only allowed when 'stream' is true", "stream_options")
        if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
            raise _bad("'stream_options' must be an object like {\"include_usage\": true}", "stream_options")
        include_usage = options.get("include_usage", False)
    ext = body.get("model_studio") or {}
    if not isinstance(ext, dict) or not isinstance(ext.get("load_options") or {}, dict) \
            or not isinstance(ext.get("request_id") or "", str):
        raise _bad("'model_studio' must be an object {stats, load_options, request_id}", "model_studio")
    return ChatRequest(model=model.strip(), messages=messages, sampling=sampling, stream=stream,
                       include_usage=include_usage, stats=bool(ext.get("stats")),
                       load_options=dict(ext.get("load_options") or {}), request_id=ext.get("request_id") or None,
                       controls=controls, n=n)


def from_studio_error(exc: StudioError) -> OpenAIError:
    """The engine's typed error as OpenAI would word its status, type and code."""
    message = exc.message
    if exc.resolution_steps:
        message += f" ({exc.resolution_steps[0]})"
    if isinstance(exc, NotFoundError):
        return OpenAIError(404, message, param="model", code="model_not_found")
    if isinstance(exc, ValidationError):  # 400, or 413 for a body over the limit
        return OpenAIError(exc.http_status, message, param=exc.details.get("param"))
    if isinstance(exc, ResourceError):
        return OpenAIError(507, message, "server_error", code="insufficient_resources")
    if isinstance(exc, BackendUnavailableError):
        return OpenAIError(503, message, "server_error", code="backend_unavailable")
    status = exc.http_status
    return OpenAIError(status, message, "invalid_request_error" if status < 500 else "server_error",
                       code=exc.type)
