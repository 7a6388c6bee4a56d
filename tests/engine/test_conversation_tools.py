"""Conversations keep tool calls: an assistant's ``tool_calls`` and the ``tool`` messages answering
them are stored, read back, exported, imported and branched in OpenAI's shapes; a database written
before these fields existed gains them on open."""

from __future__ import annotations

import json
import sqlite3

import pytest

from model_studio.core.conversations import ConversationStore, to_markdown
from model_studio.errors import ValidationError

CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
ROUND_TRIP = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL], "finish_reason": "tool_calls"},
    {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": "call_1"},
    {"role": "assistant", "content": "It is 21 °C."},
]


@pytest.fixture
def store(tmp_path):
    s = ConversationStore(tmp_path / "conversations.sqlite")
    yield s
    s.close()


def _shape(conv: dict) -> list[tuple]:
    return [(m["role"], m["content"], m["tool_calls"], m["tool_call_id"]) for m in conv["lanes"][0]["messages"]]


def test_tool_calls_and_results_are_stored_and_restored(store, tmp_path):
    # Given a conversation with a tool call round trip
    conv = store.create(models=["local/m"])
    appended = store.append(conv["id"], ROUND_TRIP)
    # Then the append answers with the fields, and a fresh store reads them back
    assert appended["messages"][1]["tool_calls"] == [CALL]
    again = ConversationStore(tmp_path / "conversations.sqlite")
    try:
        got = again.get(conv["id"])
    finally:
        again.close()
    assert _shape(got) == [("user", "Weather in Paris?", None, None), ("assistant", "", [CALL], None),
                           ("tool", '{"temp_c": 21}', None, "call_1"), ("assistant", "It is 21 °C.", None, None)]
    assert got["lanes"][0]["messages"][1]["finish_reason"] == "tool_calls"
    # And Markdown shows the call and the result
    md = to_markdown(got)
    assert "`get_weather`" in md and '{"city": "Paris"}' in md and "result for `call_1`" in md


def test_export_import_and_branch_keep_tool_fields(store):
    conv = store.create()
    store.append(conv["id"], ROUND_TRIP)
    # When exported and imported again
    file = json.loads(store.export(conv["id"])["content"])
    assert file["messages"][1]["tool_calls"] == [CALL] and file["messages"][2]["tool_call_id"] == "call_1"
    copy = store.import_json(file)
    assert _shape(copy) == _shape(store.get(conv["id"]))
    # And a tool result edited as a branch keeps the call it answers
    tool_msg = copy["lanes"][0]["messages"][2]
    branched = store.branch(copy["id"], tool_msg["id"], '{"temp_c": 5}')
    assert _shape(branched)[-1] == ("tool", '{"temp_c": 5}', None, "call_1")


@pytest.mark.parametrize(("message", "problem"), [
    ({"role": "tool", "content": "x"}, "tool_call_id"),
    ({"role": "user", "content": "x", "tool_calls": [CALL]}, "only an assistant"),
    ({"role": "assistant", "content": "x", "tool_call_id": "call_1"}, "only a tool message"),
    ({"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                                                          "function": {"arguments": "{}"}}]}, "name"),
])
def test_bad_tool_fields_name_the_problem(store, message, problem):
    conv = store.create()
    with pytest.raises(ValidationError) as err:
        store.append(conv["id"], [message])
    assert problem in str(err.value) and err.value.details["message_index"] == 0
    assert store.get(conv["id"])["message_count"] == 0  # nothing was saved


def test_an_older_database_gains_the_tool_columns(tmp_path):
    # Given a database from before tool calls were kept, holding one message
    path = tmp_path / "conversations.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', models TEXT NOT NULL
              DEFAULT '[]', system_prompt TEXT NOT NULL DEFAULT '', sampling TEXT NOT NULL DEFAULT '{}',
              heads TEXT NOT NULL DEFAULT '[]', created_at REAL NOT NULL, updated_at REAL NOT NULL);
            CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
              conversation_id TEXT NOT NULL, parent_id TEXT, lane INTEGER NOT NULL DEFAULT 0, role TEXT NOT NULL,
              content TEXT NOT NULL, model TEXT, stats TEXT, finish_reason TEXT, created_at REAL NOT NULL);
            INSERT INTO conversations VALUES ('conv-old', 'Old', '[]', '', '{}', '["msg-1"]', 1.0, 1.0);
            INSERT INTO messages (id, conversation_id, parent_id, lane, role, content, created_at)
              VALUES ('msg-1', 'conv-old', NULL, 0, 'user', 'hello', 1.0);
        """)
    # When the store opens it
    store = ConversationStore(path)
    try:
        # Then the old message reads back and a tool round trip can follow it
        assert _shape(store.get("conv-old")) == [("user", "hello", None, None)]
        store.append("conv-old", ROUND_TRIP[1:])
        assert [m[3] for m in _shape(store.get("conv-old"))] == [None, None, "call_1", None]
    finally:
        store.close()
