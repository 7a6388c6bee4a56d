"""Authorization: every route asks the server's Authorizer (JupyterHub's, or a custom one) for the
action its operation needs on the resource ``model-studio``.

The route table is derived from ``api.OPERATIONS`` (a new operation is covered without touching this
file), plus the routes outside it: the event stream, the OpenAPI document, the video files and the
OpenAI-compatible ``/v1``. With the default (allow-all) Authorizer the other test files cover the
same routes working.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join

from model_studio import api as studio_api
from tests.server.conftest import assert_error
from tests.server.test_events import EventStream

MODEL = "tiny-org/tiny-llama"
DATASET = "kept"
VIDEO_ID = "vid-authz"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42 not really a video"


class ReadOnlyAuthorizer(Authorizer):
    """A read-only user, as JupyterHub grants with ``read:servers``-like scopes: only ``read``, anywhere."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read"


class NoStudioAuthorizer(Authorizer):
    """A user with every permission except on the studio's resource."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return resource != "model-studio"


@pytest.fixture
def authorizer_class():
    return ReadOnlyAuthorizer


@pytest.fixture
def jp_server_config(studio_env, authorizer_class):
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}, "authorizer_class": authorizer_class},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


@pytest.fixture
def given(engine_of):
    """Given a model in the cache (and its completed download job), a dataset and a finished video's
    file, all made through the engine (the REST routes are what is under test)."""
    job = engine_of.downloads.start(MODEL).wait(60)
    engine_of.training.datasets.import_bytes(b'{"prompt": "a", "completion": "b"}\n', filename="kept.jsonl",
                                             name=DATASET)
    folder = engine_of.video.outputs_dir / VIDEO_ID
    folder.mkdir(parents=True)
    (folder / "video.mp4").write_bytes(VIDEO_BYTES)
    conv = engine_of.conversations.create(title="kept", messages=[{"role": "user", "content": "hi"}])
    return {"model": MODEL, "job_id": job.id, "name": DATASET, "conversation_id": conv["id"]}


# Bodies that would change something if the request were allowed (the rest go without a body:
# authorization comes before any validation).
_BODIES = {
    "downloads.start": {"model": "tiny-org/tiny-readme"},
    "settings.update": {"max_concurrent_downloads": 1},
    "datasets.upload": {"filename": "new.jsonl", "content": '{"prompt": "x", "completion": "y"}\n'},
    "chat.load": {"model": MODEL},
    "chat.complete": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    "batch.start": {"model": MODEL, "prompts": ["hi"]},
}


def _route(op: studio_api.Operation, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], op.path).lstrip("/")


def _ops(*actions: str) -> list[studio_api.Operation]:
    return [op for op in studio_api.OPERATIONS if op.action in actions]


def _tree(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` and its sha256."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def v1(http_server_client, jp_auth_header, jp_base_url):
    async def call(method: str, path: str, body: bytes | None = None):
        url = url_path_join(jp_base_url, "model-studio/v1", path)
        return await http_server_client.fetch(url, method=method, body=body, headers=jp_auth_header,
                                              raise_error=False, request_timeout=30)

    return call


def _openai_error(r, code: int) -> dict:
    assert r.code == code, (r.code, r.body[:300])
    err = json.loads(r.body)["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    return err


async def test_a_read_only_user_changes_nothing_on_any_write_or_execute_route(api, v1, given, engine_of,
                                                                              studio_env):
    home, cache = Path(studio_env["MODEL_STUDIO_HOME"]), Path(studio_env["HF_HUB_CACHE"])
    before = _tree(home, cache)
    jobs_before = [j.id for j in engine_of.jobs.list()]
    assert jobs_before == [given["job_id"]]
    assert not (home / "settings.json").exists()
    refused = _ops("write", "execute")
    assert {op.name for op in refused} >= {"library.delete", "downloads.start", "settings.update",
                                           "datasets.upload", "datasets.delete", "chat.complete"}

    # When a read-only user calls every operation that writes or runs a model
    for op in refused:
        r = await api(op.http_method, _route(op, given), body=_BODIES.get(op.name))
        # Then each is refused with 403 in the error shape, naming the action and the resource
        err = assert_error(r, 403, "PermissionDeniedError")
        assert err["details"] == {"action": op.action, "resource": "model-studio", "operation": op.name}, op.name
        assert err["resolution_steps"], op.name

    # And the OpenAI-compatible chat is refused too, in OpenAI's shape
    r = await v1("POST", "chat/completions", json.dumps(_BODIES["chat.complete"]).encode())
    err = _openai_error(r, 403)
    assert err["type"] == "permission_error" and "execute" in err["message"]

    # And nothing changed: every file (the model, the dataset, the jobs database) is as it was,
    # no settings were persisted, no job was created, no model was loaded
    assert _tree(home, cache) == before
    assert not (home / "settings.json").exists()
    assert [j.id for j in engine_of.jobs.list()] == jobs_before
    assert engine_of.library.local.get(MODEL) is not None
    assert [d.name for d in engine_of.training.datasets.list()] == [DATASET]
    kept = engine_of.conversations.get(given["conversation_id"])
    assert (kept["title"], kept["message_count"], engine_of.conversations.list()["total"]) == ("kept", 1, 1)
    assert engine_of.settings_dict()["settings"]["max_concurrent_downloads"] != 1
    assert engine_of.chat.loaded() == []


async def test_a_read_only_user_still_reads_every_read_route(api, v1, given, http_server_client, jp_http_port,
                                                              jp_base_url, jp_auth_header):
    # When a read-only user calls every read operation (dummy or real ids: 404 and 400 are fine)
    for op in _ops("read"):
        r = await api(op.http_method, _route(op, given))
        # Then none is refused, and none fails
        assert r.code != 403 and r.code < 500, (op.name, r)
    # The ones with real ids answer
    assert (await api("GET", f"models/{MODEL}")).code == 200
    assert (await api("GET", f"datasets/{DATASET}")).json["name"] == DATASET
    assert (await api("GET", f"jobs/{given['job_id']}")).json["state"] == "completed"
    verify = await api("POST", f"models/{MODEL}/verify")
    assert verify.code == 200 and verify.json["ok"] is True, verify
    assert (await api("GET", "settings")).code == 200

    # And the routes outside the operations table: the contract, the video file, /v1/models, the events
    assert (await api("GET", "openapi.json")).json["openapi"].startswith("3.")
    r = await api("GET", f"video/{VIDEO_ID}/video.mp4")
    assert r.code == 200 and r.body == VIDEO_BYTES, r
    r = await v1("GET", "models")
    assert r.code == 200 and json.loads(r.body)["object"] == "list", r
    stream = await EventStream.open(jp_http_port, jp_base_url, jp_auth_header)
    try:
        assert b" 200 " in stream.headers.split(b"\r\n")[0]
        name, _ = await stream.until(lambda name, data: name == "system")
    finally:
        await stream.close()


@pytest.mark.parametrize("authorizer_class", [NoStudioAuthorizer])
async def test_without_the_studio_permission_every_route_is_403(api, v1, given, jp_http_port, jp_base_url,
                                                                jp_auth_header):
    # Given a user allowed everything except on 'model-studio': when they call any studio route
    for op in studio_api.OPERATIONS:
        r = await api(op.http_method, _route(op, given), body=_BODIES.get(op.name))
        # Then it is refused in the error shape
        assert_error(r, 403, "PermissionDeniedError")
    for path in ("openapi.json", f"video/{VIDEO_ID}/video.mp4", f"video/{VIDEO_ID}/thumbnail.jpg"):
        err = assert_error(await api("GET", path), 403)
        assert "model-studio" in err["message"], (path, err)
    for method, path, body in (("GET", "models", None), ("GET", f"models/{MODEL}", None),
                               ("POST", "chat/completions", json.dumps(_BODIES["chat.complete"]).encode())):
        err = _openai_error(await v1(method, path, body), 403)
        assert err["type"] == "permission_error" and "model-studio" in err["message"], err
    stream = await EventStream.open(jp_http_port, jp_base_url, jp_auth_header)
    try:
        status = stream.headers.split(b"\r\n")[0]
        assert b" 403 " in status, stream.headers
    finally:
        await stream.close()


# --- the action of each operation (no server) ------------------------------------------------------

# Operations whose action is not the HTTP method's default (GET reads, any other method writes).
_NOT_DEFAULT = {
    "chat.load": "execute", "chat.complete": "execute", "batch.start": "execute",  # run a model
    "library.verify": "read", "video.plan": "read", "training.estimate": "read",  # POSTs that change nothing
    "endpoints.test": "read",  # asks a registered endpoint for its models; changes nothing
}


def test_every_operation_has_the_intended_action():
    for op in studio_api.OPERATIONS:
        assert op.action in studio_api.ACTIONS, op
        default = "read" if op.http_method == "GET" else "write"
        assert op.action == _NOT_DEFAULT.get(op.name, default), op.name
    # No GET writes or executes; deletes, settings, uploads, cancels and unloads write
    assert all(op.action == "read" for op in studio_api.OPERATIONS if op.http_method == "GET")
    for name in ("library.delete", "settings.update", "datasets.upload", "datasets.delete", "downloads.start",
                 "downloads.cancel", "training.start", "training.cancel", "video.generate", "video.cancel",
                 "chat.unload", "video.unload"):
        assert studio_api.BY_NAME[name].action == "write", name
    assert set(_NOT_DEFAULT) <= set(studio_api.BY_NAME)


def test_upload_operations_accept_their_largest_upload():
    from model_studio.core.training.datasets import MAX_UPLOAD_BYTES
    from model_studio.core.video import MAX_IMAGE_BYTES

    upload = studio_api.BY_NAME["datasets.upload"].max_body
    # the file as base64, or as JSON-escaped text (quotes and newlines double at worst)
    assert upload > 4 * ((MAX_UPLOAD_BYTES + 2) // 3)
    assert upload > 2 * MAX_UPLOAD_BYTES
    assert studio_api.BY_NAME["video.generate"].max_body > MAX_IMAGE_BYTES * 4 // 3 + 8
    others = {op.max_body for op in studio_api.OPERATIONS if op.name not in ("datasets.upload", "video.generate")}
    assert others == {studio_api.MAX_BODY}
