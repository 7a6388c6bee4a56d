"""A conversation as a file: the JSON export format (validated with pydantic on import) and Markdown.

The JSON file holds the whole tree (every branch), so export then import gives the same
conversation back::

    {"format": "model-studio.conversation", "version": 1, "title": ..., "models": [...],
     "system_prompt": ..., "sampling": {...}, "heads": [message id per lane],
     "messages": [{"id", "parent_id", "lane", "role", "content", "model", "stats", "finish_reason",
                   "created_at", "tool_calls", "tool_call_id"}, ...]}

An assistant message may carry ``tool_calls`` (OpenAI's shape: ``[{"id", "type": "function",
"function": {"name", "arguments"}}]``) and a ``role: "tool"`` message answers one of them by its
``tool_call_id``, as in an OpenAI request's ``messages``.

Only ``messages`` (each with ``role`` and ``content``) is required: a plain list of chat messages
imports as one linear conversation. A message without ``parent_id`` follows the message before it
in the same lane; ``parent_id`` must name a message that comes earlier in the file.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ...errors import ValidationError

FORMAT = "model-studio.conversation"
VERSION = 1
#: Longest message (characters), title, and most messages one conversation file may hold.
MAX_CONTENT = 1_000_000
MAX_TITLE = 200
MAX_MESSAGES = 100_000
MAX_LANES = 2
Role = Literal["system", "user", "assistant", "tool"]
MAX_TOOL_CALLS = 128


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=256)
    arguments: str = Field("", max_length=MAX_CONTENT)
    """the arguments as the model wrote them: JSON text, not always valid"""


class ToolCall(BaseModel):
    """A function call an assistant message made (OpenAI's ``tool_calls[]`` item)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: ToolFunction


class ToolFields(BaseModel):
    """The tool fields a stored message may carry (shared by the store's and the file's message)."""

    tool_calls: list[ToolCall] | None = Field(None, max_length=MAX_TOOL_CALLS)
    """an assistant's function calls"""
    tool_call_id: str | None = Field(None, min_length=1, max_length=256)
    """a tool message: the call it answers"""

    @pydantic.model_validator(mode="after")
    def _tool_fields_fit_the_role(self) -> ToolFields:
        role = getattr(self, "role", None)
        if self.tool_calls and role != "assistant":
            raise ValueError("only an assistant message carries tool_calls")
        if role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.tool_call_id and role != "tool":
            raise ValueError("only a tool message carries a tool_call_id")
        return self

    def tool_columns(self) -> tuple[str | None, str | None]:
        """(tool_calls as JSON text, tool_call_id): the values of the store's two columns."""
        calls = json.dumps([c.model_dump() for c in self.tool_calls]) if self.tool_calls else None
        return calls, self.tool_call_id


class MessageFile(ToolFields):
    """One message of an imported file."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    id: str | None = Field(None, min_length=1, max_length=64)
    # "parent_id" given (even null) is kept; missing means "the previous message of this lane"
    parent_id: str | None = Field(None, max_length=64)
    lane: int = Field(0, ge=0, lt=MAX_LANES)
    role: Role
    content: str = Field(max_length=MAX_CONTENT)
    model: str | None = Field(None, max_length=512)
    stats: dict[str, Any] | None = None
    finish_reason: str | None = Field(None, max_length=32)
    created_at: float | None = None


class ConversationFile(BaseModel):
    """The JSON export format (see the module docstring)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    format: Literal["model-studio.conversation"] | None = None
    version: int | None = Field(None, ge=1, le=VERSION)
    title: str = Field("", max_length=MAX_TITLE)
    models: list[str] = Field(default_factory=list, max_length=MAX_LANES)
    system_prompt: str = Field("", max_length=MAX_CONTENT)
    sampling: dict[str, Any] = Field(default_factory=dict)
    heads: list[str | None] = Field(default_factory=list, max_length=MAX_LANES)
    created_at: float | None = None
    messages: list[MessageFile] = Field(max_length=MAX_MESSAGES)


def _where(loc: tuple[Any, ...]) -> str:
    """``("messages", 3, "role")`` as ``messages[3].role``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_file(data: Any) -> tuple[ConversationFile, list[bool]]:
    """``data`` (a dict, or JSON text/bytes) as a validated file, and whether its messages carry
    their own ``parent_id``s (per message). Raises ValidationError naming the field and message index."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("The conversation file is not UTF-8 text", details={"field": None}) from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(f"The conversation file is not valid JSON: {exc}",
                                  details={"field": None}) from None
    if isinstance(data, list):  # a bare list of messages
        data = {"messages": data}
    if not isinstance(data, dict):
        raise ValidationError(f"A conversation file holds a JSON object, not {type(data).__name__}",
                              details={"field": None})
    try:
        parsed = ConversationFile.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        field = _where(loc) or "(file)"
        details: dict[str, Any] = {"field": field, "problem": err["msg"]}
        if len(loc) >= 2 and loc[0] == "messages" and isinstance(loc[1], int):
            details["message_index"] = loc[1]
        raise ValidationError(f"Invalid conversation file: {field}: {err['msg']}", details=details,
                              resolution_steps=["Export a conversation to see the expected format"]) from None
    raw = data.get("messages") or []
    has_parent = [isinstance(m, dict) and "parent_id" in m for m in raw]
    _check_tree(parsed, has_parent)
    return parsed, has_parent


def _check_tree(parsed: ConversationFile, has_parent: list[bool]) -> None:
    """Ids unique; each ``parent_id`` names an earlier message of the same lane; heads name messages."""
    seen: dict[str, int] = {}
    for i, m in enumerate(parsed.messages):
        if has_parent[i] and m.parent_id is not None:
            lane = seen.get(m.parent_id)
            if lane is None:
                raise _tree_error(i, "parent_id", f"names no earlier message ({m.parent_id!r})")
            if lane != m.lane:
                raise _tree_error(i, "parent_id", f"names a message of lane {lane}, not {m.lane}")
        try:
            json.dumps([m.stats, m.created_at], allow_nan=False)
        except (TypeError, ValueError):
            raise _tree_error(i, "stats", "must be JSON with finite numbers") from None
        if m.id is not None:
            if m.id in seen:
                raise _tree_error(i, "id", f"repeats the id {m.id!r}")
            seen[m.id] = m.lane
    try:
        json.dumps(parsed.sampling, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError("Invalid conversation file: sampling: must be JSON with finite numbers",
                              details={"field": "sampling", "problem": "must be JSON with finite numbers"}) from None
    for k, head in enumerate(parsed.heads):
        if head is not None and head not in seen:
            raise ValidationError(f"Invalid conversation file: heads[{k}]: names no message ({head!r})",
                                  details={"field": f"heads[{k}]", "problem": "names no message"})


def _tree_error(index: int, name: str, problem: str) -> ValidationError:
    field = f"messages[{index}].{name}"
    return ValidationError(f"Invalid conversation file: {field}: {problem}",
                           details={"field": field, "message_index": index, "problem": problem})


def export_dict(conv: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON file of a conversation (``messages``: every message, oldest first)."""
    keys = ("id", "parent_id", "lane", "role", "content", "model", "stats", "finish_reason", "created_at",
            "tool_calls", "tool_call_id")
    return {"format": FORMAT, "version": VERSION, "id": conv["id"], "title": conv["title"],
            "models": conv["models"], "system_prompt": conv["system_prompt"], "sampling": conv["sampling"],
            "heads": conv["heads"], "created_at": conv["created_at"], "updated_at": conv["updated_at"],
            "exported_at": time.time(), "messages": [{k: m.get(k) for k in keys} for m in messages]}


def _stats_text(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    parts = [f"{stats.get('completion_tokens') or 0} tokens"]
    if stats.get("tokens_per_second"):
        parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
    if stats.get("ttft") is not None:
        parts.append(f"TTFT {stats['ttft']:.2f} s")
    if stats.get("finish_reason") not in (None, "stop"):
        parts.append("stopped" if stats["finish_reason"] == "cancelled" else str(stats["finish_reason"]))
    return " · ".join(parts)


def to_markdown(conv: dict[str, Any]) -> str:
    """The conversation's current branch (each lane) as Markdown: a heading per message, stats in italics."""
    lines = [f"# {conv['title'] or 'Untitled conversation'}", ""]
    if conv["models"]:
        lines += ["Models: " + ", ".join(f"`{m}`" for m in conv["models"] if m), ""]
    if conv["system_prompt"]:
        lines += ["## System", "", conv["system_prompt"], ""]
    lanes = conv["lanes"]
    for k, lane in enumerate(lanes):
        if len(lanes) > 1:
            lines += [f"## Lane {k + 1}: {lane.get('model') or ''}".rstrip(), ""]
        for m in lane["messages"]:
            who = {"user": "User", "assistant": "Assistant", "tool": "Tool"}.get(m["role"], "System")
            if m["role"] == "assistant" and m.get("model"):
                who += f" ({m['model']})"
            if m.get("tool_call_id"):
                who += f" result for `{m['tool_call_id']}`"
            lines += [f"### {who}", ""] + ([m["content"], ""] if m["content"] else [])
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                lines += [f"Tool call `{call.get('id')}`: `{fn.get('name')}`", "", "```json",
                          str(fn.get("arguments") or ""), "```", ""]
            stats = _stats_text(m.get("stats") or ({"finish_reason": m["finish_reason"]}
                                                    if m.get("finish_reason") not in (None, "stop") else None))
            if stats:
                lines += [f"*{stats}*", ""]
    return "\n".join(lines).rstrip() + "\n"
