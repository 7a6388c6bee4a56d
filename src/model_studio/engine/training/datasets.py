"""Training datasets: import, validate, preview and split (``engine.training.datasets``).

A dataset is one JSONL, CSV or Parquet file in one of four shapes, each normalised to chat
messages for training:

- ``chat``: ``messages`` = ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``
- ``instruction`` (alpaca): ``instruction``, optional ``input``, ``output`` (or ``response``)
- ``completion``: ``prompt``, ``completion``
- ``text``: raw ``text`` (learned as one assistant message)

or an explicit ``mapping`` of those fields to the file's own columns (``{"prompt": "question",
"completion": "answer"}``). Every row is validated before anything is written; errors name the
row (1-based) in the message and in ``details["row"]``. Datasets live under
``<home>/datasets/<name>/`` (the original file, copied, and ``meta.json``).
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import math
import os
import random
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import ConflictError, NotFoundError, StudioError, ValidationError, backend_unavailable
from ..local import LocalScanner

if TYPE_CHECKING:
    from ..refs import ModelRef

MAX_UPLOAD_BYTES = 50 << 20
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
DATA_FILES = {"jsonl": "data.jsonl", "csv": "data.csv", "parquet": "data.parquet"}
ROLES = ("system", "user", "assistant")
SHAPES = ("chat", "instruction", "completion", "text")
#: Fields of each shape: (required, optional). ``system`` is an optional system prompt column.
SHAPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chat": (("messages",), ()),
    "instruction": (("instruction", "output"), ("input", "system")),
    "completion": (("prompt", "completion"), ("system",)),
    "text": (("text",), ()),
}
_MAX_ERRORS = 10
Rows = list[dict[str, Any]]  # (an alias: DatasetStore.list shadows `list` in annotations)


@dataclass
class DatasetInfo:
    """One imported dataset."""

    name: str
    path: str  # the data file
    format: str  # jsonl, csv, parquet
    shape: str  # chat, instruction, completion, text
    rows: int
    columns: list[str]
    mapping: dict[str, str]  # shape field -> column
    size_bytes: int
    created_at: float
    source_filename: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra", None)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _row_error(row: int, message: str, **details: Any) -> ValidationError:
    return ValidationError(f"Row {row}: {message}", details={"row": row, **details})


def validate_name(name: Any) -> str:
    """``name`` if it is a safe dataset name (``[A-Za-z0-9._-]{1,64}``, not starting with a dot)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name.startswith("."):
        raise ValidationError(
            f"Invalid dataset name {name!r}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.'",
            details={"name": name}, resolution_steps=["Pick a name such as 'secret-word' or 'support_v2'"])
    return name


def _name_from_filename(filename: str) -> str:
    stem = Path(filename).name
    for ext in FORMATS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:64]
    return cleaned or "dataset"


def _format_of(filename: str) -> str:
    lower = filename.lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    raise ValidationError(
        f"Unsupported dataset file {Path(filename).name!r}: use .jsonl, .csv or .parquet",
        details={"filename": filename, "supported": sorted(FORMATS)})


# --- reading ------------------------------------------------------------------------------------


def _read_rows(data: bytes, fmt: str) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """Rows, their 1-based row numbers (JSONL: the line; CSV/Parquet: the data row) and columns."""
    if fmt == "jsonl":
        return _read_jsonl(data)
    if fmt == "csv":
        return _read_csv(data)
    return _read_parquet(data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _row_error(line, "not valid UTF-8 text", byte=exc.start) from None


def _read_jsonl(data: bytes) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    columns: dict[str, None] = {}
    errors: list[ValidationError] = []
    for number, line in enumerate(_decode(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            errors.append(_row_error(number, f"not valid JSON ({exc})", reason="json"))
            continue
        if not isinstance(row, dict):
            errors.append(_row_error(number, f"expected a JSON object, got {type(row).__name__}", reason="type"))
            continue
        rows.append(row)
        numbers.append(number)
        columns.update(dict.fromkeys(row))
    if errors:
        raise _combine(errors)
    return rows, numbers, list(columns)


def _read_csv(data: bytes) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    reader = csv.DictReader(io.StringIO(_decode(data), newline=""))
    try:
        columns = list(reader.fieldnames or [])
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        for number, row in enumerate(reader, start=1):
            if None in row:
                raise _row_error(number, f"more cells than the {len(columns)} header columns",
                                 line=reader.line_num, reason="columns")
            rows.append({k: v for k, v in row.items() if k is not None})
            numbers.append(number)
    except csv.Error as exc:
        raise ValidationError(f"Not a valid CSV file: {exc}", details={"line": reader.line_num}) from None
    return rows, numbers, columns


def _read_parquet(data: bytes) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise backend_unavailable("pyarrow", "train", "Reading Parquet datasets") from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise ValidationError(f"Not a valid Parquet file: {exc}", details={"format": "parquet"}) from None
    rows = table.to_pylist()
    return rows, list(range(1, len(rows) + 1)), list(table.column_names)


def _combine(errors: list[ValidationError]) -> ValidationError:
    first = errors[0]
    if len(errors) == 1:
        return first
    details = dict(first.details)
    details["invalid_rows"] = len(errors)
    details["errors"] = [{"row": e.details.get("row"), "message": e.message} for e in errors[:_MAX_ERRORS]]
    return ValidationError(f"{first.message} (and {len(errors) - 1} more invalid row(s))", details=details,
                           resolution_steps=["Fix the rows named in details.errors and import again"])


# --- shapes -------------------------------------------------------------------------------------

_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "chat": {"messages": ("messages", "conversations")},
    "instruction": {"instruction": ("instruction",), "output": ("output", "response"), "input": ("input",),
                    "system": ("system",)},
    "completion": {"prompt": ("prompt",), "completion": ("completion",), "system": ("system",)},
    "text": {"text": ("text",)},
}


def detect_shape(columns: list[str], mapping: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The shape and ``{field: column}`` mapping for a file with ``columns``."""
    if mapping:
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in mapping.items()):
            raise ValidationError("mapping must be an object of field names to column names",
                                  details={"mapping": mapping})
        shape = next((s for s in SHAPES if set(SHAPE_FIELDS[s][0]) <= set(mapping)), None)
        if shape is None:
            raise ValidationError(
                "mapping must name the fields of one shape: messages; instruction + output (+ input); "
                "prompt + completion; or text", details={"mapping": mapping, "fields": {
                    s: list(SHAPE_FIELDS[s][0] + SHAPE_FIELDS[s][1]) for s in SHAPES}})
        allowed = set(SHAPE_FIELDS[shape][0] + SHAPE_FIELDS[shape][1])
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            raise ValidationError(f"mapping has field(s) the {shape} shape does not use: {', '.join(unknown)}",
                                  details={"mapping": mapping, "shape": shape, "fields": sorted(allowed)})
        missing = sorted(c for c in mapping.values() if c not in columns)
        if missing:
            raise ValidationError(f"mapping names column(s) the file does not have: {', '.join(missing)}",
                                  details={"mapping": mapping, "columns": columns})
        return shape, dict(mapping)
    present = set(columns)
    for shape in SHAPES:
        found: dict[str, str] = {}
        for fld, names in _ALIASES[shape].items():
            col = next((n for n in names if n in present), None)
            if col is not None:
                found[fld] = col
        if all(f in found for f in SHAPE_FIELDS[shape][0]):
            return shape, found
    raise ValidationError(
        f"Cannot tell the dataset's shape from its columns ({', '.join(columns) or 'none'})",
        details={"columns": columns},
        resolution_steps=["Use columns 'messages'; 'instruction'/'input'/'output'; 'prompt'/'completion'; "
                          "or 'text'",
                          "Or give a mapping, e.g. {\"prompt\": \"question\", \"completion\": \"answer\"}"])


def _text(row: dict[str, Any], column: str, number: int, *, optional: bool = False) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if optional:
            return ""
        raise _row_error(number, f"missing field '{column}'", field=column, reason="missing")
    if not isinstance(value, str):
        raise _row_error(number, f"'{column}' must be text, got {type(value).__name__}", field=column,
                         reason="type")
    if not optional and not value.strip():
        raise _row_error(number, f"'{column}' is empty", field=column, reason="empty")
    return value


def _messages(row: dict[str, Any], shape: str, mapping: dict[str, str], number: int) -> list[dict[str, str]]:
    if shape == "chat":
        col = mapping["messages"]
        value = row.get(col)
        if value is None:
            raise _row_error(number, f"missing field '{col}'", field=col, reason="missing")
        if isinstance(value, str):  # CSV cells hold the list as JSON text
            try:
                value = json.loads(value)
            except ValueError:
                raise _row_error(number, f"'{col}' is not a JSON list of messages", field=col,
                                 reason="json") from None
        if not isinstance(value, list) or not value:
            raise _row_error(number, f"'{col}' must be a non-empty list of {{role, content}}", field=col,
                             reason="type")
        out: list[dict[str, str]] = []
        for i, msg in enumerate(value, start=1):
            if not isinstance(msg, dict):
                raise _row_error(number, f"message {i} must be an object with role and content", message_index=i,
                                 reason="type")
            role = msg.get("role", msg.get("from"))
            content = msg.get("content", msg.get("value"))
            if role not in ROLES:
                raise _row_error(number, f"message {i} has unknown role {role!r} (use system, user or assistant)",
                                 message_index=i, role=role, reason="role")
            if not isinstance(content, str):
                raise _row_error(number, f"message {i} content must be text, got {type(content).__name__}",
                                 message_index=i, reason="type")
            if not content.strip():
                raise _row_error(number, f"message {i} ({role}) has empty content", message_index=i, reason="empty")
            out.append({"role": role, "content": content})
    elif shape == "instruction":
        instruction = _text(row, mapping["instruction"], number)
        extra = _text(row, mapping["input"], number, optional=True) if "input" in mapping else ""
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        out = [{"role": "user", "content": user},
               {"role": "assistant", "content": _text(row, mapping["output"], number)}]
    elif shape == "completion":
        out = [{"role": "user", "content": _text(row, mapping["prompt"], number)},
               {"role": "assistant", "content": _text(row, mapping["completion"], number)}]
    elif shape == "text":
        return [{"role": "assistant", "content": _text(row, mapping["text"], number)}]
    else:
        raise ValidationError(f"Unknown dataset shape {shape!r}", details={"shape": shape})
    if shape != "chat" and "system" in mapping:
        system = _text(row, mapping["system"], number, optional=True)
        if system.strip():
            out.insert(0, {"role": "system", "content": system})
    if not any(m["role"] == "assistant" for m in out):
        raise _row_error(number, "no assistant message to learn from", reason="no_assistant")
    return out


# --- the store ----------------------------------------------------------------------------------

_TOKENIZERS: dict[tuple[str, str | None], Any] = {}
_TOKENIZER_LOCK = threading.Lock()


class DatasetStore:
    """Datasets under ``<home>/datasets``; ``local`` finds models for previews and token counts."""

    def __init__(self, settings: Settings, *, local: LocalScanner | None = None) -> None:
        self.settings = settings
        self._local = local
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self.settings.home_path / "datasets"

    def _dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    # Import ------------------------------------------------------------------------------------

    def import_file(self, path: str | os.PathLike[str], *, name: str | None = None,
                    mapping: dict[str, str] | None = None, overwrite: bool = False) -> DatasetInfo:
        """Import a JSONL, CSV or Parquet file (copied into the store)."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise NotFoundError(f"No dataset file at {src}", details={"path": str(src)})
        return self.import_bytes(src.read_bytes(), filename=src.name, name=name, mapping=mapping,
                                 max_bytes=None, overwrite=overwrite)

    def import_bytes(self, data: bytes, *, filename: str, name: str | None = None,
                     mapping: dict[str, str] | None = None, max_bytes: int | None = MAX_UPLOAD_BYTES,
                     overwrite: bool = False) -> DatasetInfo:
        """Import an uploaded file's bytes; every row is validated before anything is written."""
        if not isinstance(data, (bytes, bytearray)):
            raise ValidationError("Dataset content must be bytes", details={"got": type(data).__name__})
        if not isinstance(filename, str) or not filename:
            raise ValidationError("A filename (ending .jsonl, .csv or .parquet) is required",
                                  details={"filename": filename})
        if max_bytes is not None and len(data) > max_bytes:
            raise ValidationError(
                f"The file is {len(data)} bytes, over the {max_bytes} byte upload limit",
                details={"size_bytes": len(data), "max_bytes": max_bytes},
                resolution_steps=["Import a large file from disk with engine.training.datasets.import_file(path)"])
        fmt = _format_of(filename)
        name = validate_name(name if name is not None else _name_from_filename(filename))
        if not data.strip():
            raise ValidationError("The dataset file is empty", details={"filename": filename})
        rows, numbers, columns = _read_rows(bytes(data), fmt)
        if not rows:
            raise ValidationError("The dataset has no rows", details={"filename": filename})
        shape, used = detect_shape(columns, mapping)
        errors: list[ValidationError] = []
        for row, number in zip(rows, numbers, strict=True):
            try:
                _messages(row, shape, used, number)
            except ValidationError as exc:
                errors.append(exc)
        if errors:
            raise _combine(errors)

        info = DatasetInfo(name=name, path="", format=fmt, shape=shape, rows=len(rows), columns=columns,
                           mapping=used, size_bytes=len(data), created_at=time.time(),
                           source_filename=Path(filename).name)
        final = self._dir(name)
        with self._lock:
            if final.exists() and not overwrite:
                raise ConflictError(f"A dataset named {name!r} already exists", details={"name": name},
                                    resolution_steps=["Choose another name", "Or delete the existing one first"])
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".tmp-{uuid.uuid4().hex}"
            try:
                tmp.mkdir()
                (tmp / DATA_FILES[fmt]).write_bytes(data)
                info.path = str(final / DATA_FILES[fmt])
                (tmp / "meta.json").write_text(json.dumps(info.to_dict(), indent=2))
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return info

    # Listing -----------------------------------------------------------------------------------

    def list(self) -> builtins.list[DatasetInfo]:
        out = []
        if self.root.is_dir():
            for child in sorted(self.root.iterdir()):
                if child.name.startswith(".") or not (child / "meta.json").is_file():
                    continue
                try:
                    out.append(self._read_meta(child))
                except (OSError, ValueError, TypeError):
                    continue
        return out

    def _read_meta(self, folder: Path) -> DatasetInfo:
        info = DatasetInfo.from_dict(json.loads((folder / "meta.json").read_text()))
        info.path = str(folder / DATA_FILES.get(info.format, Path(info.path).name))
        return info

    def get(self, name: str) -> DatasetInfo:
        folder = self._dir(name)
        if not (folder / "meta.json").is_file():
            raise NotFoundError(f"No dataset named {name!r}", details={"name": name,
                                                                       "datasets": [d.name for d in self.list()]},
                                resolution_steps=["Import it first: engine.training.datasets.import_file(path)"])
        return self._read_meta(folder)

    def delete(self, name: str) -> dict[str, Any]:
        info = self.get(name)
        with self._lock:
            shutil.rmtree(self._dir(info.name))
        return {"deleted": info.name, "freed_bytes": info.size_bytes}

    # Rows --------------------------------------------------------------------------------------

    def load_rows(self, name: str) -> Rows:
        """The rows as stored (original column names)."""
        info = self.get(name)
        rows, _numbers, _columns = _read_rows(Path(info.path).read_bytes(), info.format)
        return rows

    def to_messages(self, row: dict[str, Any], info: DatasetInfo, *,
                    row_number: int = 1) -> builtins.list[dict[str, str]]:
        """``row`` as chat messages (every shape; raw text is one assistant message)."""
        return _messages(row, info.shape, info.mapping, row_number)

    def split(self, name: str, eval_fraction: float = 0.1, seed: int = 0) -> tuple[Rows, Rows]:
        """``(train_rows, eval_rows)``: a deterministic shuffle split (same seed, same split)."""
        if isinstance(eval_fraction, bool) or not isinstance(eval_fraction, (int, float)) \
                or not 0 <= eval_fraction < 1:
            raise ValidationError("eval_fraction must be at least 0 and below 1",
                                  details={"eval_fraction": eval_fraction})
        rows = self.load_rows(name)
        n = len(rows)
        n_eval = int(round(n * eval_fraction))
        if eval_fraction > 0 and n_eval == 0 and n >= 2:
            n_eval = 1
        n_eval = min(n_eval, max(n - 1, 0))
        order = list(range(n))
        random.Random(seed).shuffle(order)
        eval_idx = set(order[:n_eval])
        return ([r for i, r in enumerate(rows) if i not in eval_idx],
                [r for i, r in enumerate(rows) if i in eval_idx])

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


__all__ = ["DatasetStore", "DatasetInfo", "detect_shape", "validate_name", "MAX_UPLOAD_BYTES", "SHAPES"]
