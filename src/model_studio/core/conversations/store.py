"""Conversations kept in ``<home>/conversations.sqlite``: a tree of messages per conversation.

Its own database file rather than a table in ``state.sqlite``: the job store writes progress rows
several times a second and is disposable, while conversations are the user's own text (exported,
backed up or deleted on their own) written a few times a minute; separate files keep the two lock
domains apart, so a large import never holds up a download's progress writes.

Every write is one ``BEGIN IMMEDIATE`` transaction (WAL mode), so writers in several processes (the
server for the sidebar, kernels for widgets and ``%%chat``) are serialised by SQLite, and a process
killed mid-write leaves the database as it was before the transaction. Appending is an ``INSERT`` of
the new rows plus a move of the lane's head pointer, never a rewrite of the message list, so two
windows appending to one conversation both keep their messages.

Branches: each message has a ``parent_id``; a conversation has one *head* per lane (lane 1 is the
second model of a comparison); the branch shown is the path from the root to the head. Editing a
message (``branch``) adds a sibling with the same parent and moves the head to it; the old branch
stays and ``select`` moves the head back.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
from pydantic import ConfigDict, Field

from ...errors import NotFoundError, ValidationError
from .files import MAX_CONTENT, MAX_LANES, MAX_TITLE, Role, ToolFields, export_dict, parse_file, to_markdown

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    models TEXT NOT NULL DEFAULT '[]',
    system_prompt TEXT NOT NULL DEFAULT '',
    sampling TEXT NOT NULL DEFAULT '{}',
    heads TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    parent_id TEXT,
    lane INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    model TEXT,
    stats TEXT,
    finish_reason TEXT,
    created_at REAL NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations (updated_at);
"""
_MSG_COLUMNS = "id, parent_id, lane, role, content, model, stats, finish_reason, created_at, tool_calls, tool_call_id"
_MSG_VALUES = ",".join("?" * 12)  # conversation_id and the message columns
#: Columns added after the first release: (name, type) ALTERed into an older database on open.
_ADDED_COLUMNS = (("tool_calls", "TEXT"), ("tool_call_id", "TEXT"))
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_AUTO_TITLE = 60
_MAX_SAMPLING_JSON = 10_000


class NewMessage(ToolFields):
    """A message to append (ids, parents and lanes are the store's); ``tool_calls`` on an assistant
    message, ``tool_call_id`` on a ``tool`` message (OpenAI's shapes)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Role
    content: str = Field(max_length=MAX_CONTENT)
    model: str | None = Field(None, max_length=512)
    stats: dict[str, Any] | None = None
    finish_reason: str | None = Field(None, max_length=32)


_NEW_MESSAGES = pydantic.TypeAdapter(list[NewMessage])


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _auto_title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _AUTO_TITLE else line[:_AUTO_TITLE - 1].rstrip() + "…"


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60] or "conversation"


class ConversationStore:
    """Create, list, search, read, rename, delete, append, branch, export and import conversations."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        conn = self._conn()
        conn.executescript(_SCHEMA)
        have = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:  # a database written before tool calls were kept
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it meanwhile
                    conn.execute(f"ALTER TABLE messages ADD COLUMN {name} {kind}")

    # Connections and transactions ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():  # never share one across fork
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            for attempt in range(100):  # a new database's switch to WAL can answer "locked" at once
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                    time.sleep(0.05)
            conn.execute("PRAGMA synchronous=FULL")  # the user's text: a committed message survives a power cut
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before the first read so concurrent writers queue up."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # Checks -------------------------------------------------------------------------------------

    @staticmethod
    def _check_id(value: Any, name: str = "conversation_id") -> str:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise ValidationError(f"Parameter '{name}' must be an id of 1 to 64 letters, digits, '.', '_' or '-'",
                                  details={"parameter": name, "value": str(value)[:100]})
        return value

    @staticmethod
    def _check_meta(title: Any = None, models: Any = None, system_prompt: Any = None,
                    sampling: Any = None) -> None:
        if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE):
            raise ValidationError(f"Parameter 'title' must be 1 to {MAX_TITLE} characters",
                                  details={"parameter": "title"})
        if models is not None and (not isinstance(models, list | tuple) or len(models) > MAX_LANES
                                   or not all(isinstance(m, str) and len(m) <= 512 for m in models)):
            raise ValidationError(f"Parameter 'models' must be a list of at most {MAX_LANES} model names",
                                  details={"parameter": "models"})
        if system_prompt is not None and (not isinstance(system_prompt, str) or len(system_prompt) > MAX_CONTENT):
            raise ValidationError(f"Parameter 'system_prompt' must be text of at most {MAX_CONTENT} characters",
                                  details={"parameter": "system_prompt"})
        if sampling is not None:
            try:
                ok = isinstance(sampling, dict) and len(json.dumps(sampling, allow_nan=False)) <= _MAX_SAMPLING_JSON
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValidationError("Parameter 'sampling' must be a JSON object (finite numbers, "
                                      f"at most {_MAX_SAMPLING_JSON} characters)", details={"parameter": "sampling"})

    @staticmethod
    def _check_messages(messages: Any) -> list[NewMessage]:
        if not isinstance(messages, list) or not messages:
            raise ValidationError("Parameter 'messages' must be a non-empty list of {role, content}",
                                  details={"parameter": "messages"})
        try:
            checked = _NEW_MESSAGES.validate_python(messages)
            for m in checked:
                if m.stats is not None:
                    json.dumps(m.stats, allow_nan=False)
        except pydantic.ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = list(err["loc"])
            field = "messages" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
            details: dict[str, Any] = {"parameter": "messages", "field": field, "problem": err["msg"]}
            if loc and isinstance(loc[0], int):
                details["message_index"] = loc[0]
            raise ValidationError(f"Invalid message: {field}: {err['msg']}", details=details) from None
        except (TypeError, ValueError):
            raise ValidationError("Message stats must be JSON with finite numbers",
                                  details={"parameter": "messages"}) from None
        return checked

    # Reads --------------------------------------------------------------------------------------

    def _row(self, conn: sqlite3.Connection, conv_id: str) -> tuple:
        row = conn.execute("SELECT id, title, models, system_prompt, sampling, heads, created_at, updated_at "
                           "FROM conversations WHERE id=?", (self._check_id(conv_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"No conversation {conv_id!r}", details={"conversation_id": conv_id})
        return row

    @staticmethod
    def _meta(row: tuple) -> dict[str, Any]:
        cid, title, models, system_prompt, sampling, heads, created, updated = row
        return {"id": cid, "title": title, "models": json.loads(models), "system_prompt": system_prompt,
                "sampling": json.loads(sampling), "heads": json.loads(heads), "created_at": created,
                "updated_at": updated}

    @staticmethod
    def _message(row: tuple) -> dict[str, Any]:
        mid, parent, lane, role, content, model, stats, finish, created, calls, call_id = row
        return {"id": mid, "parent_id": parent, "lane": lane, "role": role, "content": content, "model": model,
                "stats": json.loads(stats) if stats else None, "finish_reason": finish, "created_at": created,
                "tool_calls": json.loads(calls) if calls else None, "tool_call_id": call_id}

    def _messages(self, conn: sqlite3.Connection, conv_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id=? ORDER BY seq",
                            (conv_id,)).fetchall()
        return [self._message(r) for r in rows]

    def get(self, conv_id: str) -> dict[str, Any]:
        """The conversation with the current branch of each lane (``lanes[k].messages``, root first).

        Each message shown carries ``siblings`` (the ids of the messages with its parent and lane,
        oldest first, itself included) and ``sibling_index``: a branch switcher's "< 2/3 >".
        """
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for the row and its messages
        try:
            conv = self._meta(self._row(conn, conv_id))
            messages = self._messages(conn, conv_id)
        finally:
            conn.execute("COMMIT")
        return self._assemble(conv, messages)

    @staticmethod
    def _assemble(conv: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
        by_id = {m["id"]: m for m in messages}
        children: dict[tuple[str | None, int], list[str]] = {}
        for m in messages:
            children.setdefault((m["parent_id"], m["lane"]), []).append(m["id"])
        lanes = []
        count = max(len(conv["heads"]), len(conv["models"]), 1)
        for k in range(count):
            head = conv["heads"][k] if k < len(conv["heads"]) else None
            path: list[dict[str, Any]] = []
            while head is not None and head in by_id:
                m = by_id[head]
                siblings = children[(m["parent_id"], m["lane"])]
                path.append({**m, "siblings": siblings, "sibling_index": siblings.index(m["id"])})
                head = m["parent_id"]
            path.reverse()
            lanes.append({"model": conv["models"][k] if k < len(conv["models"]) else None, "messages": path})
        return {**conv, "message_count": len(messages), "lanes": lanes}

    def find(self, name: str) -> dict[str, Any] | None:
        """The conversation whose id is ``name``, else the newest one titled ``name`` (None: neither)."""
        conn = self._conn()
        row = conn.execute("SELECT id FROM conversations WHERE id=?", (name,)).fetchone() or conn.execute(
            "SELECT id FROM conversations WHERE title=? ORDER BY updated_at DESC LIMIT 1", (name,)).fetchone()
        return self.get(row[0]) if row else None

    def list(self, q: str = "", *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Conversations newest first (by last change), ``q`` searched in titles and message text."""
        if not isinstance(limit, int) or not 1 <= limit <= 1000 or not isinstance(offset, int) or offset < 0:
            raise ValidationError("limit must be 1 to 1000 and offset at least 0",
                                  details={"limit": limit, "offset": offset})
        where, args = "", []
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = ("WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m WHERE "
                     "m.conversation_id=c.id AND m.content LIKE ? ESCAPE '\\')")
            args = [pattern, pattern]
        conn = self._conn()
        total = conn.execute(f"SELECT COUNT(*) FROM conversations c {where}", args).fetchone()[0]
        rows = conn.execute(
            "SELECT c.id, c.title, c.models, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id=c.id), "
            "(SELECT substr(m.content, 1, 160) FROM messages m WHERE m.conversation_id=c.id "
            "ORDER BY m.seq DESC LIMIT 1) "
            f"FROM conversations c {where} ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ? OFFSET ?",
            [*args, limit, offset]).fetchall()
        items = [{"id": r[0], "title": r[1], "models": json.loads(r[2]), "created_at": r[3], "updated_at": r[4],
                  "message_count": r[5], "preview": r[6] or ""} for r in rows]
        return {"conversations": items, "total": total, "limit": limit, "offset": offset}

    # Writes -------------------------------------------------------------------------------------

    def create(self, *, title: str | None = None, models: builtins.list[str] | None = None, system_prompt: str = "",
               sampling: dict[str, Any] | None = None, messages: builtins.list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
        """A new conversation (with ``messages`` as its first branch, in the same transaction)."""
        self._check_meta(title, models, system_prompt, sampling)
        checked = self._check_messages(messages) if messages else []
        conv_id = _new_id("conv")
        now = time.time()
        with self._tx() as conn:
            conn.execute("INSERT INTO conversations (id, title, models, system_prompt, sampling, heads, created_at, "
                         "updated_at) VALUES (?,?,?,?,?,?,?,?)",
                         (conv_id, (title or "").strip(), json.dumps(list(models or [])), system_prompt or "",
                          json.dumps(sampling or {}), "[]", now, now))
            if checked:
                self._insert(conn, conv_id, checked, parent_id=None, lane=0, heads=[], now=now)
        return self.get(conv_id)

    def _insert(self, conn: sqlite3.Connection, conv_id: str, messages: builtins.list[NewMessage], *,
                parent_id: str | None, lane: int, heads: builtins.list[str | None], now: float
                ) -> builtins.list[dict[str, Any]]:
        """INSERT ``messages`` as a chain under ``parent_id`` in ``lane``; move the lane's head to the last."""
        out: builtins.list[dict[str, Any]] = []
        for m in messages:
            mid = _new_id("msg")
            stats = json.dumps(m.stats) if m.stats is not None else None
            finish = m.finish_reason or ((m.stats or {}).get("finish_reason") if m.role == "assistant" else None)
            calls, call_id = m.tool_columns()
            conn.execute(f"INSERT INTO messages (conversation_id, {_MSG_COLUMNS}) VALUES ({_MSG_VALUES})",
                         (conv_id, mid, parent_id, lane, m.role, m.content, m.model, stats, finish, now, calls, call_id))
            out.append(self._message((mid, parent_id, lane, m.role, m.content, m.model, stats, finish, now,
                                      calls, call_id)))
            parent_id = mid
        heads = list(heads) + [None] * (lane + 1 - len(heads))
        heads[lane] = parent_id
        first_user = next((m.content for m in messages if m.role == "user" and m.content.strip()), None)
        conn.execute("UPDATE conversations SET heads=?, updated_at=? WHERE id=?", (json.dumps(heads), now, conv_id))
        if first_user is not None:
            conn.execute("UPDATE conversations SET title=? WHERE id=? AND title=''", (_auto_title(first_user), conv_id))
        return out

    def append(self, conv_id: str, messages: builtins.list[dict[str, Any]], *, parent_id: str | None = None,
               lane: int = 0) -> dict[str, Any]:
        """Add ``messages`` (a chain) after ``parent_id``, or after the lane's head when it is None.

        Returns ``{conversation_id, title, updated_at, head, messages}`` with the new messages' ids.
        """
        self._check_id(conv_id)
        checked = self._check_messages(messages)
        if not isinstance(lane, int) or isinstance(lane, bool) or not 0 <= lane < MAX_LANES:
            raise ValidationError(f"Parameter 'lane' must be 0 to {MAX_LANES - 1}", details={"parameter": "lane"})
        now = time.time()
        with self._tx() as conn:
            conv = self._meta(self._row(conn, conv_id))
            heads = conv["heads"]
            if parent_id is None:
                parent_id = heads[lane] if lane < len(heads) else None
            else:
                self._parent(conn, conv_id, self._check_id(parent_id, "parent_id"), lane)
            added = self._insert(conn, conv_id, checked, parent_id=parent_id, lane=lane, heads=heads, now=now)
            title = conn.execute("SELECT title FROM conversations WHERE id=?", (conv_id,)).fetchone()[0]
        return {"conversation_id": conv_id, "title": title, "updated_at": now, "head": added[-1]["id"],
                "messages": added}

    @staticmethod
    def _parent(conn: sqlite3.Connection, conv_id: str, message_id: str, lane: int | None = None) -> tuple:
        row = conn.execute("SELECT id, parent_id, lane, role FROM messages WHERE id=? AND conversation_id=?",
                           (message_id, conv_id)).fetchone()
        if row is None:
            raise NotFoundError(f"No message {message_id!r} in conversation {conv_id!r}",
                                details={"conversation_id": conv_id, "message_id": message_id})
        if lane is not None and row[2] != lane:
            raise ValidationError(f"Message {message_id!r} is in lane {row[2]}, not {lane}",
                                  details={"message_id": message_id, "lane": lane})
        return row

    def branch(self, conv_id: str, message_id: str, content: str) -> dict[str, Any]:
        """Edit ``message_id`` as a new branch: a sibling with ``content`` (same parent, role, lane)
        becomes the lane's head; the old branch is kept. Returns the conversation."""
        self._check_id(conv_id)
        self._check_id(message_id, "message_id")
        now = time.time()
        with self._tx() as conn:
            conv = self._meta(self._row(conn, conv_id))
            _mid, parent, lane, role = self._parent(conn, conv_id, message_id)
            (call_id,) = conn.execute("SELECT tool_call_id FROM messages WHERE id=?", (message_id,)).fetchone()
            (new,) = self._check_messages([{"role": role, "content": content, "tool_call_id": call_id}])
            self._insert(conn, conv_id, [new], parent_id=parent, lane=lane, heads=conv["heads"], now=now)
        return self.get(conv_id)

    def select(self, conv_id: str, message_id: str) -> dict[str, Any]:
        """Show the branch through ``message_id``: the head moves to its newest descendant."""
        self._check_id(conv_id)
        self._check_id(message_id, "message_id")
        with self._tx() as conn:
            conv = self._meta(self._row(conn, conv_id))
            _mid, _parent, lane, _role = self._parent(conn, conv_id, message_id)
            head = message_id
            while True:
                child = conn.execute("SELECT id FROM messages WHERE conversation_id=? AND parent_id=? "
                                     "ORDER BY seq DESC LIMIT 1", (conv_id, head)).fetchone()
                if child is None:
                    break
                head = child[0]
            heads = conv["heads"] + [None] * (lane + 1 - len(conv["heads"]))
            heads[lane] = head
            conn.execute("UPDATE conversations SET heads=? WHERE id=?", (json.dumps(heads), conv_id))
        return self.get(conv_id)

    def update(self, conv_id: str, *, title: str | None = None, models: builtins.list[str] | None = None,
               system_prompt: str | None = None, sampling: dict[str, Any] | None = None) -> dict[str, Any]:
        """Change the title, models, system prompt or sampling (the ones given). Returns the conversation."""
        self._check_meta(title, models, system_prompt, sampling)
        changes = {k: v for k, v in (("title", title.strip() if title else None),
                                     ("models", json.dumps(list(models)) if models is not None else None),
                                     ("system_prompt", system_prompt),
                                     ("sampling", json.dumps(sampling) if sampling is not None else None))
                   if v is not None}
        with self._tx() as conn:
            self._row(conn, conv_id)
            if changes:
                sets = ", ".join(f"{k}=?" for k in changes)
                conn.execute(f"UPDATE conversations SET {sets}, updated_at=? WHERE id=?",
                             (*changes.values(), time.time(), conv_id))
        return self.get(conv_id)

    def rename(self, conv_id: str, title: str) -> dict[str, Any]:
        """Give the conversation a title of its own (1 to 200 characters)."""
        if title is None:
            raise ValidationError("Parameter 'title' is required", details={"parameter": "title"})
        return self.update(conv_id, title=title)

    def delete(self, conv_id: str) -> dict[str, Any]:
        """Delete the conversation and every message of it."""
        with self._tx() as conn:
            self._row(conn, conv_id)
            n = conn.execute("DELETE FROM messages WHERE conversation_id=?", (conv_id,)).rowcount
            conn.execute("DELETE FROM conversations WHERE id=?", (conv_id,))
        return {"deleted": conv_id, "messages": n}

    # Files --------------------------------------------------------------------------------------

    def export(self, conv_id: str, format: str = "json") -> dict[str, Any]:
        """``{format, filename, media_type, content}``: the whole tree as JSON (``import_json`` reads it
        back), or the current branch as Markdown."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            conv = self._meta(self._row(conn, conv_id))
            messages = self._messages(conn, conv_id)
        finally:
            conn.execute("COMMIT")
        name = _slug(conv["title"])
        if format == "json":
            return {"format": "json", "filename": f"{name}.json", "media_type": "application/json",
                    "content": json.dumps(export_dict(conv, messages), indent=2, ensure_ascii=False)}
        if format == "markdown":
            return {"format": "markdown", "filename": f"{name}.md", "media_type": "text/markdown",
                    "content": to_markdown(self._assemble(conv, messages))}
        raise ValidationError("Parameter 'format' must be one of json, markdown",
                              details={"parameter": "format", "choices": ["json", "markdown"]})

    def import_json(self, data: Any) -> dict[str, Any]:
        """A new conversation from an exported file (dict, JSON text or bytes), every branch kept, in one
        transaction. Raises ValidationError naming the bad field (``messages[3].role``)."""
        parsed, has_parent = parse_file(data)
        now = time.time()
        conv_id = _new_id("conv")
        new_ids: dict[str, str] = {}
        last: dict[int, str | None] = {}
        with self._tx() as conn:
            conn.execute("INSERT INTO conversations (id, title, models, system_prompt, sampling, heads, created_at, "
                         "updated_at) VALUES (?,?,?,?,?,?,?,?)",
                         (conv_id, parsed.title.strip(), json.dumps(parsed.models), parsed.system_prompt,
                          json.dumps(parsed.sampling), "[]", parsed.created_at or now, now))
            for i, m in enumerate(parsed.messages):
                mid = _new_id("msg")
                if has_parent[i]:
                    parent = new_ids[m.parent_id] if m.parent_id is not None else None
                else:
                    parent = last.get(m.lane)
                conn.execute(f"INSERT INTO messages (conversation_id, {_MSG_COLUMNS}) VALUES ({_MSG_VALUES})",
                             _message_row(conv_id, mid, parent, m, now))
                if m.id is not None:
                    new_ids[m.id] = mid
                last[m.lane] = mid
            heads = [new_ids.get(h) if h is not None else None for h in parsed.heads] if parsed.heads else \
                [last.get(k) for k in range(max(last, default=-1) + 1)]
            title = parsed.title.strip() or _auto_title(next(
                (m.content for m in parsed.messages if m.role == "user" and m.content.strip()), ""))
            conn.execute("UPDATE conversations SET heads=?, title=? WHERE id=?", (json.dumps(heads), title, conv_id))
        return self.get(conv_id)


def _message_row(conv_id: str, mid: str, parent: str | None, m: Any, now: float) -> tuple:
    """The INSERT values of one imported message (a seam the crash test slows down)."""
    stats = json.dumps(m.stats, allow_nan=False) if m.stats is not None else None
    return (conv_id, mid, parent, m.lane, m.role, m.content, m.model, stats, m.finish_reason, m.created_at or now,
            *m.tool_columns())
