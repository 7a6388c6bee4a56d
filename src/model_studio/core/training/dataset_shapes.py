"""Dataset shapes: detecting a file's shape (or applying a mapping) and turning rows into chat messages.

Part of ``engine.training.datasets``: the four shapes (chat, instruction, completion, text), their
fields and column aliases, and the row-by-row normalisation to ``[{"role", "content"}, ...]``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ...errors import ValidationError
from .dataset_files import _row_error

ROLES = ("system", "user", "assistant")
SHAPES = ("chat", "instruction", "completion", "text")
#: Fields of each shape: (required, optional). ``system`` is an optional system prompt column.
SHAPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chat": (("messages",), ()),
    "instruction": (("instruction", "output"), ("input", "system")),
    "completion": (("prompt", "completion"), ("system",)),
    "text": (("text",), ()),
}

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
