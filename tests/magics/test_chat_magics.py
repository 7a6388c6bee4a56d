"""``%%chat`` and ``%studio chat`` in a plain IPython shell, over a fake chat service."""

from __future__ import annotations

import pytest

import model_studio
from model_studio import magics
from tests.widgets.test_chat_widget import MODEL, FakeChat


@pytest.fixture
def fake_chat(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    model_studio._reset_engine()
    eng = model_studio.engine()
    fake = FakeChat()
    monkeypatch.setattr(eng, "chat", fake, raising=False)
    yield fake
    model_studio._reset_engine()


def test_chat_cell_interpolates_streams_and_returns_the_answer(shell, fake_chat, capsys):
    shell.user_ns["topic"] = "otters"
    shell.user_ns["n"] = 3
    answer = shell.run_cell_magic("chat", f"{MODEL} --temperature 0 --max-tokens 32 --seed 1 --system 'Be brief.'",
                                  "Tell me {n} facts about {topic}.\n")
    out = capsys.readouterr()
    assert answer == "Hello there, friend." and isinstance(answer, str)
    assert repr(answer) == "Hello there, friend."
    assert answer.stats["completion_tokens"] == 5 and answer.finish_reason == "stop"
    assert "Hello there, friend." in out.out and "tokens" in out.out and out.err == ""
    call = fake_chat.calls[-1]
    assert call["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Tell me 3 facts about otters."}]
    assert call["temperature"] == 0 and call["max_tokens"] == 32 and call["seed"] == 1


def test_chat_cell_result_is_underscore(shell, fake_chat):
    result = shell.run_cell(f"%%chat {MODEL}\nHi")
    assert result.success
    assert shell.user_ns["_"] == "Hello there, friend."


def test_missing_name_is_one_line(shell, fake_chat, capsys):
    assert shell.run_cell_magic("chat", MODEL, "About {nowhere_defined}") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere_defined" in err[0] and "Traceback" not in err[0]
    assert fake_chat.calls == []


def test_literal_braces_and_bad_format(shell, fake_chat, capsys):
    shell.run_cell_magic("chat", MODEL, "JSON like {{\"a\": 1}}")
    assert fake_chat.calls[-1]["messages"][-1]["content"] == 'JSON like {"a": 1}'
    assert shell.run_cell_magic("chat", MODEL, "broken {") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "{{" in err[0]


def test_bad_model_is_one_line(shell, fake_chat, capsys):
    assert shell.run_cell_magic("chat", "nobody/nothing", "Hi") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nobody/nothing" in err[0] and "Traceback" not in err[0]


def test_bad_arguments_and_empty_cell(shell, fake_chat, capsys):
    assert shell.run_cell_magic("chat", f"{MODEL} --temperature hot", "Hi") is None
    assert "UsageError" in capsys.readouterr().err
    assert shell.run_cell_magic("chat", "", "Hi") is None
    assert "UsageError" in capsys.readouterr().err
    assert shell.run_cell_magic("chat", MODEL, "   \n") is None
    assert "empty" in capsys.readouterr().err
    assert fake_chat.calls == []


def test_bad_sampling_value_is_one_line(shell, fake_chat, capsys):
    assert shell.run_cell_magic("chat", f"{MODEL} --temperature 50", "Hi") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "temperature" in err[0]


def test_studio_chat_outside_a_notebook_is_a_hint(shell, fake_chat):
    view = shell.run_line_magic("studio", f"chat {MODEL}")
    assert "%%chat" in repr(view) and MODEL in repr(view)


def test_studio_chat_in_a_notebook_is_the_playground(shell, fake_chat, monkeypatch):
    monkeypatch.setattr(magics._base, "in_notebook", lambda _shell: True)
    widget = shell.run_line_magic("studio", f"chat {MODEL}")
    try:
        assert type(widget).__name__ == "ChatPlayground" and widget.model == MODEL
    finally:
        widget.close()


def test_parse_chat():
    args = magics.parse_chat("org/m --max-tokens 5 --system 'You are terse.'")
    assert args == magics.ChatCellArgs(model="org/m", max_tokens=5, system="You are terse.")
    assert magics.interpolate("{a[0]} {b:.1f}", {"a": ["x"], "b": 2}) == "x 2.0"
