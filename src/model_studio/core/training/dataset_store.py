"""The dataset store: import (validated, atomic), list, get, delete, rows and the train/eval split.

Part of ``engine.training.datasets``. Datasets live under ``<home>/datasets/<name>/`` (the original
file, copied, and ``meta.json``); an import is written to a temporary folder and moved into place.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import ConflictError, NotFoundError, ValidationError
from ..local import LocalScanner
from .dataset_files import FORMATS, _combine, _format_of, _read_rows
from .dataset_preview import ModelPreview
from .dataset_shapes import _messages, detect_shape

MAX_UPLOAD_BYTES = 50 << 20
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
DATA_FILES = {"jsonl": "data.jsonl", "csv": "data.csv", "parquet": "data.parquet"}
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


class DatasetStore(ModelPreview):
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
