"""REST: /model-studio/api/conversations (the Local Agent Studio seed's sessions): codes and bodies."""

from __future__ import annotations

import json

from tests.server.conftest import assert_error

STATS = {"prompt_tokens": 9, "completion_tokens": 4, "ttft": 0.1, "tokens_per_second": 40.0, "total_time": 0.2,
         "finish_reason": "stop"}


async def test_create_append_get_list_rename_delete(api, engine_of):
    # Given a new conversation
    r = await api("POST", "conversations", body={"models": ["local/SmolLM2-135M-Instruct"],
                                                 "system_prompt": "Be brief.", "sampling": {"temperature": 0}})
    assert r.code == 201, r
    conv = r.json
    assert conv["id"].startswith("conv-") and conv["title"] == "" and conv["lanes"] == [
        {"model": "local/SmolLM2-135M-Instruct", "messages": []}]
    cid = conv["id"]
    # When a prompt and its answer are appended
    r = await api("POST", f"conversations/{cid}/messages", body={"messages": [{"role": "user", "content": "Hi there"}]})
    assert r.code == 201, r
    user = r.json["head"]
    assert r.json["title"] == "Hi there" and r.json["messages"][0]["parent_id"] is None
    r = await api("POST", f"conversations/{cid}/messages", body={
        "messages": [{"role": "assistant", "content": "Hello!", "model": "local/SmolLM2-135M-Instruct",
                      "stats": STATS}], "parent_id": user})
    assert r.code == 201 and r.json["messages"][0]["finish_reason"] == "stop"
    # Then get shows the branch with its stats, and the engine holds the same
    r = await api("GET", f"conversations/{cid}")
    assert r.code == 200
    msgs = r.json["lanes"][0]["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [("user", "Hi there"), ("assistant", "Hello!")]
    assert msgs[1]["stats"] == STATS and msgs[1]["siblings"] == [msgs[1]["id"]] and msgs[1]["sibling_index"] == 0
    assert engine_of.conversations.get(cid)["message_count"] == 2
    # list and search
    r = await api("GET", "conversations", params={"q": "hello"})
    assert r.code == 200 and r.json["total"] == 1 and r.json["conversations"][0]["id"] == cid
    assert (await api("GET", "conversations", params={"q": "nothing"})).json["conversations"] == []
    # rename, and update the rest
    r = await api("POST", f"conversations/{cid}/rename", body={"title": "Greetings"})
    assert r.code == 200 and r.json["title"] == "Greetings"
    r = await api("PATCH", f"conversations/{cid}", body={"models": ["a/b", "c/d"], "system_prompt": "Terse."})
    assert r.code == 200 and r.json["models"] == ["a/b", "c/d"] and r.json["title"] == "Greetings"
    assert len(r.json["lanes"]) == 2
    # delete
    r = await api("DELETE", f"conversations/{cid}")
    assert r.code == 200 and r.json == {"deleted": cid, "messages": 2}
    assert_error(await api("GET", f"conversations/{cid}"), 404, "NotFoundError")


async def test_branch_select_export_import(api):
    cid = (await api("POST", "conversations", body={})).json["id"]
    added = (await api("POST", f"conversations/{cid}/messages", body={"messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"}, {"role": "assistant", "content": "two"}]})).json["messages"]
    r = await api("POST", f"conversations/{cid}/branch", body={"message_id": added[2]["id"], "content": "SECOND"})
    assert r.code == 200, r
    branch = r.json["lanes"][0]["messages"]
    assert [m["content"] for m in branch] == ["first", "one", "SECOND"]
    assert branch[-1]["siblings"] == [added[2]["id"], branch[-1]["id"]] and branch[-1]["sibling_index"] == 1
    r = await api("POST", f"conversations/{cid}/select", body={"message_id": added[2]["id"]})
    assert [m["content"] for m in r.json["lanes"][0]["messages"]] == ["first", "one", "second", "two"]

    r = await api("GET", f"conversations/{cid}/export", params={"format": "markdown"})
    assert r.code == 200 and r.json["filename"] == "first.md" and r.json["media_type"] == "text/markdown"
    assert "### User\n\nsecond" in r.json["content"]
    r = await api("GET", f"conversations/{cid}/export")
    assert r.code == 200 and r.json["format"] == "json"
    exported = json.loads(r.json["content"])
    assert len(exported["messages"]) == 5
    # import: as parsed JSON and as text
    r = await api("POST", "conversations/import", body={"conversation": exported})
    assert r.code == 201, r
    assert r.json["message_count"] == 5 and r.json["id"] != cid
    assert [m["content"] for m in r.json["lanes"][0]["messages"]] == ["first", "one", "second", "two"]
    r = await api("POST", "conversations/import", body={"content": r.json and json.dumps(exported)})
    assert r.code == 201
    assert (await api("GET", "conversations")).json["total"] == 3


async def test_bad_input_is_400_and_missing_is_404(api):
    cid = (await api("POST", "conversations", body={})).json["id"]
    # a malformed file names the field and the message
    bad = {"messages": [{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}]}
    err = assert_error(await api("POST", "conversations/import", body={"conversation": bad}), 400, "ValidationError")
    assert err["details"]["field"] == "messages[1].role" and err["details"]["message_index"] == 1
    err = assert_error(await api("POST", "conversations/import", body={"content": "{not json"}), 400,
                       "ValidationError")
    assert "not valid JSON" in err["message"]
    assert_error(await api("POST", "conversations/import", body={}), 400, "ValidationError")
    err = assert_error(await api("POST", f"conversations/{cid}/messages",
                                 body={"messages": [{"role": "user", "content": 3}]}), 400, "ValidationError")
    assert err["details"]["field"] == "messages[0].content"
    assert_error(await api("POST", f"conversations/{cid}/messages", body={"messages": []}), 400)
    assert_error(await api("POST", f"conversations/{cid}/messages",
                           body={"messages": [{"role": "user", "content": "x"}], "lane": 5}), 400)
    assert_error(await api("POST", f"conversations/{cid}/rename", body={"title": " "}), 400, "ValidationError")
    assert_error(await api("POST", f"conversations/{cid}/rename", body={}), 400, "ValidationError")
    assert_error(await api("GET", "conversations", params={"limit": "0"}), 400, "ValidationError")
    assert_error(await api("GET", f"conversations/{cid}/export", params={"format": "pdf"}), 400)
    assert_error(await api("POST", "conversations", body={"models": ["a", "b", "c"]}), 400)
    # missing ids are 404
    assert_error(await api("GET", "conversations/conv-missing"), 404, "NotFoundError")
    assert_error(await api("DELETE", "conversations/conv-missing"), 404, "NotFoundError")
    assert_error(await api("POST", "conversations/conv-missing/messages",
                           body={"messages": [{"role": "user", "content": "x"}]}), 404, "NotFoundError")
    assert_error(await api("POST", f"conversations/{cid}/branch", body={"message_id": "msg-missing",
                                                                        "content": "x"}), 404, "NotFoundError")
    assert_error(await api("POST", f"conversations/{cid}/messages",
                           body={"messages": [{"role": "user", "content": "x"}], "parent_id": "msg-gone"}), 404)
    assert (await api("GET", f"conversations/{cid}")).json["message_count"] == 0
