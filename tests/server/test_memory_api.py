"""REST: GET /memory (memory.holders) lists each device's room and every holder, reservations of other
processes included; its shape is the one the OpenAPI document declares."""

from __future__ import annotations

import os

import pytest

from model_studio.schemas import LoadedModel, MemoryHolders, MemoryRefusal
from tests.engine.test_chat import FakeBackend, write_gguf
from tests.server.conftest import assert_error

MiB = 1 << 20


@pytest.fixture
def jp_server_config(studio_env, monkeypatch, tmp_path):
    folder = tmp_path / "models"
    write_gguf(folder / "tiny-chat.F16.gguf")
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(folder))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


async def test_memory_lists_devices_and_holders(api, engine_of):
    r = await api("GET", "memory")
    assert r.code == 200, r
    body = MemoryHolders.model_validate(r.json)
    cpu = body.devices[0]
    assert cpu.device == "cpu" and cpu.total > 0 and cpu.budget and cpu.held == 0 and body.holders == []
    reservation = engine_of.arbiter.reserve("cpu", 123_456, "training run tra-rest", kind="training",
                                            job_id="tra-rest")
    try:
        r = await api("GET", "memory")
        assert r.code == 200, r
        [held] = r.json["holders"]
        assert {k: held[k] for k in ("id", "device", "bytes", "owner", "kind", "pid", "evictable")} == {
            "id": reservation.id, "device": "cpu", "bytes": 123_456, "owner": "training run tra-rest",
            "kind": "training", "pid": os.getpid(), "evictable": False}
        assert held["unload"] == {"operation": "training.cancel", "params": {"job_id": "tra-rest"}}
        assert r.json["devices"][0]["held"] == 123_456
    finally:
        reservation.release()
    r = await api("GET", "memory")
    assert r.json["holders"] == []


async def test_a_load_that_does_not_fit_is_507_naming_the_holders(api, engine_of):
    fake = FakeBackend()
    engine_of.chat.register_backend(fake)
    engine_of.settings.memory_budget = 400 * MiB  # the tiny model needs ~256 MiB (runtime overhead)
    reservation = engine_of.arbiter.reserve("cpu", 300 * MiB, "training run tra-rest", kind="training",
                                            job_id="tra-rest")
    try:
        err = assert_error(await api("POST", "chat/load", body={"model": "local/tiny-chat", "backend": "fake"}),
                           507, "ResourceError")
        refusal = MemoryRefusal.model_validate(err["details"])  # the shape the front end reads
        assert refusal.device == "cpu" and refusal.short["cpu"] > 0 and refusal.evictable == []
        [held] = refusal.holders
        assert (held.id, held.owner, held.bytes, held.unload.operation) == (
            reservation.id, "training run tra-rest", 300 * MiB, "training.cancel")
        assert "is free: training run tra-rest (training) holds" in err["message"] and fake.loads == []
    finally:
        reservation.release()
    r = await api("POST", "chat/load", body={"model": "local/tiny-chat", "backend": "fake"})
    assert r.code == 200, r
    placement = LoadedModel.model_validate(r.json).placement
    assert placement is not None and placement.verdict == "cpu" and list(placement.devices) == ["cpu"]
    engine_of.chat.unregister_backend("fake")
