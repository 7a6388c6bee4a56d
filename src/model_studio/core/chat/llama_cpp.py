"""GGUF models through llama-cpp-python.

The chat template is the GGUF's own ``tokenizer.chat_template`` (or an explicit one), rendered by
llama-cpp-python's ``Jinja2ChatFormatter``; a GGUF without a template is refused rather than
falling back to a hand-written prompt format.

A ``Guide`` (``structured``) adds: tools rendered by the template (``tools=``), decoding
constrained by llama.cpp's grammar built from a JSON schema (``LlamaGrammar.from_json_schema``),
and log probabilities. llama-cpp-python reports logprobs only for a model loaded with
``logits_all=True`` (a context-sized logits buffer: ~800 MB for a 49k vocabulary at 4096 tokens),
so they are read instead from the raw logits its sampler chain hands a custom logits processor,
paired with the token the sampler then picks (``_LogprobRecorder``).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ResourceError, ValidationError, backend_unavailable, broken_file
from ..fit import kv_cache_bytes, shape_from_gguf
from ._timing import Meter
from .base import (
    Backend,
    ChatChunk,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
    template_error,
    usable_cores,
)
from .structured import Guide, logprob_entry

if TYPE_CHECKING:
    from ..placement import Placement

DEFAULT_CONTEXT = 4096
_PARAMS_LOCK = threading.Lock()


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return any(line.startswith("flags") and "amx_tile" in line for line in fh)
    except OSError:
        return False


@contextmanager
def _model_params(use_extra_buffers: bool) -> Iterator[None]:
    """Load with llama.cpp's extra (repacked) weight buffers off when asked.

    On CPUs with AMX, llama.cpp repacks Q4_0/Q4_1/Q8_0 weights into AMX tile buffers; in some VMs
    and sandboxes the tile state is not granted and the first batched decode segfaults, taking the
    kernel down. llama-cpp-python has no argument for ``use_extra_bufts``, so its default-params
    factory is wrapped for the duration of the load.
    """
    if use_extra_buffers:
        yield
        return
    import llama_cpp.llama as module

    with _PARAMS_LOCK:
        original = module.llama_cpp.llama_model_default_params

        def without_extra() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        module.llama_cpp.llama_model_default_params = without_extra
        try:
            yield
        finally:
            module.llama_cpp.llama_model_default_params = original


def no_template_error(model_id: str) -> ValidationError:
    return ValidationError(
        f"{model_id} has no chat template, so its prompts cannot be formatted for chat",
        details={"model": model_id},
        resolution_steps=[
            "Use an instruction-tuned ('-Instruct' / '-chat') variant of the model, which ships a template",
            "Or pass an explicit Jinja template: engine.chat.load(MODEL, chat_template='{% for m in messages %}...')",
        ])


def split_parts(path: Path) -> list[Path]:
    """All parts of a split GGUF (``-00001-of-00003.gguf``) or just ``path``."""
    import re

    m = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", path.name, re.IGNORECASE)
    if not m:
        return [path]
    prefix = path.name[:m.start()]
    return sorted(p for p in path.parent.glob(f"{prefix}-*-of-{m.group(2)}.gguf"))


def _open(llama_cpp: Any, file: Path, model_id: str, kwargs: dict[str, Any]) -> Any:
    """``llama_cpp.Llama(**kwargs)``; its bare ValueErrors become typed errors."""
    try:
        return llama_cpp.Llama(**kwargs)
    except ValueError as exc:
        text = str(exc)
        if "Failed to load model" in text:  # llama.cpp's log (stderr) holds the detail
            raise broken_file(
                file, f"could not be read by llama-cpp-python {getattr(llama_cpp, '__version__', '')}: the "
                      "file is damaged or its architecture is newer than this llama.cpp", model=model_id,
                resolution_steps=["Download the file again",
                                  "Or upgrade llama.cpp: pip install -U llama-cpp-python"]) from None
        if "llama_context" in text:
            raise ResourceError(f"llama.cpp could not allocate a context of {kwargs['n_ctx']} tokens for {model_id}",
                                details={"model": model_id, "context_length": kwargs["n_ctx"]},
                                resolution_steps=["Load it with a shorter context_length"]) from None
        raise


def template_reads_tools(template: str) -> bool:
    """True when a chat template's Jinja reads a ``tools`` variable (it has tool syntax)."""
    import jinja2
    import jinja2.meta

    try:
        return "tools" in jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(template))
    except jinja2.TemplateError:
        return False


class _LogprobRecorder:
    """Log probabilities of the sampled tokens, from the raw logits of each step.

    ``processor`` (a llama-cpp-python logits processor, first in its sampler chain) keeps the
    log-softmax of the step; ``sample`` (wrapping ``Llama.sample`` on the instance for the
    duration of one answer) pairs it with the token picked.
    """

    def __init__(self, llm: Any, top: int) -> None:
        self.llm = llm
        self.top = top
        self.entries: list[dict[str, Any]] = []
        self._last: Any = None

    def processor(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        logits = np.asarray(scores, dtype=np.float64)
        peak = logits.max()
        self._last = logits - peak - np.log(np.exp(logits - peak).sum())
        return scores

    def _entry(self, token: int, logprob: float) -> dict[str, Any]:
        piece = self.llm.detokenize([token], special=True)
        return logprob_entry(piece.decode("utf-8", "replace"), piece, logprob)

    def wrap(self, sample: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            token = sample(*args, **kwargs)
            if self._last is not None and 0 <= int(token) < len(self._last):
                dist = self._last
                entry = self._entry(int(token), float(dist[int(token)]))
                best = dist.argsort()[::-1][:self.top] if self.top else []  # sorted: the top few of 50k
                entry["top_logprobs"] = [self._entry(int(i), float(dist[int(i)])) for i in best]
                self.entries.append(entry)
            self._last = None
            return token

        return recorded

    def take(self) -> list[dict[str, Any]] | None:
        taken, self.entries = self.entries, []
        return taken or None


class LlamaCppModel(LoadedModel):
    backend = "llama-cpp"

    def __init__(self, model_id: str, path: str, options: LoadOptions, llm: Any, formatter: Any,
                 memory_bytes: int) -> None:
        self.model_id = model_id
        self.path = path
        self.options = options
        self.llm = llm
        self.formatter = formatter
        self.memory_bytes = memory_bytes
        self.context_length = int(options.context_length or DEFAULT_CONTEXT)
        self.last_stats = None
        self._lock = threading.Lock()  # a llama_context runs one generation at a time
        self._tool_syntax = template_reads_tools(getattr(formatter, "template", "") or "")

    def tool_syntax(self) -> bool:
        return self._tool_syntax

    def count_tokens(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> int:
        import jinja2

        try:
            prompt = self.formatter(messages=messages, **({"tools": tools} if tools else {})).prompt
        except (jinja2.TemplateError, ValueError) as exc:  # llama-cpp's raise_exception() is a ValueError
            raise template_error(exc, model=self.model_id, rendering=True) from None
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None, guide: Guide | None = None) -> Iterator[ChatChunk]:
        guide = guide or Guide()
        with self._lock:
            if self.llm is None:
                raise ValidationError(f"{self.model_id} was unloaded", details={"model": self.model_id})
            meter = Meter()  # prompt tokens: counted once, by ChatService before it calls stream
            kwargs: dict[str, Any] = dict(
                messages=messages, stream=True, temperature=params.temperature, top_p=params.top_p,
                top_k=params.top_k, max_tokens=params.max_tokens, stop=list(params.stop) or None,
                repeat_penalty=params.repeat_penalty)
            if params.seed is not None:
                kwargs["seed"] = params.seed
            if guide.tools:
                kwargs["tools"] = guide.tools  # rendered by the template; calls are parsed by ChatService
            if guide.json_schema is not None:
                kwargs["grammar"] = self._grammar(guide.json_schema)
            recorder = None
            if guide.logprobs is not None:
                from llama_cpp import LogitsProcessorList

                recorder = _LogprobRecorder(self.llm, guide.logprobs)
                kwargs["logits_processor"] = LogitsProcessorList([recorder.processor])
                self.llm.sample = recorder.wrap(type(self.llm).sample.__get__(self.llm))
            finish = "stop"
            chunks = self.llm.create_chat_completion(**kwargs)
            try:
                for part in chunks:
                    if stop is not None and stop.is_set():
                        finish = "cancelled"
                        break
                    choice = part["choices"][0]
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        meter.token()
                        yield ChatChunk(text=text, tokens=1, logprobs=recorder.take() if recorder else None)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                if stop is not None and stop.is_set():
                    finish = "cancelled"
            finally:
                chunks.close()  # ends llama-cpp-python's generator (and the decode loop) at once
                self.llm.__dict__.pop("sample", None)  # the recorder's wrapper, if any
            self.last_stats = meter.stats(finish)
        yield ChatChunk(text="", tokens=0, finish_reason=finish, stats=self.last_stats)

    def count_prompt_tokens(self, prompt: str) -> int:
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def stream_prompt(self, prompt: str, params: SamplingParams,
                      stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        """``create_completion`` on the raw prompt (OpenAI's legacy ``/completions``)."""
        with self._lock:
            if self.llm is None:
                raise ValidationError(f"{self.model_id} was unloaded", details={"model": self.model_id})
            meter = Meter()
            kwargs: dict[str, Any] = dict(
                prompt=prompt, stream=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
                max_tokens=params.max_tokens, stop=list(params.stop) or None, repeat_penalty=params.repeat_penalty)
            if params.seed is not None:
                kwargs["seed"] = params.seed
            finish = "stop"
            parts = self.llm.create_completion(**kwargs)
            try:
                for part in parts:
                    if stop is not None and stop.is_set():
                        break
                    piece = part["choices"][0]
                    if piece.get("text"):
                        meter.token()
                        yield ChatChunk(text=piece["text"], tokens=1)
                    finish = piece.get("finish_reason") or finish
            finally:
                parts.close()
            if stop is not None and stop.is_set():
                finish = "cancelled"
            self.last_stats = meter.stats(finish)
        yield ChatChunk(text="", tokens=0, finish_reason=finish, stats=self.last_stats)
    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp import LlamaGrammar

        try:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # what its converter cannot express
            raise ValidationError(f"llama.cpp cannot turn this JSON schema into a grammar: {exc}",
                                  details={"model": self.model_id, "param": "response_format"},
                                  resolution_steps=["Use the JSON schema features llama.cpp supports (types, "
                                                    "properties, required, enum, const, anyOf, items, $ref)"]) from None

    def close(self) -> None:
        with self._lock:
            llm, self.llm = self.llm, None
        if llm is not None and hasattr(llm, "close"):
            llm.close()


class LlamaCppBackend(Backend):
    name = "llama-cpp"
    formats = ("gguf",)
    package = "llama-cpp-python"
    extra = "llama"
    accepts_placement = True

    def uses_gpu(self) -> bool:
        return self.gpu_offload()

    def available(self) -> bool:
        return importlib.util.find_spec("llama_cpp") is not None

    def gpu_offload(self) -> bool:
        try:
            import llama_cpp

            return bool(llama_cpp.llama_supports_gpu_offload())
        except Exception:
            return False

    def check_chat_template(self, template: str, *, model: str | None = None) -> None:
        import jinja2
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:  # the formatter compiles the template in the environment it renders with
            Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
        except (jinja2.TemplateError, RecursionError) as exc:
            raise template_error(exc, model=model) from None

    def gpu_layers(self, options: LoadOptions, placement: Placement | None = None) -> int:
        """``n_gpu_layers``: the user's ``gpu_layers``, else the placement's (fit verdict: every
        layer -1, partial N, CPU 0), else every layer when this build can offload."""
        if options.gpu_layers is not None:
            return options.gpu_layers
        if placement is not None:
            return placement.gpu_layers
        return -1 if self.gpu_offload() else 0

    def load_kwargs(self, file: Path, options: LoadOptions, context: int,
                    placement: Placement | None = None) -> dict[str, Any]:
        """The arguments ``llama_cpp.Llama`` gets for this load."""
        # llama-cpp-python defaults to half the cores; a chat studio on a laptop wants them all
        return dict(model_path=str(file), n_ctx=context, n_gpu_layers=self.gpu_layers(options, placement),
                    verbose=False, n_threads=options.threads or usable_cores())

    def load(self, model_id: str, path: str, options: LoadOptions, placement: Placement | None = None) -> LoadedModel:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise backend_unavailable(self.package, self.extra, "Chat with GGUF models") from None
        from ..fit import gguf_metadata

        file = Path(path)
        if options.adapter:
            raise ValidationError("LoRA adapters are loaded with backend='transformers' for now",
                                  details={"adapter": options.adapter})
        meta = gguf_metadata(file)
        template = options.chat_template or meta.get("chat_template")
        if not template:
            raise no_template_error(model_id)
        self.check_chat_template(template, model=None if options.chat_template else model_id)
        trained = meta.get("context_length") or DEFAULT_CONTEXT
        ctx = int(options.context_length or min(trained, DEFAULT_CONTEXT))
        kwargs = self.load_kwargs(file, options, ctx, placement)
        gpu_layers = kwargs["n_gpu_layers"]
        with _model_params(use_extra_buffers=not _cpu_has_amx()):
            llm = _open(llama_cpp, file, model_id, kwargs)
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        eos = llm.detokenize([eos_id], special=True).decode("utf-8", "replace") if eos_id >= 0 else ""
        bos = llm.detokenize([bos_id], special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos,
                                        stop_token_ids=[eos_id] if eos_id >= 0 else None)
        llm.chat_handler = formatter.to_chat_handler()
        weights = sum(p.stat().st_size for p in split_parts(file))
        kv, _ = kv_cache_bytes(shape_from_gguf(file), ctx)
        resolved = replace(options, backend=self.name, context_length=ctx, gpu_layers=gpu_layers,
                           chat_template=options.chat_template)
        return LlamaCppModel(model_id, str(file), resolved, llm, formatter, weights + kv)
