"""Host mode: ``/model-studio/v1/embeddings`` and ``/v1/completions`` are answered by the model host
(through the server's forwarding), and ``eng.chat.embed`` / ``stream_prompt`` in a host-mode engine
too; the vectors equal raw llama-cpp-python's on the same model and inputs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.server.test_host_api import STARTER, base_url, hosted, jp_server_config, token  # noqa: F401

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow
TEXTS = ["Paris is the capital of France.", "The cat sat on the mat."]


def _raw_vectors(path: str) -> np.ndarray:
    import llama_cpp

    raw = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False,
                          pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    try:
        return np.array(raw.embed(TEXTS, normalize=True), dtype=np.float32)
    finally:
        raw.close()


async def test_embeddings_and_completions_come_from_the_host(hosted, base_url, token):  # noqa: F811
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=token, max_retries=0, timeout=600)
    # When the official client embeds and completes through the server in host mode
    emb = await client.embeddings.create(model=STARTER, input=TEXTS)
    done = await client.completions.create(model=STARTER, prompt="Once upon a time", max_tokens=5, temperature=0)
    chunks = [c async for c in await client.completions.create(model=STARTER, prompt="Once upon a time",
                                                               max_tokens=5, temperature=0, stream=True)]
    await client.close()
    # Then the vectors are raw llama.cpp's (mean pooled, normalized) and the text streams the same
    vectors = np.array([d.embedding for d in emb.data], dtype=np.float32)
    np.testing.assert_allclose(vectors, _raw_vectors(str(hosted.chat.resolve(STARTER).path)), atol=1e-4)
    assert done.choices[0].text and done.usage.completion_tokens == 5
    assert "".join(c.choices[0].text for c in chunks if c.choices) == done.choices[0].text
    # And nothing was loaded in the server's own process
    assert hosted.chat.manager.keys() == []
    # The engine's Python API in host mode answers from the host as well
    result = hosted.chat.embeddings(TEXTS, model=STARTER)
    np.testing.assert_array_equal(result.vectors, vectors)
    assert result.normalized and result.pooling == "mean" and result.prompt_tokens == emb.usage.prompt_tokens
    stream = hosted.chat.stream_prompt(STARTER, "Once upon a time", max_tokens=5, temperature=0)
    assert "".join(c.text for c in stream) == done.choices[0].text
    assert stream.stats is not None and stream.stats.completion_tokens == 5 and stream.finish_reason == "length"
    with pytest.raises(ValueError, match="cannot shorten"):  # the typed error crosses the hop
        hosted.chat.embed(TEXTS, model=STARTER, dimensions=8)
