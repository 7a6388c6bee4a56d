"""Safetensors model folders (and, when asked, GGUF files dequantized) through transformers.

Prompts come from ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``; ``generate``
runs in a thread feeding a ``TextIteratorStreamer``, and a ``StoppingCriteria`` watches the stop
``Event`` so a cancelled answer ends at the next token.

A ``Guide`` (``structured``): tools go to ``apply_chat_template(tools=...)``; a JSON schema is
enforced by llguidance (``_guided.py``); log probabilities come from the scores ``generate``
samples from, read by a logits processor and paired with the token the streamer then receives.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ValidationError, backend_unavailable
from ..fit import gguf_metadata
from ._timing import Meter
from .base import Backend, ChatChunk, LoadedModel, LoadOptions, Message, SamplingParams, template_error
from .llama_cpp import no_template_error, template_reads_tools
from .structured import Guide

if TYPE_CHECKING:
    from ..placement import Placement

DTYPES = ("float32", "bfloat16", "float16")


def placement_kwargs(placement: Placement | None, options: LoadOptions, cuda: bool) -> tuple[dict[str, Any], str | None]:
    """(extra ``from_pretrained`` arguments, device to move the model to afterwards or None).

    The user's ``gpu_layers`` wins (0: CPU; anything else: the GPU); else the placement's verdict:
    ``gpu`` its GPU, ``partial`` ``device_map="auto"`` with ``max_memory`` (the arbiter's room per
    device), ``cpu`` the CPU. Without a placement: the GPU whenever CUDA is there (as before).
    """
    if not cuda or options.gpu_layers == 0:
        return {}, "cpu"
    if options.gpu_layers is not None or placement is None:
        return {}, placement.device if placement is not None and placement.device != "cpu" else "cuda"
    if placement.verdict == "gpu":
        return {}, placement.device
    if placement.verdict == "partial":
        max_memory: dict[int | str, int] = {}
        for device, room in placement.max_memory.items():
            max_memory[int(device.split(":", 1)[1]) if device.startswith("cuda:") else device] = int(room)
        return {"device_map": "auto", "max_memory": max_memory}, None
    return {}, "cpu"


class TransformersModel(LoadedModel):
    backend = "transformers"

    def __init__(self, model_id: str, path: str, options: LoadOptions, model: Any, tokenizer: Any,
                 memory_bytes: int, context_length: int) -> None:
        self.model_id = model_id
        self.path = path
        self.options = options
        self.model = model
        self.tokenizer = tokenizer
        self.memory_bytes = memory_bytes
        self.context_length = context_length
        self.last_stats = None
        self._lock = threading.Lock()
        template = tokenizer.chat_template
        self._tool_syntax = any(template_reads_tools(t) for t in (
            template.values() if isinstance(template, dict) else [template or ""]))

    def tool_syntax(self) -> bool:
        return self._tool_syntax

    def _encode(self, messages: list[Message] | str, tools: list[dict[str, Any]] | None = None) -> Any:
        import jinja2

        if isinstance(messages, str):  # a raw prompt (``stream_prompt``): no chat template
            return self.tokenizer(messages, return_tensors="pt")
        try:
            text = self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                                      add_generation_prompt=True)
        except jinja2.TemplateError as exc:  # transformers' raise_exception() is a TemplateError
            raise template_error(exc, model=self.model_id, rendering=True) from None
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False)

    def count_tokens(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> int:
        return int(self._encode(messages, tools)["input_ids"].shape[-1])

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None, guide: Guide | None = None) -> Iterator[ChatChunk]:
        import torch
        from transformers import (
            LogitsProcessorList,
            StoppingCriteria,
            StoppingCriteriaList,
            TextIteratorStreamer,
        )

        from ._guided import LogprobRecorder, schema_processor

        guide = guide or Guide()
        recorder = LogprobRecorder(self.tokenizer, guide.logprobs) if guide.logprobs is not None else None

        halt = threading.Event()  # set by the caller's stop Event or when the consumer walks away

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return bool(halt.is_set() or (stop is not None and stop.is_set()))

        class _Streamer(TextIteratorStreamer):
            generated = 0

            def put(self, value: Any) -> None:
                if not self.next_tokens_are_prompt:
                    self.generated += int(value.numel())
                    if recorder is not None:
                        recorder.chosen(int(value.reshape(-1)[-1]))
                super().put(value)

        with self._lock:
            if self.model is None:
                raise ValidationError(f"{self.model_id} was unloaded", details={"model": self.model_id})
            enc = self._encode(messages, guide.tools).to(self.model.device)
            # the recorder first: the model's own distribution, before a schema's mask (as on llama.cpp)
            processors = [p for p in (recorder, schema_processor(self.tokenizer, guide.json_schema, self.model_id))
                          if p is not None]
            meter = Meter()  # prompt tokens: counted once, by ChatService before it calls stream
            streamer = _Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            greedy = params.temperature <= 0
            kwargs: dict[str, Any] = dict(
                **enc, streamer=streamer, max_new_tokens=params.max_tokens, do_sample=not greedy,
                repetition_penalty=params.repeat_penalty, stopping_criteria=StoppingCriteriaList([_Stop()]),
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                logits_processor=LogitsProcessorList(processors))
            if not greedy:
                kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            if params.stop:
                kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    with torch.inference_mode():
                        self.model.generate(**kwargs)
                except BaseException as exc:  # surfaced in the consumer
                    errors.append(exc)
                    streamer.end()

            thread = threading.Thread(target=run, name=f"generate-{self.model_id}", daemon=True)
            thread.start()
            seen = 0
            try:
                for text in streamer:
                    new = streamer.generated - seen
                    seen = streamer.generated
                    meter.token(max(new, 1))
                    if text:
                        yield ChatChunk(text=text, tokens=max(new, 1), logprobs=recorder.take() if recorder else None)
            finally:
                halt.set()
                thread.join()
            if errors:
                raise errors[0]
            meter.tokens = max(meter.tokens, streamer.generated)
            if stop is not None and stop.is_set():
                finish = "cancelled"
            elif streamer.generated >= params.max_tokens:
                finish = "length"
            else:
                finish = "stop"
            self.last_stats = meter.stats(finish)
        yield ChatChunk(text="", tokens=0, finish_reason=finish, stats=self.last_stats)

    def count_prompt_tokens(self, prompt: str) -> int:
        return int(self._encode(prompt)["input_ids"].shape[-1])

    def stream_prompt(self, prompt: str, params: SamplingParams,
                      stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        """Continue a raw prompt: ``stream`` with the prompt tokenized as it is."""
        return self.stream(prompt, params, stop)  # type: ignore[arg-type]  # _encode takes a str too

    def close(self) -> None:
        with self._lock:
            model, self.model = self.model, None
        if model is not None:
            del model
            import gc

            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:
                pass


class TransformersBackend(Backend):
    name = "transformers"
    formats = ("safetensors", "pytorch", "gguf")  # GGUF only when asked: dequantized, full size
    package = "transformers"
    extra = "transformers"
    accepts_placement = True

    def uses_gpu(self) -> bool:
        if importlib.util.find_spec("torch") is None:
            return False
        import torch

        return bool(torch.cuda.is_available())

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))

    def check_chat_template(self, template: str, *, model: str | None = None) -> None:
        import jinja2

        try:  # private, but it is what apply_chat_template renders with (and caches)
            from transformers.utils.chat_template_utils import _compile_jinja_template
        except ImportError:  # moved in some release: errors then surface, typed, at the first chat
            return
        try:
            _compile_jinja_template(template)
        except (jinja2.TemplateError, RecursionError) as exc:
            raise template_error(exc, model=model) from None

    def load(self, model_id: str, path: str, options: LoadOptions, placement: Placement | None = None) -> LoadedModel:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise backend_unavailable(self.package, self.extra, "Chat with safetensors models") from None
        target = Path(path)
        folder, extra = (target.parent, {"gguf_file": target.name}) if target.is_file() else (target, {})
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **extra)
        if options.chat_template:
            tokenizer.chat_template = options.chat_template
        if not tokenizer.chat_template and extra:
            tokenizer.chat_template = gguf_metadata(target).get("chat_template")
        if not tokenizer.chat_template:  # refuse before the weights are read
            raise no_template_error(model_id)
        own = tokenizer.chat_template if isinstance(tokenizer.chat_template, dict) else {"": tokenizer.chat_template}
        for template in own.values():  # several named templates in some tokenizers
            self.check_chat_template(template, model=None if options.chat_template else model_id)
        placed, move_to = placement_kwargs(placement, options, torch.cuda.is_available())
        cuda = move_to != "cpu"
        dtype_name = options.dtype or ("bfloat16" if cuda and torch.cuda.is_bf16_supported() else
                                       "float16" if cuda else "float32")
        if dtype_name not in DTYPES:
            raise ValidationError(f"dtype must be one of {', '.join(DTYPES)}", details={"dtype": dtype_name})
        if placed and importlib.util.find_spec("accelerate") is None:
            raise backend_unavailable("accelerate", "transformers", "Splitting a model between GPU and CPU")
        model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype_name),
                                                          **extra, **placed)
        if options.adapter:
            try:
                from peft import PeftModel
            except ImportError:
                raise backend_unavailable("peft", "train", "Loading a LoRA adapter") from None
            model = PeftModel.from_pretrained(model, options.adapter)
        if move_to is not None:
            model.to(move_to)
        model.eval()
        cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        trained = int(getattr(cfg, "max_position_embeddings", 0) or 2048)
        ctx = int(options.context_length or min(trained, 4096))
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
        heads = int(getattr(cfg, "num_attention_heads", 0) or 1)
        kv_heads = int(getattr(cfg, "num_key_value_heads", 0) or heads)
        head_dim = int(getattr(cfg, "head_dim", 0) or (getattr(cfg, "hidden_size", 0) // heads))
        element = torch.tensor([], dtype=getattr(torch, dtype_name)).element_size()
        kv = 2 * layers * kv_heads * head_dim * element * ctx
        resolved = replace(options, backend=self.name, context_length=ctx, dtype=dtype_name)
        return TransformersModel(model_id, str(target), resolved, model, tokenizer, int(weights + kv), ctx)
