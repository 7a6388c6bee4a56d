"""``ChatPlayground(conversation=...)`` and the conversation operations over the widget's comm."""

from __future__ import annotations

import pytest

import model_studio
from model_studio.errors import NotFoundError
from tests.widgets.test_chat_widget import MODEL, fake_chat, reply, send  # noqa: F401  (fake_chat: a fixture)


def test_opens_a_conversation_by_id_or_title(fake_chat):  # noqa: F811
    from model_studio.widgets import ChatPlayground

    store = model_studio.engine().conversations
    conv = store.create(title="Otter facts", models=[MODEL])
    by_id = ChatPlayground(conversation=conv["id"])
    by_title = ChatPlayground(model=MODEL, conversation="Otter facts")
    fresh = ChatPlayground(model=MODEL)
    try:
        assert by_id.conversation == by_title.conversation == conv["id"]
        assert fresh.conversation == ""
        assert f"conversation='{conv['id']}'" in repr(by_id)
    finally:
        for w in (by_id, by_title, fresh):
            w.close()
    with pytest.raises(NotFoundError):
        ChatPlayground(conversation="no such conversation")


def test_conversation_calls_over_the_comm(fake_chat, monkeypatch):  # noqa: F811
    from model_studio.widgets import ChatPlayground

    w = ChatPlayground(model=MODEL)
    w.sent = []
    monkeypatch.setattr(w, "send", w.sent.append)
    try:
        send(w, "c1", "conversations.create", {"models": [MODEL]})
        created = reply(w, "c1")
        assert created["kind"] == "result", created
        cid = created["result"]["id"]
        send(w, "c2", "conversations.append", {"conversation_id": cid, "messages": [
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "model": MODEL,
                                                "stats": {"completion_tokens": 1, "finish_reason": "cancelled"}}]})
        appended = reply(w, "c2")["result"]
        assert appended["title"] == "Hi" and appended["messages"][1]["finish_reason"] == "cancelled"
        send(w, "c3", "conversations.get", {"conversation_id": cid})
        got = reply(w, "c3")["result"]
        assert [m["content"] for m in got["lanes"][0]["messages"]] == ["Hi", "Hello"]
        send(w, "c4", "conversations.get", {"conversation_id": "conv-missing"})
        err = reply(w, "c4")
        assert err["kind"] == "error" and err["error"]["type"] == "NotFoundError"
        send(w, "c5", "conversations.import", {"conversation": {"messages": [{"role": "x", "content": ""}]}})
        err = reply(w, "c5")
        assert err["kind"] == "error" and err["error"]["details"]["field"] == "messages[0].role"
    finally:
        w.close()
