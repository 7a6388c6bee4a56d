"""``ChatPlayground``: the chat.stream / chat.stop messages over a fake chat service.

The fake implements the ``engine.chat`` contract the widget uses (``stream(model, messages, *,
stop, load_options, **sampling)`` yielding ``ChatChunk``s), so these tests check the widget's
protocol without loading a model.
"""

from __future__ import annotations

import threading
import time

import pytest

import model_studio
from model_studio.core.chat.base import ChatChunk, SamplingParams
from model_studio.errors import NotFoundError

MODEL = "fake-org/fake-chat"


class FakeChat:
    """``engine.chat`` stand-in: streams ``words`` one token at a time, ``delay`` seconds apart."""

    def __init__(self, words=None, delay: float = 0.0) -> None:
        self.words = words or ["Hello", " there", ",", " friend", "."]
        self.delay = delay
        self.calls: list[dict] = []
        self.started = threading.Event()

    def close(self) -> None:
        pass

    def stream(self, model, messages, *, stop=None, load_options=None, stop_strings=None, **sampling):
        if stop_strings:
            sampling["stop"] = list(stop_strings)
        if model != MODEL:
            raise NotFoundError(f"Model {model!r} is not a local chat model",
                                resolution_steps=["Download it first"])
        SamplingParams.checked(**sampling)
        self.calls.append({"model": model, "messages": messages, "load_options": load_options, **sampling})

        def gen():
            self.started.set()
            for word in self.words:
                if stop is not None and stop.is_set():
                    yield ChatChunk("", 0, "cancelled")
                    return
                time.sleep(self.delay)
                yield ChatChunk(word, 1)
            yield ChatChunk("", 0, "stop")

        return gen()


@pytest.fixture
def fake_chat(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    model_studio._reset_engine()
    eng = model_studio.engine()
    fake = FakeChat()
    monkeypatch.setattr(eng, "chat", fake, raising=False)
    yield fake
    model_studio._reset_engine()


@pytest.fixture
def widget(fake_chat, monkeypatch):
    from model_studio.widgets import ChatPlayground

    w = ChatPlayground(model=MODEL)
    w.sent = []
    monkeypatch.setattr(w, "send", w.sent.append)
    yield w
    w.close()


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def send(widget, call_id, method, params=None):
    widget._handle_custom_msg({"id": call_id, "kind": "call", "method": method, "params": params}, [])


def reply(widget, call_id):
    return wait_for(lambda: next((m for m in widget.sent if m.get("id") == call_id), None))


def chunks(widget, call_id):
    return [m["data"] for m in widget.sent
            if m.get("kind") == "event" and m.get("type") == "chat.chunk" and m["data"]["request_id"] == call_id]


def test_trait_and_exports(widget):
    assert widget.model == MODEL and widget.system_prompt == ""
    assert "ChatPlayground" in model_studio._LAZY_WIDGETS
    assert model_studio.ChatPlayground.__qualname__ == type(widget).__qualname__
    assert "model='fake-org/fake-chat'" in repr(widget)
    assert type(widget)._esm  # the bundle (or the missing-bundle message)


def test_studio_has_chat_and_running_tabs(fake_chat):
    from model_studio.widgets import Studio
    from model_studio.widgets.studio import TABS

    assert "chat" in TABS and "running" in TABS
    s = Studio(tab="chat")
    try:
        assert s.tab == "chat"
    finally:
        s.close()


def test_sampling_names_match_sampling_params():
    from dataclasses import fields

    from model_studio.core.chat.base import SamplingParams
    from model_studio.widgets.chat import SAMPLING

    assert set(SAMPLING) == {f.name for f in fields(SamplingParams)}


def test_stream_sends_chunk_events_then_the_result(widget, fake_chat):
    fake_chat.delay = 0.05  # slower than the coalescing interval: one event per token
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    send(widget, "s1", "chat.stream", {"model": MODEL, "messages": messages, "temperature": 0.2,
                                       "max_tokens": 16, "seed": 7, "stop": ["\n\n"]})
    msg = reply(widget, "s1")
    assert msg["kind"] == "result", msg
    result = msg["result"]
    assert result["text"] == "Hello there, friend."
    assert result["finish_reason"] == "stop"
    stats = result["stats"]
    assert stats["completion_tokens"] == 5 and stats["ttft"] is not None and stats["tokens_per_second"] > 0
    events = chunks(widget, "s1")
    assert len(events) >= 3
    assert "".join(e["text"] for e in events) == result["text"]
    assert sum(e["tokens"] for e in events) == 5
    # every chunk event came before the result
    assert widget.sent.index(msg) > max(widget.sent.index(m) for m in widget.sent if m.get("type") == "chat.chunk")
    call = fake_chat.calls[-1]
    assert call["messages"] == messages and call["temperature"] == 0.2 and call["seed"] == 7
    assert call["max_tokens"] == 16 and call["stop"] == ["\n\n"]


def test_stream_uses_the_widget_model_when_none_is_given(widget, fake_chat):
    send(widget, "s2", "chat.stream", {"messages": [{"role": "user", "content": "Hi"}]})
    assert reply(widget, "s2")["kind"] == "result"
    assert fake_chat.calls[-1]["model"] == MODEL


def test_stop_ends_a_running_stream_early(widget, fake_chat):
    fake_chat.words = [f" w{i}" for i in range(400)]
    fake_chat.delay = 0.01
    send(widget, "long", "chat.stream", {"model": MODEL, "messages": [{"role": "user", "content": "Count"}]})
    wait_for(lambda: len(chunks(widget, "long")) >= 2)
    send(widget, "stop1", "chat.stop", {"request_id": "long"})
    stopped = reply(widget, "stop1")
    assert stopped["kind"] == "result" and stopped["result"] == {"request_id": "long", "stopped": True}
    result = reply(widget, "long")
    assert result["kind"] == "result"
    assert result["result"]["finish_reason"] == "cancelled"
    assert 0 < result["result"]["stats"]["completion_tokens"] < 400
    # stopping a finished (or unknown) stream is harmless
    send(widget, "stop2", "chat.stop", {"request_id": "long"})
    assert reply(widget, "stop2")["result"]["stopped"] is False


def test_errors_are_error_replies(widget, fake_chat):
    send(widget, "e1", "chat.stream", {"model": "nobody/nothing", "messages": [{"role": "user", "content": "x"}]})
    err = reply(widget, "e1")
    assert err["kind"] == "error" and err["error"]["type"] == "NotFoundError"
    assert widget.error["type"] == "NotFoundError"

    send(widget, "e2", "chat.stream", {"model": MODEL, "messages": []})
    assert reply(widget, "e2")["error"]["type"] == "ValidationError"

    send(widget, "e3", "chat.stream", {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                       "temperature": 99})
    assert reply(widget, "e3")["error"]["type"] == "ValidationError"

    send(widget, "e4", "chat.stream", {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                       "bogus": 1})
    assert "bogus" in reply(widget, "e4")["error"]["message"]

    send(widget, "e5", "chat.stop", {})
    assert reply(widget, "e5")["error"]["type"] == "ValidationError"


def test_other_methods_go_to_the_api_table(widget):
    send(widget, "a1", "system.snapshot", {})
    msg = reply(widget, "a1")
    assert msg["kind"] == "result" and "cpu_percent" in msg["result"]


def test_close_stops_running_streams(widget, fake_chat):
    fake_chat.words = [f" w{i}" for i in range(1000)]
    fake_chat.delay = 0.01
    send(widget, "c1", "chat.stream", {"model": MODEL, "messages": [{"role": "user", "content": "Count"}]})
    wait_for(fake_chat.started.is_set)
    time.sleep(0.05)
    stops = list(widget._streams.values())
    assert stops
    widget.close()
    assert all(ev.is_set() for ev in stops)
