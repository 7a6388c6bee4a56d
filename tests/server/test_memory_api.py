"""REST: GET /memory (memory.holders) lists each device's room and every holder, reservations of other
processes included; its shape is the one the OpenAPI document declares."""

from __future__ import annotations

import os

from model_studio.schemas import MemoryHolders


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
