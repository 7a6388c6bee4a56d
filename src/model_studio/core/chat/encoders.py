"""Embedding models in memory: GGUF through llama.cpp, encoder folders through transformers.

Both pool the way the model declares, so a vector matches what the model's authors publish:

- GGUF: llama.cpp reads ``{arch}.pooling_type`` from the file (1 mean, 2 cls, 3 last) when the
  context is created with ``pooling_type`` unspecified. A GGUF that declares none is a generative
  model (the starter model): it is pooled by the mean over its tokens, and ``pooling`` says so.
  Vectors are L2-normalized, as llama.cpp's own server does (``--embd-normalize 2``, its default).
- transformers: a sentence-transformers folder (``modules.json``) is read module by module: the
  ``Pooling`` module's ``config.json`` gives the modes (cls, mean, max, mean_sqrt_len_tokens,
  lasttoken; several are concatenated in sentence-transformers' order) and a ``Normalize`` module
  turns L2 normalization on. A folder without ``modules.json`` is pooled by the mean and not
  normalized (what sentence-transformers does with a bare transformers model). The pooling is a
  few lines of torch over ``last_hidden_state``: reading two JSON files is all it takes, so the
  ``sentence-transformers`` package (and its own dependencies) is not needed. A module this
  reader does not know (``Dense``, ``WeightedMeanPooling``...) is refused by name rather than
  skipped, since skipping it would give different vectors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ValidationError, backend_unavailable
from .base import LoadedModel, LoadOptions, Message, SamplingParams, usable_cores

EMBEDDING = "embedding"  # the third slot of a ModelManager key holding an embedding model
MAX_EMBED_CONTEXT = 8192  # tokens a GGUF embedding context holds at most (one input per batch)
_LLAMA_POOLING = {0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}
# sentence-transformers' Pooling modes, in the order it concatenates them
_ST_MODES = ("cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
_ST_NAMES = {"cls_token": "cls", "max_tokens": "max", "mean_tokens": "mean", "mean_sqrt_len_tokens": "mean_sqrt_len",
             "weightedmean_tokens": "weightedmean", "lasttoken": "last"}


class EmbeddingModel(LoadedModel):
    """A model loaded to embed text; ``embed_tokens`` answers float32 rows, already pooled."""

    dimensions: int  # the length of a vector
    normalized: bool  # True: every vector has L2 norm 1
    pooling: str  # "mean", "cls", "last", "max", "mean_sqrt_len" or several joined with "+"
    max_tokens: int  # the longest input, in tokens

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None) -> Iterator[Any]:
        raise ValidationError(f"{self.model_id} is loaded as an embedding model; load it for chat with "
                              f"engine.chat.load({self.model_id!r})", details={"model": self.model_id})

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(self.tokenize(m["content"])) for m in messages)

    def tokenize(self, text: str) -> list[int]:
        raise NotImplementedError

    def embed_tokens(self, batch: list[list[int]]) -> np.ndarray:
        """(len(batch), dimensions) float32 vectors of these token sequences."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "embedding": {"dimensions": self.dimensions, "normalized": self.normalized,
                                                    "pooling": self.pooling, "max_tokens": self.max_tokens}}


def _l2(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1, norms)).astype(np.float32)


# --- llama.cpp ----------------------------------------------------------------------------------


class LlamaCppEmbedder(EmbeddingModel):
    backend = "llama-cpp"

    def __init__(self, model_id: str, path: str, options: LoadOptions, llm: Any, pooling: str,
                 memory_bytes: int) -> None:
        self.model_id, self.path, self.options, self.llm = model_id, path, options, llm
        self.memory_bytes = memory_bytes
        self.context_length = self.max_tokens = int(options.context_length or 512)
        self.dimensions = int(llm.n_embd())
        self.normalized = True
        self.pooling = pooling
        self._lock = threading.Lock()  # one llama_context decodes one batch at a time

    def tokenize(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def embed_tokens(self, batch: list[list[int]]) -> np.ndarray:
        # llama-cpp-python's Llama.embed() takes strings and tokenizes them itself; this is its loop
        # over token ids (so token-array inputs embed exactly as given), reading the vectors into
        # numpy at once rather than as Python lists: as many sequences per decode as n_batch
        # tokens and n_seq_max sequences allow.
        import llama_cpp

        with self._lock:
            if self.llm is None:
                raise ValidationError(f"{self.model_id} was unloaded", details={"model": self.model_id})
            llm = self.llm
            ctx, n_embd = llm._ctx.ctx, self.dimensions
            per_token = llm._ctx.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE
            out: list[np.ndarray] = []
            pending: list[list[int]] = []

            def flush() -> None:
                llm._ctx.kv_cache_clear()
                llm._ctx.decode(llm._batch)
                llm._batch.reset()
                if per_token:  # a GGUF without pooling (a chat model): the mean over each input's tokens
                    total = sum(len(t) for t in pending)
                    rows = np.ctypeslib.as_array(llama_cpp.llama_get_embeddings(ctx), (total, n_embd))
                    pos = 0
                    for tokens in pending:
                        out.append(rows[pos:pos + len(tokens)].mean(axis=0))
                        pos += len(tokens)
                else:
                    for seq in range(len(pending)):
                        out.append(np.ctypeslib.as_array(llama_cpp.llama_get_embeddings_seq(ctx, seq),
                                                         (n_embd,)).copy())
                pending.clear()

            used = 0
            n_batch, n_seq = int(llm.n_batch), int(llm.context_params.n_seq_max)
            llm._batch.reset()
            try:
                for tokens in batch:
                    if pending and (used + len(tokens) > n_batch or len(pending) >= n_seq):
                        flush()
                        used = 0
                    # every token an output: llama.cpp wants that in embedding mode (as Llama.embed)
                    llm._batch.add_sequence(tokens, len(pending), True)
                    pending.append(tokens)
                    used += len(tokens)
                if pending:
                    flush()
            finally:
                llm._batch.reset()
                llm._ctx.kv_cache_clear()
                llm.reset()
        return _l2(np.stack(out).astype(np.float32))

    def close(self) -> None:
        with self._lock:
            llm, self.llm = self.llm, None
        if llm is not None and hasattr(llm, "close"):
            llm.close()


def load_gguf_embedder(model_id: str, path: Path, options: LoadOptions, gpu_layers: int) -> EmbeddingModel:
    """A GGUF opened for embeddings with the pooling it declares (mean when it declares none)."""
    try:
        import llama_cpp
    except ImportError:
        raise backend_unavailable("llama-cpp-python", "llama", "Embeddings with GGUF models") from None
    from ..fit import gguf_metadata
    from .llama_cpp import _cpu_has_amx, _model_params, _open, split_parts

    meta = gguf_metadata(path)
    declared = meta.get("pooling_type")
    ctx = int(options.context_length or min(int(meta.get("context_length") or 512), MAX_EMBED_CONTEXT))
    kwargs = dict(model_path=str(path), embedding=True, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx,
                  n_gpu_layers=gpu_layers, n_threads=options.threads or usable_cores(),
                  verbose=False)
    if declared is None or int(declared) == 0:
        # No pooling declared: per-token vectors (pooling NONE), averaged in embed_tokens
        kwargs["pooling_type"] = llama_cpp.LLAMA_POOLING_TYPE_NONE
        pooling = "mean"
    else:
        pooling = _LLAMA_POOLING.get(int(declared), str(declared))
        if pooling == "rank":
            raise ValidationError(f"{model_id} is a reranker (pooling 'rank'), not an embedding model",
                                  details={"model": model_id, "pooling_type": declared})
    with _model_params(use_extra_buffers=not _cpu_has_amx()):
        llm = _open(llama_cpp, path, model_id, kwargs)
    weights = sum(p.stat().st_size for p in split_parts(path))
    resolved = replace(options, backend="llama-cpp", context_length=ctx, gpu_layers=gpu_layers)
    return LlamaCppEmbedder(model_id, str(path), resolved, llm, pooling, weights + ctx * 4 * int(llm.n_embd()))


# --- transformers -------------------------------------------------------------------------------


def sentence_transformers_layout(folder: Path) -> tuple[list[str], bool, int | None]:
    """(pooling modes, normalize, max_seq_length) that a sentence-transformers folder declares;
    mean pooling, no normalization for a bare transformers folder. ValidationError for a module
    this reader cannot apply."""
    modules_file = folder / "modules.json"
    max_len = None
    bert_config = folder / "sentence_bert_config.json"
    if bert_config.is_file():
        max_len = json.loads(bert_config.read_text()).get("max_seq_length")
    if not modules_file.is_file():
        return ["mean_tokens"], False, max_len
    modes: list[str] = []
    normalize = False
    for module in json.loads(modules_file.read_text()):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            config = json.loads((folder / module.get("path", "") / "config.json").read_text())
            modes = [m for m in _ST_MODES if config.get(f"pooling_mode_{m}")]
            if "weightedmean_tokens" in modes:
                raise _unsupported(folder, "Pooling mode weightedmean_tokens")
        elif kind == "Normalize":
            normalize = True
        else:
            raise _unsupported(folder, f"module {module.get('type')}")
    return modes or ["mean_tokens"], normalize, max_len


def _unsupported(folder: Path, what: str) -> ValidationError:
    return ValidationError(f"The sentence-transformers {what} is not supported for embeddings here",
                           details={"path": str(folder), "unsupported": what},
                           resolution_steps=["Use a model whose modules are Transformer, Pooling and Normalize",
                                             "Or a GGUF build of the model through llama.cpp"])


def pool(hidden: Any, mask: Any, modes: list[str]) -> Any:
    """sentence-transformers' Pooling over ``hidden`` (batch, tokens, dim) with ``mask`` (batch, tokens)."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    counts = m.sum(dim=1).clamp(min=1e-9)
    parts = []
    for mode in modes:
        if mode == "cls_token":
            parts.append(hidden[:, 0])
        elif mode == "max_tokens":
            parts.append(hidden.masked_fill(m == 0, -1e9).max(dim=1).values)
        elif mode == "mean_tokens":
            parts.append((hidden * m).sum(dim=1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * m).sum(dim=1) / counts.sqrt())
        elif mode == "lasttoken":  # the last real token of each row, whichever side pads
            last = mask.shape[1] - 1 - mask.flip(dims=[1]).argmax(dim=1)
            parts.append(hidden[torch.arange(hidden.shape[0]), last])
    return torch.cat(parts, dim=1)


class TransformersEmbedder(EmbeddingModel):
    backend = "transformers"

    def __init__(self, model_id: str, path: str, options: LoadOptions, model: Any, tokenizer: Any,
                 modes: list[str], normalize: bool, max_tokens: int, memory_bytes: int) -> None:
        self.model_id, self.path, self.options = model_id, path, options
        self.model, self.tokenizer, self.modes = model, tokenizer, modes
        self.normalized, self.max_tokens = normalize, max_tokens
        self.context_length = max_tokens
        self.memory_bytes = memory_bytes
        hidden = int(getattr(model.config, "hidden_size", 0) or 0)
        self.dimensions = hidden * len(modes)
        self.pooling = "+".join(_ST_NAMES[m] for m in modes)
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def embed_tokens(self, batch: list[list[int]]) -> np.ndarray:
        import torch

        with self._lock:
            if self.model is None:
                raise ValidationError(f"{self.model_id} was unloaded", details={"model": self.model_id})
            enc = self.tokenizer.pad({"input_ids": batch}, padding=True, return_tensors="pt")
            enc = {k: v.to(self.model.device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
                rows = pool(hidden.float(), enc["attention_mask"], self.modes)
                if self.normalized:
                    rows = torch.nn.functional.normalize(rows, p=2, dim=1)
        return rows.cpu().numpy().astype(np.float32)

    def close(self) -> None:
        with self._lock:
            self.model = None


def load_transformers_embedder(model_id: str, folder: Path, options: LoadOptions, device: str) -> EmbeddingModel:
    """An encoder folder (sentence-transformers or plain transformers) loaded with ``AutoModel``."""
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        raise backend_unavailable("transformers", "transformers", "Embeddings with transformers models") from None
    modes, normalize, max_len = sentence_transformers_layout(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    dtype = options.dtype or "float32"
    model = AutoModel.from_pretrained(str(folder), dtype=getattr(torch, dtype))
    model.to(device)
    model.eval()
    limit = int(getattr(model.config, "max_position_embeddings", 0) or 512)
    if max_len is None:
        max_len = min(int(getattr(tokenizer, "model_max_length", limit) or limit), limit)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    resolved = replace(options, backend="transformers", dtype=dtype, context_length=int(max_len))
    return TransformersEmbedder(model_id, str(folder), resolved, model, tokenizer, modes, normalize, int(max_len),
                                int(weights))
