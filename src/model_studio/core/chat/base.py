"""The chat backend interface: every backend (llama-cpp, transformers, later remote) implements it.

A ``Backend`` loads a model into a ``LoadedModel``; a ``LoadedModel`` streams a chat completion from
messages and sampling parameters, can be stopped mid-answer through a ``threading.Event``, and
reports honest figures (time to first token, tokens per second). Chat templates come from the
model (GGUF metadata, ``tokenizer.apply_chat_template``) or an explicit user-chosen template,
never from a hand-written prompt format.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import cache
from typing import Any

from ...errors import ValidationError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
ROLES = ("system", "user", "assistant")
MAX_CONTEXT = 10_000_000  # tokens; the longest context a model ships with today
MAX_GPU_LAYERS = 4096  # more layers than any model has; llama.cpp reads a larger count as "all"


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity where the OS tells, else all cores.

    More threads than cores only makes llama.cpp's threads wait on each other (generation fell
    from 115 to 0.74 tokens/s with 256 threads on 2 cores)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def template_error(exc: Exception, *, model: str | None = None, rendering: bool = False) -> ValidationError:
    """A chat template that does not compile (or fails on these messages), as a ValidationError
    naming Jinja's error and line. ``model``: the template is that model's own."""
    line = getattr(exc, "lineno", None)
    reason = (getattr(exc, "message", None) or str(exc) or type(exc).__name__) + (f" (line {line})" if line else "")
    whose = f"The chat template of {model}" if model else "The chat_template"
    what = "failed on these messages" if rendering else "is not a valid Jinja template"
    return ValidationError(
        f"{whose} {what}: {reason}", details={"model": model, "template_error": reason, "line": line},
        resolution_steps=(["Check the roles and order of the messages the template expects"] if rendering else [])
        + ["Pass a template that compiles: chat_template='{% for m in messages %}...{% endfor %}'"])


@dataclass
class LoadOptions:
    """How to load a model. ``None`` means the backend's default."""

    backend: str | None = None  # "llama-cpp" or "transformers"; None: chosen from the model's format
    context_length: int | None = None  # tokens
    threads: int | None = None
    gpu_layers: int | None = None  # -1 = every layer on the GPU, 0 = CPU only, N layers; None: the fit decides
    dtype: str | None = None  # transformers: "float32", "bfloat16", "float16"
    chat_template: str | None = None  # an explicit Jinja template when the model has none
    quantization: str | None = None  # which GGUF file of a repo with several
    adapter: str | None = None  # path of a LoRA adapter to load beside the base model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_STOP = 16  # stop strings of one answer
MAX_STOP_CHARS = 1000


def _limit(default: Any = MISSING, *, factory: Any = MISSING, item: dict[str, Any] | None = None,
           **limits: Any) -> Any:
    """A field whose limits (pydantic ``Field`` keywords) ride in its metadata; ``item``: limits of
    each list item."""
    meta = {"limits": limits, "item": item or {}}
    return field(default_factory=factory, metadata=meta) if factory is not MISSING else field(default=default,
                                                                                              metadata=meta)


# The one declaration of the sampling parameters and their limits: the engine validates with it, the
# operations table (chat.complete, batch.start) and the OpenAI door read their fields from it, and the
# OpenAPI document shows them. Strict: a bool is no number, "5" no integer (a query string's
# text is converted before, by the door that reads it).
# A plain dataclass whose pydantic validator is built on first use (``_validator``): importing
# pydantic costs ~50 ms, which every engine process (a download child, a training worker) paid at
# import time when this was a pydantic dataclass, though only a chat request needs it.
@dataclass
class SamplingParams:
    temperature: float = _limit(0.7, ge=0, le=5, description="0: greedy")
    top_p: float = _limit(0.95, gt=0, le=1)
    top_k: int = _limit(40, ge=0, le=10_000, description="0: no top-k")
    max_tokens: int = _limit(512, ge=1, le=1_000_000, description="at most this many new tokens")
    stop: list[str] = _limit(factory=list, item={"min_length": 1, "max_length": MAX_STOP_CHARS},
                             max_length=MAX_STOP, description="stop strings")
    # 32 bits, as llama.cpp and the video seed take it
    seed: int | None = _limit(None, ge=0, le=2**32 - 1, description="default: random")
    repeat_penalty: float = _limit(1.1, gt=0, le=5)

    @classmethod
    def checked(cls, **values: Any) -> SamplingParams:
        """``SamplingParams(**values)`` validated against the limits; pydantic's error as a
        ValidationError naming the parameter."""
        import pydantic

        from ...validation import studio_error

        try:
            valid = _validator()(**values)
        except pydantic.ValidationError as exc:
            raise studio_error(exc) from None
        return cls(**{f.name: getattr(valid, f.name) for f in fields(cls)})

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of the parameters and their limits (for the operations table and OpenAPI)."""
        import pydantic

        return pydantic.TypeAdapter(_validator()).json_schema()


@cache
def _validator() -> Any:
    """A pydantic dataclass built from ``SamplingParams``' fields and limits (it validates when called)."""
    import typing

    from pydantic import ConfigDict, Field
    from pydantic.dataclasses import dataclass as pydantic_dataclass

    hints = typing.get_type_hints(SamplingParams)
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations}
    for f in fields(SamplingParams):
        kind = hints[f.name]
        if f.metadata["item"]:
            kind = list[typing.Annotated[str, Field(**f.metadata["item"])]]  # type: ignore[misc]
        annotations[f.name] = kind
        default = ({"default_factory": f.default_factory} if f.default_factory is not MISSING
                   else {"default": f.default})
        namespace[f.name] = Field(**default, **f.metadata["limits"])
    return pydantic_dataclass(type("SamplingParams", (), namespace),
                              config=ConfigDict(extra="forbid", allow_inf_nan=False, strict=True))


@dataclass
class ChatChunk:
    """A piece of a streamed answer."""

    text: str
    tokens: int = 1  # tokens this chunk carries
    finish_reason: str | None = None  # set on the last chunk: "stop", "length" or "cancelled"
    stats: ChatStats | None = None  # set on the last chunk: this answer's figures
    #: complete OpenAI tool calls ``[{id, type, function: {name, arguments}}]`` (``structured.ToolCalls``)
    tool_calls: list[dict[str, Any]] | None = None
    #: OpenAI ``logprobs.content`` entries of this chunk's tokens (``{token, logprob, bytes, top_logprobs}``)
    logprobs: list[dict[str, Any]] | None = None


@dataclass
class ChatStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft: float | None = None  # seconds from the call to the first token
    tokens_per_second: float | None = None  # completion tokens / generation time after the first token
    total_time: float = 0.0  # seconds
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_messages(messages: Any) -> list[Message]:
    """Messages as OpenAI shapes them: a non-empty list of {role, content} with known roles."""
    if not isinstance(messages, list) or not messages:
        raise ValidationError("messages must be a non-empty list of {role, content}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValidationError(f"messages[{i}] must be {{'role': one of {ROLES}, 'content': str}}",
                                  details={"index": i, "message": m})
        out.append({"role": m["role"], "content": m["content"]})
    return out


class LoadedModel(ABC):
    """A model in memory, ready to chat."""

    model_id: str
    backend: str
    path: str
    options: LoadOptions
    memory_bytes: int  # what it holds (weights + KV cache + buffers), for the memory budget
    context_length: int
    last_stats: ChatStats | None = None
    #: Where it was loaded (``core.placement.Placement.to_dict()``: verdict, gpu_layers, devices), set
    #: by ``ChatService`` after the backend loads it.
    placement: dict[str, Any] | None = None

    @abstractmethod
    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        """Yield the answer as it is generated; ``last_stats`` is set when the iterator ends.

        Setting ``stop`` ends the stream within a few tokens with ``finish_reason="cancelled"``.
        A backend that constrains decoding or reports log probabilities also takes ``guide=``
        (``structured.Guide``: tools to render, a JSON schema, logprobs); it is passed only when set.
        """

    def tool_syntax(self) -> bool:
        """True when the model's chat template renders ``tools`` itself (else the json fallback)."""
        return False

    @abstractmethod
    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt tokens these messages take once the chat template is applied (a backend with
        ``tool_syntax`` also takes ``tools=``, passed only when set)."""

    @abstractmethod
    def close(self) -> None:
        """Release the memory."""

    def stream_prompt(self, prompt: str, params: SamplingParams,
                      stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        """Continue a raw ``prompt`` (no chat template), as ``stream`` does a conversation."""
        raise ValidationError(f"The {self.backend} backend cannot complete raw prompts",
                              details={"model": self.model_id, "backend": self.backend})

    def count_prompt_tokens(self, prompt: str) -> int:
        """Tokens a raw prompt takes."""
        raise ValidationError(f"The {self.backend} backend cannot complete raw prompts",
                              details={"model": self.model_id, "backend": self.backend})

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_id, "backend": self.backend, "path": self.path,
                "memory_bytes": self.memory_bytes, "context_length": self.context_length,
                "options": self.options.to_dict(), "placement": self.placement}


class Backend(ABC):
    """Loads models of some formats; registered by name in ``engine/chat/__init__.py``."""

    name: str
    formats: tuple[str, ...]  # "gguf", "safetensors"
    #: ``load`` takes ``placement=`` (a ``core.placement.Placement``): where the fit verdict puts the model.
    accepts_placement = False

    def uses_gpu(self) -> bool:
        """True when this backend can put a model's layers on a GPU here (a GPU build, CUDA)."""
        return False

    @abstractmethod
    def available(self) -> bool:
        """True when the optional dependency is importable."""

    @abstractmethod
    def load(self, model_id: str, path: str, options: LoadOptions) -> LoadedModel:
        """Load ``path`` (a GGUF file or a model folder); raise BackendUnavailableError if not installed."""

    def check_chat_template(self, template: str, *, model: str | None = None) -> None:
        """Raise ValidationError (``template_error``) when ``template`` does not compile in the Jinja
        environment this backend renders with; checked before anything is loaded."""
        return None  # a backend that renders no Jinja (a fake, a remote API) accepts any template
