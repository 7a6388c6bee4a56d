"""Batch jobs over REST: list, cancel (answers so far kept), resume (only the rest), typed errors.

The server's engine sees one small GGUF (``MODEL_STUDIO_MODEL_DIRS``) and answers through the
scripted ``fake`` backend of tests/engine/test_chat.py, which holds the prompts in ``block`` until
the job is stopped.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.test_chat import FakeBackend, write_gguf
from tests.server.conftest import assert_error, poll
from tests.server.test_openapi import _response_schema, _validate

MODEL = "local/tiny-chat"


@pytest.fixture
def jp_server_config(studio_env, monkeypatch, tmp_path):
    folder = tmp_path / "models"
    write_gguf(folder / "tiny-chat.F16.gguf")
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(folder))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


@pytest.fixture
def fake(engine_of):
    backend = FakeBackend()
    engine_of.chat.register_backend(backend)
    try:
        yield backend
    finally:
        engine_of.chat.unregister_backend(backend.name)


async def _blocked(fake: FakeBackend) -> None:
    assert await asyncio.to_thread(fake.blocked.wait, 10)


def _texts(body: dict) -> list[str]:
    return [r["text"] for r in body["results"]]


async def test_cancel_keeps_the_answers_and_resume_finishes_the_rest(api, fake):
    # Given a batch held at its second prompt
    fake.block = {"two"}
    r = await api("POST", "batches", body={"model": MODEL, "backend": "fake", "prompts": ["one", "two", "three"]})
    assert r.code == 202, r
    job_id = r.json["id"]
    await _blocked(fake)
    # When it is cancelled
    r = await api("POST", f"batches/{job_id}/cancel")
    # Then the answer is the job, and it ends cancelled with the first answer kept
    assert r.code == 200 and r.json["id"] == job_id and r.json["kind"] == "batch", r
    _validate(r.json, _response_schema("/batches/{job_id}/cancel", "post", 200))
    body = await poll(api, f"batches/{job_id}", lambda b: b["job"]["state"] == "cancelled")
    assert _texts(body) == ["echo: one "] and body["job"]["progress"]["done"] == 1
    # And GET /batches lists it (a state filter too)
    r = await api("GET", "batches")
    assert r.code == 200 and [j["id"] for j in r.json["batches"]] == [job_id], r
    _validate(r.json, _response_schema("/batches", "get", 200))
    r = await api("GET", "batches", params={"state": "completed"})
    assert r.code == 200 and r.json == {"batches": []}
    # When it is resumed
    fake.block = set()
    r = await api("POST", f"batches/{job_id}/resume")
    assert r.code == 200 and r.json["id"] == job_id and r.json["state"] == "queued", r
    _validate(r.json, _response_schema("/batches/{job_id}/resume", "post", 200))
    body = await poll(api, f"batches/{job_id}", lambda b: b["job"]["state"] == "completed")
    # Then only the unanswered prompts were asked and every answer is there, in order
    assert _texts(body) == ["echo: one ", "echo: two ", "echo: three "]
    assert fake.calls == ["one", "two", "two", "three"]
    # And a completed batch can be neither resumed nor cancelled
    for action in ("resume", "cancel"):
        r = await api("POST", f"batches/{job_id}/{action}")
        err = assert_error(r, 409, "ConflictError")
        assert err["details"]["state"] == "completed"
        _validate(r.json, _response_schema(f"/batches/{{job_id}}/{action}", "post", 409))


async def test_a_running_batch_is_not_resumed_twice(api, fake):
    fake.block = {"two"}
    r = await api("POST", "batches", body={"model": MODEL, "backend": "fake", "prompts": ["one", "two"]})
    job_id = r.json["id"]
    await _blocked(fake)
    assert_error(await api("POST", f"batches/{job_id}/resume"), 409, "ConflictError")
    assert (await api("POST", f"batches/{job_id}/cancel")).code == 200
    await poll(api, f"batches/{job_id}", lambda b: b["job"]["state"] == "cancelled")


async def test_unknown_ids_other_jobs_and_bad_input(api, fake):
    # A download is a job, but not a batch
    r = await api("POST", "downloads", body={"model": "tiny-org/tiny-readme"})
    assert r.code == 202, r
    download = r.json["id"]
    for job_id in ("bat-nope", download):
        for action in ("cancel", "resume"):
            r = await api("POST", f"batches/{job_id}/{action}")
            assert_error(r, 404, "NotFoundError")
            _validate(r.json, _response_schema(f"/batches/{{job_id}}/{action}", "post", 404))
    assert (await api("GET", "batches")).json == {"batches": []}
    for params in ({"state": "sleeping"}, {"limit": "many"}):
        r = await api("GET", "batches", params=params)
        assert_error(r, 400, "ValidationError")
        _validate(r.json, _response_schema("/batches", "get", 400))
    assert_error(await api("POST", "batches/bat-x/cancel", body={"now": True}), 400, "ValidationError")
