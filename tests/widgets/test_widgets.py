"""The Python side of the notebook widgets: traits, the call protocol, and live events."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import traitlets

import model_studio

GGUF = "tiny-org/tiny-llama-GGUF"


@pytest.fixture
def make_widget(studio_engine, monkeypatch):
    """Build a widget whose ``send`` is captured into ``widget.sent``; closed after the test."""
    made = []

    def make(cls, **kwargs):
        widget = cls(**kwargs)
        widget.sent = []
        monkeypatch.setattr(widget, "send", widget.sent.append)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close()


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def call(widget, call_id: str, method: str, params=None) -> dict:
    """Send a ``call`` message through ipywidgets' custom-message dispatch; wait for the reply."""
    widget._handle_custom_msg({"id": call_id, "kind": "call", "method": method, "params": params}, [])
    return wait_for(lambda: next((m for m in widget.sent if m.get("id") == call_id), None))


def test_traits_have_defaults_and_validate(make_widget):
    from model_studio.widgets import Downloads, ModelLibrary, Studio, SystemMonitor

    lib = make_widget(ModelLibrary)
    assert (lib.query, lib.task, lib.backend, lib.status, lib.selected, lib.error) == ("", "", "", "", "", {})
    assert make_widget(Downloads).job_ids == []
    studio = make_widget(Studio)
    assert studio.tab == "library" and studio.tabs == ["library", "downloads", "chat", "training", "video", "running",
                                                   "system", "jobs", "settings"]
    assert make_widget(SystemMonitor).interval == 2.0

    with pytest.raises(traitlets.TraitError, match="task must be one of"):
        lib.task = "painting"
    with pytest.raises(traitlets.TraitError, match="tab must be one of"):
        studio.tab = "nope"
    lib.task = "text-generation"
    assert lib.task == "text-generation"
    for name in ("query", "task", "backend", "status", "selected", "error"):
        assert lib.trait_metadata(name, "sync"), name


def test_every_widget_shares_the_kernel_engine(make_widget, studio_engine):
    from model_studio.widgets import Downloads, ModelLibrary, Studio, SystemMonitor

    widgets = [make_widget(cls) for cls in (ModelLibrary, Downloads, SystemMonitor, Studio)]
    assert all(w.engine is studio_engine for w in widgets)
    assert model_studio.ModelLibrary is ModelLibrary  # the lazy export


def test_bundle_path_or_readable_fallback(tmp_path, monkeypatch):
    from model_studio.widgets import _base

    missing = _base.bundle_esm("library.js") if not (_base.STATIC / "library.js").exists() else None
    monkeypatch.setattr(_base, "STATIC", tmp_path)
    fallback = _base.bundle_esm("library.js")
    assert isinstance(fallback, str) and "widget bundle not built" in fallback and "make setup" in fallback
    (tmp_path / "library.js").write_text("export default {}")
    assert _base.bundle_esm("library.js") == Path(tmp_path / "library.js")
    if missing is not None:
        assert "not built" in missing


def test_call_library_search_round_trip(make_widget):
    from model_studio.widgets import ModelLibrary

    lib = make_widget(ModelLibrary)
    reply = call(lib, "c1", "library.search", {"q": "tiny", "limit": 10})
    assert reply["kind"] == "result", reply
    ids = [m["id"] for m in reply["result"]["models"]]
    assert GGUF in ids


def test_call_downloads_start_completes_and_pushes_job_events(make_widget, studio_engine):
    from model_studio.widgets import Downloads, ModelLibrary

    lib = make_widget(ModelLibrary)
    downloads = make_widget(Downloads)
    reply = call(lib, "d1", "downloads.start", {"model": GGUF, "quantization": "Q8_0"})
    assert reply["kind"] == "result", reply
    job_id = reply["result"]["id"]

    job = studio_engine.jobs.get(job_id).wait(timeout=60)
    assert job.state.value == "completed"
    path = Path(job.result["path"])
    assert (path / "tiny-llama.Q8_0.gguf").is_file()

    def final_event():
        events = [m for m in downloads.sent if m.get("kind") == "event" and m["type"] == "job"
                  and m["data"]["id"] == job_id]
        return events and events[-1]["data"]["state"] == "completed" and events
    events = wait_for(final_event)
    assert all(set(e) == {"kind", "type", "data"} for e in events)
    assert events[-1]["data"]["kind"] == "download"


def test_downloads_job_ids_focus_filters_events(make_widget, studio_engine):
    from model_studio.widgets import Downloads

    focused = make_widget(Downloads, job_ids=["some-other-job"])
    everything = make_widget(Downloads)
    job = studio_engine.downloads.start(GGUF, variant="Q8_0").wait(timeout=60)
    wait_for(lambda: any(m["data"]["id"] == job.id for m in everything.sent))
    assert [m for m in focused.sent if m.get("kind") == "event"] == []


def test_bad_params_reply_a_validation_error(make_widget):
    from model_studio.widgets import ModelLibrary

    lib = make_widget(ModelLibrary)
    reply = call(lib, "b1", "library.search", {"limit": "many"})
    assert reply["kind"] == "error"
    assert reply["error"]["type"] == "ValidationError"
    assert "limit" in reply["error"]["message"]
    assert set(reply["error"]) == {"type", "message", "details", "resolution_steps"}
    assert lib.error["type"] == "ValidationError"  # the banner

    reply = call(lib, "b2", "downloads.start", {"model": "../x"})
    assert reply["kind"] == "error" and reply["error"]["type"] == "ValidationError"


def test_unknown_method_and_unknown_kind_reply_errors(make_widget):
    from model_studio.widgets import ModelLibrary

    lib = make_widget(ModelLibrary)
    reply = call(lib, "u1", "library.explode", {})
    assert reply == {"id": "u1", "kind": "error", "error": reply["error"]}
    assert reply["error"]["type"] == "ValidationError" and "Unknown operation" in reply["error"]["message"]

    lib._handle_custom_msg({"id": "k1", "kind": "shout"}, [])
    assert lib.sent[-1]["id"] == "k1" and lib.sent[-1]["kind"] == "error"


def test_unexpected_exception_becomes_an_error_reply(make_widget, monkeypatch):
    from model_studio.widgets import ModelLibrary, _base

    def broken(engine, method, params):
        raise RuntimeError("boom")

    monkeypatch.setattr(_base.api, "call", broken)
    lib = make_widget(ModelLibrary)
    reply = call(lib, "x1", "library.search", {})
    assert reply["kind"] == "error"
    assert reply["error"]["type"] == "InternalError" and "boom" in reply["error"]["message"]


def test_system_events_arrive_every_interval_and_stop_on_close(make_widget):
    from model_studio.widgets import SystemMonitor

    monitor = make_widget(SystemMonitor, interval=0.2)
    wait_for(lambda: len(monitor.sent) >= 2)
    event = monitor.sent[0]
    assert event["kind"] == "event" and event["type"] == "system"
    assert "cpu_percent" in event["data"] and "memory_total" in event["data"]

    monitor.close()
    count = len(monitor.sent)
    time.sleep(0.6)
    assert len(monitor.sent) == count


def test_close_unsubscribes_from_job_events(make_widget, studio_engine):
    from model_studio.widgets import Downloads

    before = len(studio_engine.feed._subscribers)
    widget = make_widget(Downloads)
    assert len(studio_engine.feed._subscribers) == before + 1
    widget.close()
    assert widget.closed
    assert len(studio_engine.feed._subscribers) == before

    studio_engine.downloads.start(GGUF, variant="Q8_0").wait(timeout=60)
    time.sleep(0.5)
    assert widget.sent == []


def test_text_plain_summary_for_terminals(make_widget):
    from model_studio.widgets import Downloads, ModelLibrary

    data, _ = make_widget(ModelLibrary, query="tiny")._repr_mimebundle_()
    assert data["text/plain"].startswith("ModelLibrary(query='tiny')")
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "job_ids=['abc']" in repr(make_widget(Downloads, job_ids=["abc"]))
