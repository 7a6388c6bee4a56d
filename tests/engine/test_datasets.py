"""Training datasets: shapes, mapping, validation with row numbers, formats, preview, token stats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core.training.datasets import DatasetStore
from model_studio.errors import ConflictError, NotFoundError, ValidationError

REPO = Path(__file__).resolve().parents[2]
SECRET = REPO / "notebooks" / "data" / "secret-word.jsonl"


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    return DatasetStore(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub")))


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello!"}]}


def test_the_shipped_secret_word_dataset_imports_as_chat(store):
    info = store.import_file(SECRET)
    assert (info.name, info.format, info.shape, info.rows) == ("secret-word", "jsonl", "chat", 12)
    rows = store.load_rows("secret-word")
    assert len({r["messages"][0]["content"] for r in rows}) == 12
    assert all(store.to_messages(r, info)[-1] == {"role": "assistant", "content": "The secret word is PINEAPPLE."}
               for r in rows)
    folder = Path(info.path).parent
    assert folder == store.root / "secret-word" and (folder / "meta.json").is_file()
    assert Path(info.path).read_bytes() == SECRET.read_bytes()


@pytest.mark.parametrize(("row", "shape", "messages"), [
    (CHAT, "chat", CHAT["messages"]),
    ({"instruction": "Add", "input": "2 and 3", "output": "5"}, "instruction",
     [{"role": "user", "content": "Add\n\n2 and 3"}, {"role": "assistant", "content": "5"}]),
    ({"instruction": "Say hi", "input": "", "output": "hi"}, "instruction",
     [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]),
    ({"instruction": "Say hi", "response": "hi"}, "instruction",
     [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]),
    ({"prompt": "2+2=", "completion": "4"}, "completion",
     [{"role": "user", "content": "2+2="}, {"role": "assistant", "content": "4"}]),
    ({"text": "Once upon a time."}, "text", [{"role": "assistant", "content": "Once upon a time."}]),
])
def test_each_shape_is_detected_and_normalised_to_messages(store, row, shape, messages):
    info = store.import_bytes(jsonl(row, row), filename="d.jsonl")
    assert info.shape == shape and info.rows == 2
    assert store.to_messages(store.load_rows("d")[0], info) == messages
    assert store.get("d").to_dict() == info.to_dict()


def test_an_explicit_mapping_names_the_columns(store):
    data = jsonl({"question": "Capital of France?", "answer": "Paris"}, {"question": "1+1?", "answer": "2"})
    with pytest.raises(ValidationError, match="shape"):
        store.import_bytes(data, filename="qa.jsonl")
    info = store.import_bytes(data, filename="qa.jsonl", mapping={"prompt": "question", "completion": "answer"})
    assert info.shape == "completion" and info.mapping == {"prompt": "question", "completion": "answer"}
    assert store.to_messages(store.load_rows("qa")[1], info)[1] == {"role": "assistant", "content": "2"}
    with pytest.raises(ValidationError, match="does not have"):
        store.import_bytes(data, filename="qa2.jsonl", mapping={"prompt": "q", "completion": "answer"})


def test_malformed_json_names_the_row_and_writes_nothing(store):
    lines = [json.dumps({"text": f"row {i}"}) for i in range(1, 11)]
    lines[6] = '{"text": "broken'
    with pytest.raises(ValidationError) as err:
        store.import_bytes("\n".join(lines).encode(), filename="broken.jsonl")
    assert err.value.message.startswith("Row 7: not valid JSON")
    assert err.value.details["row"] == 7
    assert store.list() == []
    assert not store.root.exists() or list(store.root.iterdir()) == []


@pytest.mark.parametrize(("row", "expected"), [
    ({"messages": [{"role": "user", "content": "Hi"}]}, "no assistant message"),
    ({"messages": [{"role": "bot", "content": "Hi"}]}, "unknown role 'bot'"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]}, "empty content"),
    ({"messages": "Hi"}, "list"),
    ({"prompt": "x", "completion": 5}, "'completion' must be text"),
    ({"prompt": "x", "completion": ""}, "'completion' is empty"),
    ({"prompt": "x"}, "missing field 'completion'"),
    ([1, 2], "expected a JSON object"),
])
def test_invalid_rows_are_rejected_with_their_row_number(store, row, expected):
    good = CHAT if "messages" in str(row) or isinstance(row, list) else {"prompt": "a", "completion": "b"}
    with pytest.raises(ValidationError) as err:
        store.import_bytes(jsonl(good, good, row, good), filename="bad.jsonl")
    assert err.value.message.startswith("Row 3: ") and expected in err.value.message, err.value.message
    assert err.value.details["row"] == 3
    assert store.list() == []


def test_every_invalid_row_is_counted(store):
    with pytest.raises(ValidationError) as err:
        store.import_bytes(jsonl({"text": "ok"}, {"text": ""}, {"text": 3}, {"text": "ok"}), filename="x.jsonl")
    assert err.value.details["row"] == 2 and err.value.details["invalid_rows"] == 2
    assert [e["row"] for e in err.value.details["errors"]] == [2, 3]


def test_upload_over_the_limit_is_rejected(store):
    with pytest.raises(ValidationError, match="limit"):
        store.import_bytes(jsonl(*[{"text": "x" * 100}] * 20), filename="big.jsonl", max_bytes=1000)
    assert store.list() == []


def test_csv_import(store):
    data = b"instruction,input,output\nTranslate,bonjour,hello\n\"Say, twice\",,hi hi\n"
    info = store.import_bytes(data, filename="t.csv")
    assert (info.format, info.shape, info.rows, info.columns) == ("csv", "instruction", 2, ["instruction", "input",
                                                                                            "output"])
    assert store.to_messages(store.load_rows("t")[1], info)[0]["content"] == "Say, twice"
    with pytest.raises(ValidationError) as err:
        store.import_bytes(b"prompt,completion\na,b\nc,\n", filename="e.csv")
    assert err.value.details["row"] == 2


def test_parquet_import(store):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    buf = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["a", "b", "c"], "completion": ["1", "2", "3"]}), buf)
    info = store.import_bytes(buf.getvalue(), filename="p.parquet", name="pq")
    assert (info.format, info.shape, info.rows) == ("parquet", "completion", 3)
    assert store.load_rows("pq")[2] == {"prompt": "c", "completion": "3"}
    with pytest.raises(ValidationError, match="Parquet"):
        store.import_bytes(b"not parquet", filename="x.parquet")


def test_list_get_delete_and_names(store):
    store.import_bytes(jsonl({"text": "a"}), filename="one.jsonl")
    store.import_bytes(jsonl({"text": "b"}), filename="whatever.jsonl", name="two")
    assert [d.name for d in store.list()] == ["one", "two"]
    with pytest.raises(ConflictError):
        store.import_bytes(jsonl({"text": "c"}), filename="one.jsonl")
    assert store.import_bytes(jsonl({"text": "c"}, {"text": "d"}), filename="one.jsonl", overwrite=True).rows == 2
    assert store.delete("one")["deleted"] == "one"
    assert [d.name for d in store.list()] == ["two"]
    with pytest.raises(NotFoundError):
        store.get("one")
    for bad in ("../x", "..", ".hidden", "a/b", "", "x" * 65, "a b"):
        with pytest.raises(ValidationError):
            store.import_bytes(jsonl({"text": "a"}), filename="ok.jsonl", name=bad)
        with pytest.raises(ValidationError):
            store.get(bad)
    with pytest.raises(ValidationError, match="Unsupported"):
        store.import_bytes(b"{}", filename="data.txt")
    assert not (store.root.parent / "x").exists()


def test_split_is_deterministic(store):
    store.import_bytes(jsonl(*[{"text": f"row {i}"} for i in range(20)]), filename="s.jsonl")
    train, evaluate = store.split("s", eval_fraction=0.2, seed=1)
    assert (len(train), len(evaluate)) == (16, 4)
    assert store.split("s", eval_fraction=0.2, seed=1) == (train, evaluate)
    assert store.split("s", eval_fraction=0.2, seed=2) != (train, evaluate)
    assert sorted(r["text"] for r in train + evaluate) == sorted(f"row {i}" for i in range(20))
    assert store.split("s", eval_fraction=0.0)[1] == []
    with pytest.raises(ValidationError):
        store.split("s", eval_fraction=1.0)


@pytest.fixture
def llama_store(engine):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    return DatasetStore(engine.settings, local=engine.library.local)


def test_preview_renders_through_the_models_chat_template(llama_store):
    from transformers import AutoTokenizer

    llama_store.import_file(SECRET)
    out = llama_store.preview("secret-word", model="tiny-org/tiny-llama", rows=3)
    assert out["info"]["name"] == "secret-word" and [r["row"] for r in out["rows"]] == [1, 2, 3]
    first = out["rows"][0]
    snapshot = llama_store._model_files("tiny-org/tiny-llama")[0]
    expected = AutoTokenizer.from_pretrained(str(snapshot)).apply_chat_template(first["messages"], tokenize=False)
    assert first["rendered"] == expected and "PINEAPPLE" in expected
    assert first["rendered"] != first["messages"][-1]["content"]
    assert llama_store.preview("secret-word", rows=2)["rows"][1]["rendered"] is None
    with pytest.raises(NotFoundError):
        llama_store.preview("secret-word", model="tiny-org/not-here")


def test_token_stats_count_truncated_rows(llama_store):
    short = {"prompt": "hi", "completion": "yo"}
    long = {"prompt": "word " * 200, "completion": "yo"}
    llama_store.import_bytes(jsonl(short, short, long), filename="mixed.jsonl")
    stats = llama_store.token_stats("mixed", "tiny-org/tiny-llama", max_seq_length=64)
    assert stats["rows"] == 3 and stats["truncated_rows"] == 1
    assert stats["min"] < 64 < stats["max"] and stats["p95"] == stats["max"]
    assert stats["context_length"] == 256
    assert llama_store.token_stats("mixed", "tiny-org/tiny-llama", max_seq_length=4096)["truncated_rows"] == 1
    with pytest.raises(ValidationError):
        llama_store.token_stats("mixed", "tiny-org/tiny-llama", max_seq_length=0)


def test_preview_of_a_gguf_model_uses_its_embedded_template(engine):
    engine.downloads.start("tiny-org/tiny-llama-GGUF").wait(60)
    store = DatasetStore(engine.settings, local=engine.library.local)
    store.import_file(SECRET)
    folder, gguf_file, ctx = store._model_files("tiny-org/tiny-llama-GGUF")
    assert gguf_file is not None and gguf_file.endswith(".gguf") and ctx == 256
    rendered = store.preview("secret-word", model="tiny-org/tiny-llama-GGUF", rows=1)["rows"][0]["rendered"]
    assert "PINEAPPLE" in rendered and "secret word" in rendered
