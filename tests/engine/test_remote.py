"""Remote serving engines (``engine.endpoints``): registered by URL and key, their models used like
local ones. The real server is ``python -m llama_cpp.server`` on loopback (the ``llama_server``
fixture) standing in for vLLM / TGI; a closed port and a server that never answers stand for an
endpoint that is down and one that stalls.
"""

from __future__ import annotations

import json
import logging
import stat

import pytest

from model_studio.core.refs import ModelRef
from model_studio.errors import (
    ConflictError,
    EndpointAuthError,
    NetworkError,
    NotFoundError,
    ValidationError,
)
from tests.fixtures.pytest_plugin import REMOTE_KEY
from tests.fixtures.remote import SERVED_MODEL, SilentServer, free_port

SECRET = "sk-not-a-real-key-9f8e7d6c5b4a"
HELLO = [{"role": "user", "content": "Say hello."}]


# --- settings: add, list, update, remove; the key kept apart -------------------------------------


def test_an_endpoint_is_saved_without_its_key_in_the_settings_file(engine):
    eps = engine.endpoints
    view = eps.add("gpu", "http://gpu-box:8000/v1/", api_key=SECRET, headers={"X-Team": "nlp"}, timeout=30,
                   concurrency=8)

    assert view == {"name": "gpu", "base_url": "http://gpu-box:8000/v1", "headers": {"X-Team": "nlp"},
                    "timeout": 30.0, "concurrency": 8, "has_key": True, "key_masked": view["key_masked"]}
    assert SECRET not in json.dumps(eps.list()) and SECRET not in json.dumps(eps.get("gpu"))
    assert SECRET not in eps.settings_file.read_text()
    assert json.loads(eps.keys_file.read_text()) == {"gpu": SECRET}
    assert stat.S_IMODE(eps.keys_file.stat().st_mode) == 0o600
    assert eps.client("gpu").headers["Authorization"] == f"Bearer {SECRET}"


def test_update_keeps_what_it_is_not_given_and_an_empty_key_removes_it(engine):
    eps = engine.endpoints
    eps.add("gpu", "http://gpu-box:8000/v1", api_key=SECRET)

    changed = eps.update("gpu", concurrency=2)
    assert (changed["concurrency"], changed["has_key"], changed["base_url"]) == (2, True, "http://gpu-box:8000/v1")
    assert eps.update("gpu", api_key="")["has_key"] is False
    assert json.loads(eps.keys_file.read_text()) == {}
    assert eps.remove("gpu") == {"removed": "gpu"}
    assert eps.list() == []
    with pytest.raises(NotFoundError):
        eps.get("gpu")


@pytest.mark.parametrize("values, word", [
    ({"base_url": "ftp://x/v1"}, "base_url"),
    ({"base_url": "http://x/v1?a=1"}, "base_url"),
    ({"name": "../etc"}, "name"),
    ({"headers": {"Authorization": "Bearer x"}}, "api_key"),
    ({"headers": {"X-A": "line\r\nInjected: 1"}}, "one line"),
    ({"concurrency": 0}, "concurrency"),
    ({"timeout": -1}, "timeout"),
])
def test_bad_endpoint_settings_are_validation_errors_and_nothing_is_saved(engine, values, word):
    args = {"name": "gpu", "base_url": "http://gpu:8000/v1", **values}
    with pytest.raises(ValidationError) as info:
        engine.endpoints.add(args.pop("name"), args.pop("base_url"), **args)
    assert word in str(info.value) + json.dumps(info.value.details)
    assert engine.endpoints.list() == []


def test_a_taken_name_is_a_conflict(engine):
    engine.endpoints.add("gpu", "http://gpu:8000/v1")
    with pytest.raises(ConflictError):
        engine.endpoints.add("gpu", "http://other:8000/v1")


def test_remote_model_names_keep_the_endpoints_own_id():
    ref = ModelRef.parse("remote/ollama/llama3.1:8b")
    assert (ref.is_remote, str(ref), ref.variant) == (True, "remote/ollama/llama3.1:8b", None)
    assert ModelRef.parse("remote/vllm/meta-llama/Llama-3.1-8B").repo_id == "remote/vllm/meta-llama/Llama-3.1-8B"
    for bad in ("remote/", "remote/x", "remote/x/", "remote/../x/y", "remote/x/a b"):
        with pytest.raises(ValidationError):
            ModelRef.parse(bad)


def test_an_unknown_endpoint_is_not_found(engine):
    with pytest.raises(NotFoundError):
        engine.chat.stream("remote/nowhere/m", HELLO)


# --- down, stalled: typed errors, never a hang --------------------------------------------------


def test_an_endpoint_that_is_down_is_a_network_error_with_steps(engine):
    engine.endpoints.add("down", f"http://127.0.0.1:{free_port()}/v1", timeout=5)

    health = engine.endpoints.test("down")
    assert (health["status"], health["error"]["type"]) == ("down", "NetworkError")
    assert health["error"]["details"]["reason"] == "unreachable"
    with pytest.raises(NetworkError) as info:
        list(engine.chat.stream("remote/down/m", HELLO))
    assert info.value.resolution_steps and info.value.details["endpoint"] == "down"
    assert engine.chat.models() == []  # listed models skip it


def test_an_endpoint_that_stalls_is_a_network_error_after_its_timeout():
    from model_studio.config import Settings
    from model_studio.core import Engine

    silent = SilentServer()
    try:
        with Engine(Settings(offline=True)) as eng:
            eng.endpoints.add("stuck", silent.url, timeout=0.5)
            health = eng.endpoints.test("stuck")
            assert (health["status"], health["error"]["details"]["reason"]) == ("down", "timeout")
            with pytest.raises(NetworkError) as info:
                list(eng.chat.stream("remote/stuck/m", HELLO))
            assert "did not answer within 0.5 s" in info.value.message
    finally:
        silent.close()


# --- against a real server (llama_cpp.server) ---------------------------------------------------


@pytest.fixture
def served(engine, llama_server):
    """The engine with the llama_cpp.server endpoint registered as ``box`` (through the counting proxy)."""
    llama_server.proxy.reset()
    engine.endpoints.add("box", llama_server.proxy.url + "/v1", api_key=REMOTE_KEY, concurrency=4, timeout=300)
    return engine


@pytest.mark.slow
def test_its_models_are_listed_as_remote(served):
    model = f"remote/box/{SERVED_MODEL}"
    health = served.endpoints.test("box")
    assert (health["status"], health["models"]) == ("ok", [model])
    chat = {m["id"]: m for m in served.chat.models()}
    assert chat[model]["status"] == "remote" and chat[model]["endpoint"] == "box"
    found = served.library.search(status="remote", hub=False)
    assert [(m.id, m.status, m.endpoint) for m in found] == [(model, "remote", "box")]


@pytest.mark.slow
def test_chat_streams_from_the_endpoint_with_the_key_never_logged(served, llama_server, caplog):
    caplog.set_level(logging.DEBUG)
    stream = served.chat.stream(f"remote/box/{SERVED_MODEL}", HELLO, max_tokens=8, temperature=0)
    chunks = list(stream)

    assert sum(c.tokens for c in chunks) >= 1 and "".join(c.text for c in chunks).strip()
    assert stream.finish_reason in ("stop", "length") and stream.stats.completion_tokens >= 1
    assert stream.model.backend == "remote"
    assert any(h.get("Authorization") == f"Bearer {REMOTE_KEY}" for h in llama_server.proxy.headers_seen)
    assert REMOTE_KEY not in caplog.text


@pytest.mark.slow
def test_compare_a_local_model_beside_a_served_one(served, llama_server, monkeypatch):
    from tests.fixtures.remote import starter_gguf

    served.update_settings({"extra_model_dirs": [str(starter_gguf().parent)]})
    answers = {}
    for model in ("local/SmolLM2-135M-Instruct", f"remote/box/{SERVED_MODEL}"):
        stream = served.chat.stream(model, HELLO, max_tokens=6, temperature=0, load_options={"threads": 1})
        answers[model] = ("".join(c.text for c in stream), stream.stats.completion_tokens, stream.model.backend)
    assert answers["local/SmolLM2-135M-Instruct"][2] == "llama-cpp"
    assert answers[f"remote/box/{SERVED_MODEL}"][2] == "remote"
    assert all(text.strip() and tokens >= 1 for text, tokens, _ in answers.values())


@pytest.mark.slow
def test_a_wrong_key_is_a_typed_auth_error(served, llama_server):
    served.endpoints.update("box", api_key="sk-wrong")
    assert served.endpoints.test("box")["status"] == "unauthorized"
    with pytest.raises(EndpointAuthError) as info:
        list(served.chat.stream(f"remote/box/{SERVED_MODEL}", HELLO, max_tokens=2))
    assert info.value.details["status"] == 401 and "sk-wrong" not in json.dumps(info.value.to_dict())


@pytest.mark.slow
def test_a_batch_sends_the_endpoints_concurrency_at_once(served, llama_server):
    prompts = [f"Say {i}." for i in range(50)]
    answers = served.chat.batch(prompts, model=f"remote/box/{SERVED_MODEL}", max_tokens=1, temperature=0,
                                progress=False)

    assert len(answers) == 50 and all(isinstance(a, str) for a in answers)
    job = served.chat.batch_list()[0]
    results = served.chat.batch_results(job.id)["results"]
    assert sorted(r["index"] for r in results) == list(range(50))
    assert all(r["finish_reason"] in ("stop", "length") for r in results)
    assert llama_server.proxy.requests == 50  # each prompt asked once
    # the server had several of the batch's requests in flight at once, never more than the setting
    assert 2 <= llama_server.proxy.max_in_flight <= 4


@pytest.mark.slow
def test_embeddings_come_from_the_endpoint(served):
    vectors = served.endpoints.embed(["a cat", "a dog", "a car"], model=f"remote/box/{SERVED_MODEL}")
    assert vectors.shape[0] == 3 and vectors.shape[1] > 0
    assert vectors.dtype.name == "float32" and (abs(vectors).sum(axis=1) > 0).all()
