"""REST behind the Running view: ``GET /host`` says where this server's models live (``mode``), and a
memory holder's ``unload`` action, sent as the operation it names (what the front end's
``freeHolder`` does), frees it."""

from __future__ import annotations

import pytest

from model_studio import api as studio_api
from model_studio.schemas import HostStatus
from tests.engine.test_chat import FakeBackend, write_gguf


@pytest.fixture
def jp_server_config(studio_env, monkeypatch, tmp_path):
    folder = tmp_path / "models"
    write_gguf(folder / "tiny-chat.F16.gguf")
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(folder))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


async def test_an_in_process_server_reports_its_mode_and_no_host(api):
    r = await api("GET", "host")
    assert r.code == 200, r
    status = HostStatus.model_validate(r.json)
    assert status.mode == "in_process" and status.state == "down"
    assert status.pid is None and status.models == [] and status.restarts == 0


async def test_a_chat_holders_unload_action_frees_it(api, engine_of):
    fake = FakeBackend()
    engine_of.chat.register_backend(fake)
    try:
        r = await api("POST", "chat/load", body={"model": "local/tiny-chat", "backend": "fake"})
        assert r.code == 200, r
        r = await api("GET", "memory")
        [held] = [h for h in r.json["holders"] if h["kind"] == "chat"]
        assert held["bytes"] > 0 and held["device"] == "cpu"
        action = held["unload"]
        assert action == {"operation": "chat.unload", "params": {"model": "local/tiny-chat:F16", "backend": "fake"}}
        op = studio_api.BY_NAME[action["operation"]]
        r = await api(op.http_method, op.path.lstrip("/"), body=action["params"])
        assert r.code == 200, r
        r = await api("GET", "memory")
        assert [h for h in r.json["holders"] if h["kind"] == "chat"] == [] and r.json["devices"][0]["held"] == 0
        assert (await api("GET", "chat/loaded")).json == {"models": []}
    finally:
        engine_of.chat.unregister_backend("fake")
