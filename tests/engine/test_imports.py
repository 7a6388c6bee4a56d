"""Importing models: a GGUF file and a safetensors folder by path (in place, or copied when asked), and
a ``.gguf`` by URL from the fake Hub's file route, verified or marked unverified, resumed after a cut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_studio.core.jobs import JobState
from model_studio.errors import BrokenFileError, ConflictError, NotFoundError, ValidationError
from tests.engine.test_downloads import sha256 as sha256_of

REPO = "gguf-org/url-model"
FILE = "url-model.Q8_0.gguf"


def write_gguf(path: Path, rows: int = 16) -> Path:
    """A valid GGUF with one float32 tensor of ``rows`` x 1024 (4 KiB a row)."""
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(1024)
    w.add_head_count(4)
    rng = np.random.default_rng(1)
    w.add_tensor("token_embd.weight", rng.standard_normal((rows, 1024)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_folder(path: Path) -> Path:
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                                                  "max_position_embeddings": 256}))
    save_file({"w": np.zeros((4, 4), dtype=np.float32)}, str(path / "model.safetensors"))
    return path


# --- by path --------------------------------------------------------------------------------------


def test_gguf_file_imported_in_place_then_copied_on_request(engine, tmp_path):
    # Given a GGUF file outside every model folder
    src = write_gguf(tmp_path / "elsewhere" / "my-model.Q8_0.gguf")
    # When it is imported by path
    info = engine.library.import_model(src)
    # Then it is local/my-model, listed where it lies (same inode, nothing copied)
    assert info.id == "local/my-model" and info.store == "import" and info.status == "local"
    local = engine.library.local.get("local/my-model")
    assert local.file_path(local.files[0]).stat().st_ino == src.stat().st_ino
    assert not (engine.settings.home_path / "models").exists()
    assert [q.name for q in info.quantizations] == ["Q8_0"]
    # and importing it again answers the same model; another name for another file clashes
    assert engine.library.import_model(src).id == "local/my-model"
    other = write_gguf(tmp_path / "other" / "my-model.Q8_0.gguf")
    with pytest.raises(ConflictError):
        engine.library.import_model(other)
    # When a copy is asked for under another name
    copied = engine.library.import_model(other, name="my-copy", copy=True)
    target = engine.settings.home_path / "models" / "my-model.Q8_0.gguf"
    assert copied.local_path == str(target) and target.stat().st_ino != other.stat().st_ino
    assert sha256_of(target) == sha256_of(other)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    # Then deleting the copy frees its bytes, deleting the in-place import keeps the user's file
    size = target.stat().st_size
    gone = engine.library.delete("local/my-copy")
    assert gone["freed_bytes"] == size
    assert not target.exists()
    kept = engine.library.delete("local/my-model")
    assert kept["files_kept"] and src.exists()
    assert "local/my-model" not in {m.id for m in engine.library.list_local()}


def test_safetensors_folder_imported_by_path(engine, tmp_path):
    folder = write_folder(tmp_path / "tiny-st")
    info = engine.library.import_model(folder)
    assert info.id == "local/tiny-st" and info.formats == ["safetensors"] and info.task == "text-generation"
    assert info.local_path == str(folder.resolve())
    assert engine.library.get("local/tiny-st").context_length == 256


def test_bad_imports_are_typed_errors(engine, tmp_path):
    with pytest.raises(NotFoundError):
        engine.library.import_model(tmp_path / "missing.gguf")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValidationError):
        engine.library.import_model(tmp_path / "notes.txt")
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(ValidationError):
        engine.library.import_model(tmp_path / "empty-folder")
    (tmp_path / "cut.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(BrokenFileError):
        engine.library.import_model(tmp_path / "cut.gguf")
    assert [m.id for m in engine.library.list_local()] == []


# --- by URL ---------------------------------------------------------------------------------------


@pytest.fixture
def url_gguf(fake_hub, tmp_path) -> tuple[str, str, int]:
    path = write_gguf(tmp_path / "served" / FILE, rows=512)  # 2 MiB
    fake_hub.add_repo(REPO, {FILE: path})
    return f"{fake_hub.url}/{REPO}/resolve/main/{FILE}", sha256_of(path), path.stat().st_size


def test_url_import_with_sha256_is_verified(engine, url_gguf):
    url, digest, size = url_gguf
    job = engine.library.import_url(url, sha256=digest).wait(60)
    assert job.result["verified"] is True and job.result["sha256"] == digest and job.result["bytes"] == size
    info = engine.library.get("local/url-model")
    assert info.verified is True and info.store == "import"
    assert sha256_of(Path(info.local_path)) == digest
    assert engine.library.verify("local/url-model")["ok"]


def test_url_import_without_sha256_says_unverified(engine, url_gguf):
    url, digest, _size = url_gguf
    job = engine.library.import_url(url, name="no-sum").wait(60)
    assert job.result["verified"] is False and job.result["sha256"] == digest
    listed = {m.id: m for m in engine.library.list_local()}
    assert listed["local/no-sum"].verified is False
    assert "unverified" in job.progress.message


def test_wrong_sha256_is_refused_and_the_partial_removed(engine, url_gguf):
    url, _digest, _size = url_gguf
    engine.settings.download_retries = 1
    job = engine.library.import_url(url, sha256="0" * 64).wait(60, raise_on_error=False)
    assert job.state == JobState.FAILED and job.error["type"] == "IntegrityError"
    models = engine.settings.home_path / "models"
    assert [p.name for p in models.iterdir()] == []
    assert "local/url-model" not in {m.id for m in engine.library.list_local()}


def test_cut_connection_resumes_with_range(engine, fake_hub, url_gguf):
    url, digest, size = url_gguf
    fake_hub.add_fault(f"{REPO}/{FILE}", "cut", after_bytes=1024 * 1024, times=1)
    job = engine.library.import_url(url, sha256=digest).wait(60)
    assert job.result["verified"]
    ranged = [r for r in fake_hub.file_requests(f"{REPO}/{FILE}") if r.range_start]
    assert ranged and ranged[0].range_start >= 512 * 1024
    assert fake_hub.bytes_sent(f"{REPO}/{FILE}") < size * 1.1


def test_url_must_name_a_gguf_over_https(engine):
    for bad in ("ftp://example.com/x.gguf", "http://example.com/x.gguf", "https://example.com/x.bin"):
        with pytest.raises(ValidationError):
            engine.library.import_url(bad)
    with pytest.raises(ValidationError):
        engine.library.import_url("https://example.com/x.gguf", sha256="abc")


def test_widget_calls_import_with_any_path_and_copy(engine, tmp_path):
    # A notebook widget (api.call without roots: the user's own kernel) reaches any path
    from model_studio import api

    src = write_gguf(tmp_path / "anywhere" / "wid.Q8_0.gguf")
    out = api.call(engine, "library.import", {"path": str(src), "copy": True, "name": "wid"})
    assert out["id"] == "local/wid" and out["store"] == "import"
    assert Path(out["local_path"]).parent == engine.settings.home_path / "models"
    stores = {s["store"]: s for s in api.call(engine, "library.stores")["stores"]}
    assert [f["model"] for f in stores["import"]["files"]] == ["local/wid"]
