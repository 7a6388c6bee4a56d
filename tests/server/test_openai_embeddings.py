"""``/model-studio/v1/embeddings`` and ``/model-studio/v1/completions`` driven by real clients (the
official ``openai`` SDK and ``langchain-openai``) against a real Jupyter server, offline.

The starter GGUF (SmolLM2-135M-Instruct) embeds through llama.cpp with ``embedding=True`` (it
declares no pooling: the mean over its tokens) and completes raw prompts.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import numpy as np
import pytest

from tests.server.test_openai import FAKE, base_url, client, fake, jp_server_config, starter, token  # noqa: F401

openai = pytest.importorskip("openai")

TEXTS = ["Paris is the capital of France.", "The cat sat on the mat.", "Notebooks mix code and text."]


def call(fn, **kwargs):
    """A synchronous client call in a worker thread (the server's loop keeps serving); streams read there."""
    def run():
        result = fn(**kwargs)
        return list(result) if kwargs.get("stream") else result

    return asyncio.to_thread(run)


@pytest.mark.slow
async def test_embeddings_float_and_base64_decode_to_the_same_vectors(client, starter, engine_of):  # noqa: F811
    # When the same batch is embedded as floats, as base64, and with the SDK's default (base64, decoded by it)
    as_float = await call(client.embeddings.create, model=starter, input=TEXTS, encoding_format="float")
    as_b64 = await call(client.embeddings.create, model=starter, input=TEXTS, encoding_format="base64")
    default = await call(client.embeddings.create, model=starter, input=TEXTS)
    # Then one vector per input, in order, 576 floats each, with the prompt tokens counted
    assert [d.index for d in as_float.data] == [0, 1, 2] and as_float.model == starter
    floats = np.array([d.embedding for d in as_float.data], dtype=np.float32)
    assert floats.shape == (3, 576)
    assert as_float.usage.prompt_tokens == as_float.usage.total_tokens > 3
    # and base64 is the float32 bytes of the very same vectors
    decoded = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in as_b64.data])
    np.testing.assert_array_equal(decoded, floats)
    np.testing.assert_array_equal(np.array([d.embedding for d in default.data], dtype=np.float32), floats)
    # and the vectors are the engine's own, L2-normalized
    np.testing.assert_allclose(engine_of.chat.embed(TEXTS, model=starter), floats, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(floats, axis=1), 1.0, rtol=1e-5)
    # a single string and token arrays are inputs too
    one = await call(client.embeddings.create, model=starter, input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(one.data[0].embedding, floats[0], atol=1e-6)
    loaded = next(m for m in engine_of.chat.manager.loaded() if m.get("embedding"))
    assert loaded["embedding"]["pooling"] == "mean"


@pytest.mark.slow
async def test_embedding_errors_are_openai_errors(client, starter, base_url, token):  # noqa: F811
    # a model that does not shorten its vectors refuses dimensions, naming the parameter
    with pytest.raises(openai.BadRequestError) as err:
        await call(client.embeddings.create, model=starter, input="hello", dimensions=8)
    assert err.value.status_code == 400 and err.value.body["param"] == "dimensions"
    assert "cannot shorten" in err.value.body["message"]
    with pytest.raises(openai.NotFoundError) as err:
        await call(client.embeddings.create, model="local/not-here", input="hello")
    assert err.value.body["code"] == "model_not_found"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for body, param in (({"model": starter, "input": []}, "input"), ({"model": starter, "input": [1, "a"]}, "input"),
                            ({"model": starter, "input": "a", "encoding_format": "int8"}, "encoding_format"),
                            ({"input": "a"}, "model")):
            r = await http.post(f"{base_url}/embeddings", json=body)
            assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
        # and no token, no vectors
        r = await http.post(f"{base_url}/embeddings", json={"model": starter, "input": "a"},
                            headers={"Authorization": "Bearer wrong"})
        assert r.status_code in (401, 403)


@pytest.mark.slow
async def test_langchain_openai_embeddings_match_the_sdk(client, starter, base_url, token):  # noqa: F811
    lc = pytest.importorskip("langchain_openai")
    # langchain counts tokens with tiktoken (OpenAI's tokenizer) unless told otherwise; texts go as they are
    embedder = lc.OpenAIEmbeddings(model=starter, base_url=base_url, api_key=token, check_embedding_ctx_length=False)
    documents = await asyncio.to_thread(embedder.embed_documents, TEXTS)
    query = await asyncio.to_thread(embedder.embed_query, "Which city is the capital of France?")
    sdk = await call(client.embeddings.create, model=starter, input=TEXTS, encoding_format="float")
    np.testing.assert_allclose(np.array(documents), np.array([d.embedding for d in sdk.data]), atol=1e-6)
    assert len(query) == 576


@pytest.mark.slow
async def test_completions_json_and_streamed_give_the_same_greedy_text(client, starter):  # noqa: F811
    prompt = "Once upon a time, in a small village,"
    whole = await call(client.completions.create, model=starter, prompt=prompt, max_tokens=8, temperature=0)
    assert whole.object == "text_completion" and whole.model == starter
    text = whole.choices[0].text
    assert text and whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 8 and whole.usage.prompt_tokens > 5
    chunks = await call(client.completions.create, model=starter, prompt=prompt, max_tokens=8, temperature=0,
                        stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    # two prompts: two choices, in order
    both = await call(client.completions.create, model=starter, prompt=[prompt, "The capital of France is"],
                      max_tokens=4, temperature=0)
    assert [c.index for c in both.choices] == [0, 1] and all(c.text for c in both.choices)
    assert both.choices[0].text == text[:len(both.choices[0].text)]


async def test_completions_refuse_what_they_cannot_do(client, fake):  # noqa: F811
    for kwargs, param in (({"echo": True}, "echo"), ({"suffix": "x"}, "suffix"), ({"logprobs": 2}, "logprobs"),
                          ({"n": 2}, "n"), ({"best_of": 3}, "best_of"), ({"temperature": 9}, "temperature")):
        with pytest.raises(openai.BadRequestError) as err:
            await call(client.completions.create, model=FAKE, prompt="hi", **kwargs)
        assert err.value.body["param"] == param, kwargs
    with pytest.raises(openai.BadRequestError) as err:
        await call(client.completions.create, model=FAKE, prompt=[1, 2, 3])
    assert err.value.body["param"] == "prompt"
    # a backend without raw-prompt support says so (the scripted one only chats)
    with pytest.raises(openai.BadRequestError) as err:
        await call(client.completions.create, model=FAKE, prompt="hi", max_tokens=3)
    assert "cannot complete raw prompts" in err.value.body["message"]
