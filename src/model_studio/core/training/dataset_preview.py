"""Dataset previews and token statistics through a local model's tokenizer and chat template.

Part of ``engine.training.datasets``: ``ModelPreview`` is mixed into ``DatasetStore`` and finds the
model (safetensors with a tokenizer, or a GGUF file) on this machine, loads its tokenizer once per
process and renders rows with its chat template.
"""

from __future__ import annotations

import builtins
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import NotFoundError, StudioError, ValidationError, backend_unavailable
from ..local import LocalScanner
from .dataset_files import _read_rows
from .dataset_shapes import _messages

if TYPE_CHECKING:
    from ..refs import ModelRef
    from .dataset_store import DatasetInfo

_TOKENIZERS: dict[tuple[str, str | None], Any] = {}
_TOKENIZER_LOCK = threading.Lock()


class ModelPreview:
    """Preview and token statistics of a ``DatasetStore``'s datasets (a mixin: it uses ``settings``,
    ``_local`` and ``get`` of the store)."""

    settings: Settings
    _local: LocalScanner | None

    if TYPE_CHECKING:
        def get(self, name: str) -> DatasetInfo: ...

    # Models ------------------------------------------------------------------------------------

    def _scanner(self) -> LocalScanner:
        if self._local is None:
            self._local = LocalScanner(self.settings.cache_path, self.settings.model_dirs())
        return self._local

    def _model_files(self, model: str) -> tuple[Path, str | None, int | None]:
        """(folder, gguf file name or None, context length) of a local model."""
        from ..fit import gguf_metadata
        from ..refs import ModelRef

        ref = ModelRef.parse(model)
        local = self._scanner().get(ref.repo_id)
        if local is None or not local.files or local.snapshot is None:
            raise NotFoundError(f"{ref.repo_id} is not on this machine", details={"model": model},
                                resolution_steps=[f"Download it first: engine.downloads.start({model!r}).wait()"])
        has_tokenizer = any(f in local.files for f in ("tokenizer.json", "tokenizer_config.json",
                                                       "tokenizer.model"))
        ggufs = sorted(f for f in local.files if f.endswith(".gguf") and "mmproj" not in f.lower())
        if has_tokenizer and not (ref.variant and ggufs):
            config = local.config or {}
            ctx = next((config[k] for k in ("max_position_embeddings", "n_positions", "max_seq_len",
                                            "seq_length") if isinstance(config.get(k), int)), None)
            return local.snapshot, None, ctx
        if not ggufs:
            raise ValidationError(f"{ref.repo_id} has no tokenizer to render the chat template with",
                                  details={"model": model, "files": local.files[:50]})
        quants = local.quantizations
        chosen = sorted(quants.get(ref.variant.upper(), [])) if ref.variant else []
        if ref.variant and not chosen:
            raise NotFoundError(f"{ref.repo_id} has no local quantization {ref.variant}",
                                details={"model": model, "local_quantizations": sorted(quants)})
        file = (chosen or ggufs)[0]
        path = local.file_path(file)
        try:
            ctx = int(gguf_metadata(path).get("context_length") or 0) or None
        except Exception:
            ctx = None
        return path.parent, Path(file).name, ctx

    def _tokenizer(self, model: str) -> tuple[Any, int | None]:
        folder, gguf_file, ctx = self._model_files(model)
        key = (str(folder), gguf_file)
        with _TOKENIZER_LOCK:
            tok = _TOKENIZERS.get(key)
        if tok is None:
            try:
                from transformers import AutoTokenizer
            except ImportError:
                raise backend_unavailable("transformers", "train", "Rendering the chat template") from None
            try:
                tok = (AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file) if gguf_file
                       else AutoTokenizer.from_pretrained(str(folder)))
            except StudioError:
                raise
            except Exception as exc:
                raise ValidationError(f"Could not load the tokenizer of {model}: {exc}",
                                      details={"model": model}) from None
            with _TOKENIZER_LOCK:
                _TOKENIZERS[key] = tok
        if ctx is None:
            limit = getattr(tok, "model_max_length", None)
            ctx = limit if isinstance(limit, int) and 0 < limit < 10_000_000 else None
        return tok, ctx

    @staticmethod
    def _render(tok: Any, messages: builtins.list[dict[str, str]], model: str) -> str:
        if not getattr(tok, "chat_template", None):
            raise ValidationError(f"{model} has no chat template", details={"model": model},
                                  resolution_steps=["Pick an instruct/chat model"])
        try:
            return str(tok.apply_chat_template(messages, tokenize=False))
        except Exception as exc:
            raise ValidationError(f"The chat template of {model} failed: {exc}", details={"model": model}) from None

    # Preview and statistics --------------------------------------------------------------------

    def preview(self, name: str, *, model: str | ModelRef | None = None, rows: int = 5) -> dict[str, Any]:
        """The first ``rows`` rows: raw, as messages, and (with ``model``) rendered by its chat template."""
        model = str(model) if model is not None else None  # a ModelRef too; answered by name
        if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 100:
            raise ValidationError("rows must be between 1 and 100", details={"rows": rows})
        info = self.get(name)
        data, numbers, _columns = _read_rows(Path(info.path).read_bytes(), info.format)
        tok = self._tokenizer(model)[0] if model else None
        out = []
        for row, number in list(zip(data, numbers, strict=True))[:rows]:
            messages = _messages(row, info.shape, info.mapping, number)
            rendered = self._render(tok, messages, str(model)) if tok is not None else None
            out.append({"row": number, "raw": row, "messages": messages, "rendered": rendered})
        return {"info": info.to_dict(), "model": model, "rows": out}

    def token_stats(self, name: str, model: str | ModelRef, max_seq_length: int = 512) -> dict[str, Any]:
        """Token lengths of every row through ``model``'s chat template, and how many exceed the limit."""
        model = str(model) if model is not None else model  # a ModelRef too; answered by name
        if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) \
                or not 8 <= max_seq_length <= 10_000_000:
            raise ValidationError("max_seq_length must be between 8 and 10000000 tokens",
                                  details={"max_seq_length": max_seq_length})
        if not model:
            raise ValidationError("Name a model to count tokens with", details={"model": model})
        info = self.get(name)
        data, numbers, _columns = _read_rows(Path(info.path).read_bytes(), info.format)
        tok, ctx = self._tokenizer(model)
        lengths = []
        for row, number in zip(data, numbers, strict=True):
            text = self._render(tok, _messages(row, info.shape, info.mapping, number), model)
            lengths.append(len(tok(text, add_special_tokens=False)["input_ids"]))
        limit = min(max_seq_length, ctx) if ctx else max_seq_length
        ordered = sorted(lengths)
        p95 = ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)] if ordered else 0
        return {"rows": len(lengths), "min": ordered[0] if ordered else 0, "max": ordered[-1] if ordered else 0,
                "mean": round(sum(lengths) / len(lengths), 2) if lengths else 0.0, "p95": p95,
                "context_length": ctx, "max_seq_length": max_seq_length, "limit": limit,
                "truncated_rows": sum(1 for n in lengths if n > limit)}
