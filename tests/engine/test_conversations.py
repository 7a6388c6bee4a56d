"""The conversation store: create, append, branch, rename, delete, search, export/import, and what
happens when two processes write at once or a writer is killed mid-transaction."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from model_studio.core.conversations import ConversationStore
from model_studio.errors import NotFoundError, ValidationError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    s = ConversationStore(tmp_path / "conversations.sqlite")
    yield s
    s.close()


def _stats(tokens: int, finish: str = "stop") -> dict:
    return {"prompt_tokens": 7, "completion_tokens": tokens, "ttft": 0.12, "tokens_per_second": 31.5,
            "total_time": 0.5, "finish_reason": finish}


def _contents(conv: dict, lane: int = 0) -> list[str]:
    return [m["content"] for m in conv["lanes"][lane]["messages"]]


def test_create_append_title_and_stats(store):
    conv = store.create(models=["local/SmolLM2-135M-Instruct"], system_prompt="Be brief.",
                        sampling={"temperature": 0, "max_tokens": 16})
    assert conv["title"] == "" and conv["message_count"] == 0 and conv["lanes"][0]["messages"] == []
    user = store.append(conv["id"], [{"role": "user", "content": "What is a   llama?\nTell me."}])
    answer = store.append(conv["id"], [{"role": "assistant", "content": "An animal.",
                                        "model": "local/SmolLM2-135M-Instruct", "stats": _stats(3)}],
                          parent_id=user["head"])
    # the title comes from the first user message (one line, whitespace folded)
    assert user["title"] == "What is a llama? Tell me."
    got = store.get(conv["id"])
    assert got["title"] == "What is a llama? Tell me." and got["message_count"] == 2
    assert got["system_prompt"] == "Be brief." and got["sampling"] == {"temperature": 0, "max_tokens": 16}
    msgs = got["lanes"][0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[1]["parent_id"] == msgs[0]["id"] == user["head"] and msgs[1]["id"] == answer["head"]
    assert msgs[1]["stats"]["completion_tokens"] == 3 and msgs[1]["finish_reason"] == "stop"
    assert msgs[1]["model"] == "local/SmolLM2-135M-Instruct"
    assert got["heads"] == [answer["head"]] and got["updated_at"] >= got["created_at"]
    # a stopped answer keeps its finish reason
    stopped = store.append(conv["id"], [{"role": "user", "content": "More"},
                                        {"role": "assistant", "content": "Half", "stats": _stats(2, "cancelled")}])
    assert store.get(conv["id"])["lanes"][0]["messages"][-1]["finish_reason"] == "cancelled"
    assert len(stopped["messages"]) == 2 and stopped["messages"][1]["parent_id"] == stopped["messages"][0]["id"]


def test_branch_keeps_the_old_branch_and_select_switches(store):
    conv = store.create()
    a = store.append(conv["id"], [{"role": "user", "content": "one"}, {"role": "assistant", "content": "1"},
                                  {"role": "user", "content": "two"}, {"role": "assistant", "content": "2"}])
    first_user, _, second_user, _ = (m["id"] for m in a["messages"])
    # edit "two" and resend: a sibling of "two" becomes the branch shown
    branched = store.branch(conv["id"], second_user, "TWO")
    assert _contents(branched) == ["one", "1", "TWO"]
    edited = branched["lanes"][0]["messages"][-1]
    assert edited["siblings"] == [second_user, edited["id"]] and edited["sibling_index"] == 1
    store.append(conv["id"], [{"role": "assistant", "content": "II"}], parent_id=edited["id"])
    assert _contents(store.get(conv["id"])) == ["one", "1", "TWO", "II"]
    # the old branch is still there, and selecting it shows its whole path
    old = store.select(conv["id"], second_user)
    assert _contents(old) == ["one", "1", "two", "2"] and old["message_count"] == 6
    assert _contents(store.select(conv["id"], edited["id"])) == ["one", "1", "TWO", "II"]
    # editing the first message makes a second root
    root = store.branch(conv["id"], first_user, "uno")
    assert _contents(root) == ["uno"] and root["lanes"][0]["messages"][0]["siblings"][0] == first_user
    with pytest.raises(NotFoundError):
        store.branch(conv["id"], "msg-missing", "x")
    with pytest.raises(ValidationError):
        store.branch(conv["id"], first_user, 42)


def test_compare_lanes(store):
    conv = store.create(models=["m/a", "m/b"])
    for lane, model in enumerate(("m/a", "m/b")):
        store.append(conv["id"], [{"role": "user", "content": "hi"},
                                  {"role": "assistant", "content": f"from {model}", "model": model}], lane=lane)
    got = store.get(conv["id"])
    assert [lane["model"] for lane in got["lanes"]] == ["m/a", "m/b"]
    assert _contents(got, 0) == ["hi", "from m/a"] and _contents(got, 1) == ["hi", "from m/b"]
    lane0_user = got["lanes"][0]["messages"][0]["id"]
    with pytest.raises(ValidationError):  # a parent in another lane
        store.append(conv["id"], [{"role": "user", "content": "x"}], parent_id=lane0_user, lane=1)
    with pytest.raises(ValidationError):
        store.append(conv["id"], [{"role": "user", "content": "x"}], lane=2)


def test_rename_delete_list_search_and_paging(store):
    ids = []
    for i in range(5):
        c = store.create()
        store.append(c["id"], [{"role": "user", "content": f"question {i} about {'otters' if i % 2 else 'bees'}"}])
        ids.append(c["id"])
    listed = store.list()
    assert [c["id"] for c in listed["conversations"]] == ids[::-1] and listed["total"] == 5  # newest first
    assert listed["conversations"][0]["message_count"] == 1 and "bees" in listed["conversations"][0]["preview"]
    page = store.list(limit=2, offset=2)
    assert [c["id"] for c in page["conversations"]] == [ids[2], ids[1]] and page["total"] == 5
    # search: message text and titles, case-insensitive; LIKE wildcards are literal
    assert {c["id"] for c in store.list("OTTERS")["conversations"]} == {ids[1], ids[3]}
    renamed = store.rename(ids[0], "  Bee notes  ")
    assert renamed["title"] == "Bee notes"
    assert [c["id"] for c in store.list("notes")["conversations"]] == [ids[0]]
    assert store.list("%")["total"] == 0 and store.list("_")["total"] == 0
    # a renamed title is not replaced by later messages
    store.append(ids[0], [{"role": "user", "content": "another"}])
    assert store.get(ids[0])["title"] == "Bee notes"
    assert store.find("Bee notes")["id"] == ids[0] and store.find(ids[1])["id"] == ids[1]
    assert store.find("nothing like it") is None
    with pytest.raises(ValidationError):
        store.rename(ids[0], "  ")
    with pytest.raises(ValidationError):
        store.rename(ids[0], "x" * 201)
    assert store.delete(ids[0]) == {"deleted": ids[0], "messages": 2}
    with pytest.raises(NotFoundError):
        store.get(ids[0])
    with pytest.raises(NotFoundError):
        store.delete(ids[0])
    with pytest.raises(ValidationError):
        store.get("../etc/passwd")
    assert store.list()["total"] == 4


def test_bad_messages_name_the_field(store):
    conv = store.create()
    with pytest.raises(ValidationError) as err:
        store.append(conv["id"], [{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}])
    assert err.value.details["field"] == "messages[1].role" and err.value.details["message_index"] == 1
    with pytest.raises(ValidationError) as err:
        store.append(conv["id"], [{"role": "user"}])
    assert err.value.details["field"] == "messages[0].content"
    with pytest.raises(ValidationError):
        store.append(conv["id"], [{"role": "user", "content": "x", "stats": {"ttft": float("nan")}}])
    with pytest.raises(ValidationError):
        store.append(conv["id"], [])
    with pytest.raises(NotFoundError):
        store.append(conv["id"], [{"role": "user", "content": "x"}], parent_id="msg-nope")
    with pytest.raises(NotFoundError):
        store.append("conv-nope", [{"role": "user", "content": "x"}])
    assert store.get(conv["id"])["message_count"] == 0  # nothing half-written


def test_export_import_round_trip(store):
    conv = store.create(models=["local/SmolLM2-135M-Instruct"], system_prompt="Sys", sampling={"temperature": 0.2})
    a = store.append(conv["id"], [{"role": "user", "content": "Hello"},
                                  {"role": "assistant", "content": "**Hi**", "model": "local/SmolLM2-135M-Instruct",
                                   "stats": _stats(4)}])
    store.branch(conv["id"], a["messages"][0]["id"], "Hello again")
    store.append(conv["id"], [{"role": "assistant", "content": "Again?", "stats": _stats(2, "cancelled")}])
    exported = store.export(conv["id"], "json")
    assert exported["filename"] == "hello.json" and exported["media_type"] == "application/json"
    data = json.loads(exported["content"])
    assert data["format"] == "model-studio.conversation" and len(data["messages"]) == 4
    copy = store.import_json(exported["content"])
    assert copy["id"] != conv["id"] and copy["title"] == "Hello" and copy["message_count"] == 4
    original = store.get(conv["id"])
    assert _contents(copy) == _contents(original) == ["Hello again", "Again?"]
    assert copy["system_prompt"] == "Sys" and copy["sampling"] == {"temperature": 0.2}
    assert copy["lanes"][0]["messages"][-1]["finish_reason"] == "cancelled"
    # the other branch came along: select its root
    other = copy["lanes"][0]["messages"][0]["siblings"][0]
    assert _contents(store.select(copy["id"], other)) == ["Hello", "**Hi**"]
    assert store.get(copy["id"])["lanes"][0]["messages"][1]["stats"]["completion_tokens"] == 4
    # Markdown: the branch shown, with stats
    md = store.export(conv["id"], "markdown")
    assert md["filename"] == "hello.md" and md["content"].startswith("# Hello\n")
    assert "### User\n\nHello again" in md["content"] and "Again?" in md["content"] and "stopped" in md["content"]
    assert "## System\n\nSys" in md["content"]
    with pytest.raises(ValidationError):
        store.export(conv["id"], "pdf")
    # a plain list of messages imports as one linear conversation
    plain = store.import_json([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    assert _contents(plain) == ["a", "b"] and plain["title"] == "a"


@pytest.mark.parametrize("data, field, index", [
    ({"messages": [{"role": "user", "content": "a"}, {"role": "wizard", "content": "b"}]}, "messages[1].role", 1),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}, "messages[1].content", 1),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", 0),
    ({"title": "x"}, "messages", None),
    ({"messages": [{"id": "a", "role": "user", "content": "a"}, {"parent_id": "zz", "role": "user",
                                                                  "content": "b"}]}, "messages[1].parent_id", 1),
    ({"messages": [{"id": "a", "role": "user", "content": "a"}, {"id": "a", "role": "user",
                                                                  "content": "b"}]}, "messages[1].id", 1),
    ({"messages": [{"role": "user", "content": "a", "lane": 7}]}, "messages[0].lane", 0),
    ({"messages": [], "models": "m"}, "models", None),
    ('{"messages": [', None, None),
    ("[1, 2]", "messages[0]", 0),
    (b"\xff\xfe", None, None),
])
def test_malformed_import_names_the_problem(store, data, field, index):
    with pytest.raises(ValidationError) as err:
        store.import_json(data)
    assert err.value.details.get("field") == field
    assert err.value.details.get("message_index") == index
    if field:
        assert field in err.value.message
    assert store.list()["total"] == 0


def _appender(path: str, conv_id: str, tag: str, n: int) -> None:
    s = ConversationStore(Path(path))
    for i in range(n):
        s.append(conv_id, [{"role": "user", "content": f"{tag}-{i}"}])
    s.close()


def test_two_processes_appending_lose_nothing(store):
    conv = store.create()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(store.path), conv["id"], tag, 50)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = store.get(conv["id"])
    assert got["message_count"] == 100
    chain = _contents(got)
    assert len(chain) == 100 and len({m["id"] for m in got["lanes"][0]["messages"]}) == 100
    # each writer's messages are all there, in its own order, in one linear chain
    for tag in ("a", "b"):
        assert [c for c in chain if c.startswith(tag)] == [f"{tag}-{i}" for i in range(50)]
    msgs = got["lanes"][0]["messages"]
    assert all(m["parent_id"] == p["id"] for p, m in zip(msgs, msgs[1:], strict=False))


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from model_studio.core.conversations import store as mod

    real = mod._message_row
    def slow(conv_id, mid, parent, m, now):
        if m.content == "message 2500":
            print("inside", flush=True)
            time.sleep(60)
        return real(conv_id, mid, parent, m, now)
    mod._message_row = slow
    s = mod.ConversationStore(Path(sys.argv[1]))
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(5000)]
    s.import_json({"title": "big", "messages": messages})
    print("done", flush=True)
""")


def test_a_writer_killed_mid_import_leaves_nothing(store):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(store.path)], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "inside"  # 2500 rows written inside the transaction
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    fresh = ConversationStore(store.path)
    try:
        assert fresh.list()["total"] == 0
        assert fresh._conn().execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
        # and the database still takes writes (no lock left behind)
        done = fresh.import_json({"title": "big", "messages": [{"role": "user", "content": f"m{i}"}
                                                               for i in range(5000)]})
        assert done["message_count"] == 5000 and fresh.list()["total"] == 1
    finally:
        fresh.close()


def test_engine_and_package_expose_the_store(engine, monkeypatch):
    import model_studio

    c = engine.conversations.create(title="From the engine")
    assert engine.conversations.path == engine.settings.home_path / "conversations.sqlite"
    assert engine.conversations.get(c["id"])["title"] == "From the engine"
    monkeypatch.setattr(model_studio, "_engine", engine)
    assert model_studio.conversations() is engine.conversations
