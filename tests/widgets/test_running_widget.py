"""The Studio widget's Running tab calls over the kernel comm: host.status, host.logs, memory.holders."""

from __future__ import annotations

from tests.widgets.test_widgets import call, make_widget  # noqa: F401  (make_widget: the fixture)


def test_the_studio_widget_answers_the_running_tabs_calls(make_widget):  # noqa: F811
    from model_studio.widgets import Studio

    studio = make_widget(Studio)
    reply = call(studio, "h1", "host.status")
    assert reply["kind"] == "result", reply
    assert reply["result"]["mode"] == "in_process" and reply["result"]["state"] == "down"
    assert reply["result"]["models"] == []
    logs = call(studio, "h2", "host.logs", {"lines": 5})
    assert logs["kind"] == "result" and logs["result"]["path"].endswith("host.log"), logs
    memory = call(studio, "h3", "memory.holders")
    assert memory["kind"] == "result" and memory["result"]["devices"][0]["device"] == "cpu", memory
    assert memory["result"]["holders"] == []
