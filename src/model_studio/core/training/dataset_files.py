"""Dataset files: formats, reading JSONL, CSV and Parquet into rows, row-numbered errors.

Part of ``engine.training.datasets`` (see there for the shapes a file may have). Every reader
gives the rows, their 1-based row numbers (JSONL: the line; CSV/Parquet: the data row) and the
columns; errors name the row in the message and in ``details["row"]``, and up to ten bad rows are
reported together.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ...errors import ValidationError, backend_unavailable

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_MAX_ERRORS = 10


def _row_error(row: int, message: str, **details: Any) -> ValidationError:
    return ValidationError(f"Row {row}: {message}", details={"row": row, **details})


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
