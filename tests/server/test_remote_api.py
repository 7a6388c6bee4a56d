"""Remote endpoints over REST (``/model-studio/api/endpoints``) and their models through
``/model-studio/v1`` (forwarded to the endpoint, streaming intact), driven by the official ``openai``
client against a real ``llama_cpp.server``."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fixtures.pytest_plugin import REMOTE_KEY
from tests.fixtures.remote import SERVED_MODEL, SilentServer, free_port
from tests.server.conftest import assert_error

openai = pytest.importorskip("openai")

SECRET = "sk-rest-secret-0123456789abcdef"


@pytest.fixture
def jp_server_config(studio_env):
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}}}


@pytest.fixture
def v1(jp_serverapp, http_server, http_server_port, jp_base_url):
    base = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url.rstrip('/')}/model-studio/v1"
    client = openai.OpenAI(base_url=base, api_key=jp_serverapp.identity_provider.token, max_retries=0, timeout=300)
    try:
        yield client
    finally:
        client.close()


async def test_endpoints_are_added_listed_changed_and_removed_without_showing_the_key(api, engine_of):
    r = await api("POST", "endpoints", body={"name": "gpu", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET,
                                             "headers": {"X-Team": "nlp"}, "concurrency": 8})
    assert r.code == 201 and r.json["has_key"] is True and SECRET not in r.body.decode()

    listed = await api("GET", "endpoints")
    assert [e["name"] for e in listed.json["endpoints"]] == ["gpu"] and SECRET not in listed.body.decode()
    one = await api("GET", "endpoints/gpu")
    assert one.json["concurrency"] == 8 and SECRET not in one.body.decode()

    changed = await api("PATCH", "endpoints/gpu", body={"timeout": 5})
    assert changed.json["timeout"] == 5 and changed.json["has_key"] is True
    assert SECRET not in engine_of.endpoints.settings_file.read_text()

    assert_error(await api("POST", "endpoints", body={"name": "gpu", "base_url": "http://x/v1"}), 409, "ConflictError")
    assert_error(await api("POST", "endpoints", body={"name": "bad", "base_url": "file:///etc"}), 400, "ValidationError")
    assert_error(await api("POST", "endpoints", body={"name": "bad", "base_url": "http://x/v1", "concurrency": 0}),
                 400, "ValidationError")
    removed = await api("DELETE", "endpoints/gpu")
    assert removed.json == {"removed": "gpu"}
    assert_error(await api("GET", "endpoints/gpu"), 404, "NotFoundError")


async def test_health_of_a_down_and_a_stalled_endpoint_is_typed(api):
    silent = SilentServer()
    try:
        await api("POST", "endpoints", body={"name": "down", "base_url": f"http://127.0.0.1:{free_port()}/v1"})
        await api("POST", "endpoints", body={"name": "stuck", "base_url": silent.url, "timeout": 0.5})
        down = (await api("POST", "endpoints/down/test")).json
        stuck = (await api("POST", "endpoints/stuck/test")).json
        assert (down["status"], down["error"]["type"], down["error"]["details"]["reason"]) == \
            ("down", "NetworkError", "unreachable")
        assert (stuck["status"], stuck["error"]["details"]["reason"]) == ("down", "timeout")
        checked = (await api("GET", "endpoints", params={"check": "true"})).json["endpoints"]
        assert {e["name"]: e["health"]["status"] for e in checked} == {"down": "down", "stuck": "down"}
    finally:
        silent.close()


async def test_a_down_endpoints_model_through_v1_is_a_typed_error(api, v1):
    await api("POST", "endpoints", body={"name": "down", "base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with pytest.raises(openai.APIStatusError) as info:
        await asyncio.to_thread(v1.chat.completions.create, model="remote/down/m",
                                messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502 and "cannot be reached" in str(info.value)
    with pytest.raises(openai.NotFoundError):
        await asyncio.to_thread(v1.chat.completions.create, model="remote/nowhere/m",
                                messages=[{"role": "user", "content": "hi"}])


@pytest.mark.slow
async def test_a_served_model_streams_through_v1_with_the_openai_client(api, v1, llama_server):
    await api("POST", "endpoints", body={"name": "box", "base_url": llama_server.proxy.url + "/v1",
                                         "api_key": REMOTE_KEY, "timeout": 300})
    model = f"remote/box/{SERVED_MODEL}"
    models = await asyncio.to_thread(v1.models.list)
    assert model in [m.id for m in models.data]
    chat_models = (await api("GET", "chat/models")).json["models"]
    assert [(m["id"], m["status"], m["endpoint"]) for m in chat_models if m["id"].startswith("remote/")] == \
        [(model, "remote", "box")]

    def stream() -> list:
        return list(v1.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi."}],
                                               max_tokens=6, temperature=0, stream=True))

    chunks = await asyncio.to_thread(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 2 and text.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    await api("PATCH", "endpoints/box", body={"api_key": "sk-wrong"})
    with pytest.raises(openai.PermissionDeniedError) as info:
        await asyncio.to_thread(v1.chat.completions.create, model=model,
                                messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert "refused its API key" in str(info.value) and "sk-wrong" not in json.dumps(info.value.body)
