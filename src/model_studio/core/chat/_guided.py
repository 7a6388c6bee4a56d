"""Logits processors for the transformers backend: JSON-schema decoding and log probabilities.

Constrained decoding uses llguidance (the library llama.cpp itself can build against). Chosen
over the alternatives because it is one small self-contained wheel (Rust core; no torch or
transformers pin: installing it changed no other package here, where xgrammar's wheel depends on
torch and transformers versions), it reads JSON Schema directly (``grammar_from_json_schema``),
it computes each step's token mask in microseconds from the HF tokenizer (``llguidance.hf``), and
the studio's other backend, llama.cpp, follows the same grammar semantics. lm-format-enforcer
(pure Python) is slower per token and outlines pulls in a much larger dependency tree.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ...errors import ValidationError, backend_unavailable
from .structured import logprob_entry


class LogprobRecorder:
    """Keeps the log-softmax of each step's scores; ``chosen(token)`` (from the streamer, right
    after sampling) pairs it with the token; ``take()`` hands the entries so far to a chunk."""

    def __init__(self, tokenizer: Any, top: int) -> None:
        self.tokenizer = tokenizer
        self.top = top
        self._last: Any = None
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # generate's thread writes, the consumer takes
        self._special = set(getattr(tokenizer, "all_special_ids", None) or [])  # not in the text: no entry

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        self._last = torch.log_softmax(scores[0].float(), dim=-1).cpu()
        return scores

    def _entry(self, token: int, logprob: float) -> dict[str, Any]:
        text = self.tokenizer.decode([token])
        return logprob_entry(text, text.encode("utf-8"), logprob)

    def chosen(self, token: int) -> None:
        dist, self._last = self._last, None
        if dist is None or not 0 <= token < dist.shape[0] or token in self._special:
            return
        entry = self._entry(token, float(dist[token]))
        if self.top:
            values, ids = dist.topk(self.top)
            entry["top_logprobs"] = [self._entry(int(i), float(v)) for v, i in zip(values, ids, strict=True)]
        else:
            entry["top_logprobs"] = []
        with self._lock:
            self._entries.append(entry)

    def take(self) -> list[dict[str, Any]] | None:
        with self._lock:
            taken, self._entries = self._entries, []
        return taken or None


class _SchemaProcessor:
    """Masks every token that would leave the JSON schema (llguidance's matcher, one per answer)."""

    def __init__(self, matcher: Any, vocab: int) -> None:
        from llguidance.torch import allocate_token_bitmask

        self.matcher = matcher
        self.mask = allocate_token_bitmask(1, vocab)
        self.prompt: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        from llguidance.torch import apply_token_bitmask_inplace, fill_next_token_bitmask

        if self.prompt is None:
            self.prompt = int(input_ids.shape[-1])
        else:  # the token sampled last step
            self.matcher.consume_token(int(input_ids[0, -1]))
        fill_next_token_bitmask(self.matcher, self.mask, 0)
        apply_token_bitmask_inplace(scores, self.mask.to(scores.device))
        return scores


def schema_processor(tokenizer: Any, schema: dict[str, Any] | None, model_id: str) -> Any:
    """A logits processor holding decoding to ``schema`` (None: no constraint)."""
    if schema is None:
        return None
    try:
        import llguidance
        import llguidance.hf
    except ImportError:
        raise backend_unavailable("llguidance", "transformers", "JSON mode and forced tool calls") from None
    try:
        ll_tokenizer = _ll_tokenizer(tokenizer)
    except Exception as exc:  # a slow (non-"fast") or unusual tokenizer llguidance cannot read
        raise ValidationError(f"{model_id}'s tokenizer cannot drive constrained decoding: {exc}",
                              details={"model": model_id, "param": "response_format"},
                              resolution_steps=["Use a model with a fast (tokenizer.json) tokenizer",
                                                "Or its GGUF through the llama-cpp backend"]) from None
    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema),
                                                            defaults={"whitespace_flexible": False})
    matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
    if matcher.is_error():
        raise ValidationError(f"{model_id} cannot follow this JSON schema: {matcher.get_error()}",
                              details={"model": model_id, "param": "response_format"})
    return _SchemaProcessor(matcher, ll_tokenizer.vocab_size)


def _ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a HF tokenizer, built once per tokenizer (it walks the vocabulary) and
    kept on it, so it goes when the model is unloaded."""
    import llguidance.hf

    built = getattr(tokenizer, "_model_studio_llguidance", None)
    if built is None:
        built = llguidance.hf.from_tokenizer(tokenizer)
        tokenizer._model_studio_llguidance = built
    return built
