"""Broken model files and bad load options over REST: typed errors, never 500s.

The server's extra model folder holds the tiny llama as a real GGUF beside an empty GGUF, a truncated
one and a link to a missing file.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from tests.server.conftest import assert_error

GOOD = "local/tiny-llama"
BROKEN = ("local/empty-chat", "local/cut-chat", "local/gone-chat")
HELLO = [{"role": "user", "content": "Hello"}]
needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")


@pytest.fixture
def jp_server_config(studio_env, monkeypatch, tmp_path, tiny_model_cache):
    from tests.fixtures.models import _build_cache

    real = _build_cache(tiny_model_cache)["gguf:Q8_0"]
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(real, folder / "tiny-llama.Q8_0.gguf")
    (folder / "empty-chat.gguf").write_bytes(b"")
    data = real.read_bytes()
    (folder / "cut-chat.Q8_0.gguf").write_bytes(data[: len(data) // 2])
    os.symlink(tmp_path / "deleted.gguf", folder / "gone-chat.gguf")
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(folder))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


async def test_listings_answer_with_the_broken_models_marked(api):
    for path, params in (("library", {"hub": "false", "limit": "200"}), ("library/local", None),
                         ("chat/models", None)):
        r = await api("GET", path, params=params)
        assert r.code == 200, (path, r)
        models = {m["id"]: m for m in r.json["models"]}
        assert {GOOD, *BROKEN} <= set(models), path
        assert models[GOOD]["error"] is None
        for model_id in BROKEN:
            assert models[model_id]["error"]["type"] == "BrokenFileError", (path, model_id)
            if path != "chat/models":
                assert models[model_id]["status"] == "error"
    r = await api("GET", "library", params={"status": "error"})
    assert r.code == 200, r
    assert sorted(m["id"] for m in r.json["models"]) == sorted(BROKEN)


@pytest.mark.parametrize("model", BROKEN)
async def test_every_call_on_a_broken_model_is_a_typed_422(api, model):
    calls = [("GET", f"models/{model}", None), ("GET", f"models/{model}/fit", None),
             ("POST", "chat/load", {"model": model}),
             ("POST", "chat/complete", {"model": model, "messages": HELLO, "max_tokens": 2})]
    for method, path, body in calls:
        err = assert_error(await api(method, path, body=body), 422, "BrokenFileError")
        assert err["details"]["model"] == model and err["resolution_steps"], (path, err)
    loaded = await api("GET", "chat/loaded")
    assert loaded.code == 200 and loaded.json["models"] == []


@needs_llama
async def test_a_chat_template_that_does_not_compile_is_a_400_and_nothing_loads(api):
    r = await api("POST", "chat/load", body={"model": GOOD, "chat_template": "{% if %}", "threads": 1})
    err = assert_error(r, 400, "ValidationError")
    assert "not a valid Jinja template" in err["message"] and "Expected an expression" in err["message"]
    assert (await api("GET", "chat/loaded")).json["models"] == []
    # a good override loads
    good = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    r = await api("POST", "chat/load", body={"model": GOOD, "chat_template": good, "threads": 1})
    assert r.code == 200, r
    assert r.json["options"]["chat_template"] == good
    r = await api("POST", "chat/complete", body={"model": GOOD, "messages": HELLO, "max_tokens": 2})
    assert r.code == 200, r


async def test_threads_beyond_the_cores_is_a_400(api):
    err = assert_error(await api("POST", "chat/load", body={"model": GOOD, "threads": 1024}), 400, "ValidationError")
    assert "threads must be between 1 and" in err["message"]
    err = assert_error(await api("POST", "chat/load", body={"model": GOOD, "context_length": 100_000}), 400,
                       "ValidationError")
    assert "256" in err["message"]  # the tiny llama's trained context


@needs_llama
async def test_one_thread_loads(api):
    r = await api("POST", "chat/load", body={"model": GOOD, "threads": 1})
    assert r.code == 200, r
    assert r.json["options"]["threads"] == 1
