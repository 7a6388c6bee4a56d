"""The library: catalog, Hub search, local scan, info, delete, verify, fit and backends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.fit import GpuFree, ModelShape, estimate
from model_studio.core.library import CATALOG_PATH
from model_studio.core.units import human_size
from model_studio.errors import ConflictError, NotFoundError, ValidationError
from tests.fixtures.models import make_random_file


def test_catalog_has_real_chat_and_video_models_with_files_and_licences():
    data = json.loads(CATALOG_PATH.read_text())
    models = data["models"]
    ids = [m["id"] for m in models]
    assert len(models) >= 25 and len(set(ids)) == len(ids)
    tasks = {m["task"] for m in models}
    assert {"text-generation", "text-to-video", "image-to-video"} <= tasks
    for m in models:
        assert "/" in m["id"] and m["license"], m["id"]
        if "gguf" in m["formats"]:
            assert m["quantizations"] and m["default_quantization"] in {q["name"] for q in m["quantizations"]}
            assert all(f.endswith(".gguf") for q in m["quantizations"] for f in q["files"])
    video = [m["id"] for m in models if m["task"] != "text-generation"]
    for family in ("Wan2.1", "Wan2.2", "LTX-Video", "CogVideoX"):
        assert any(family in v for v in video), family


def test_search_merges_catalog_hub_and_local(engine, fake_hub):
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    results = {m.id: m for m in engine.library.search(limit=200)}
    # local (downloaded), hub-only and catalog-only models all appear, merged by id
    assert results["tiny-org/tiny-llama-GGUF"].status == "local"
    assert "local" in results["tiny-org/tiny-llama-GGUF"].sources
    assert results["tiny-org/tiny-llama"].status == "available"
    hub_only = results["tiny-org/tiny-llama"]
    assert hub_only.formats == ["safetensors"] and hub_only.backends == ["transformers"]
    assert "hub" in results["tiny-org/tiny-llama"].sources
    assert "catalog" in results["Qwen/Qwen2.5-0.5B-Instruct-GGUF"].sources
    # quantizations of Hub results come from their file names; a deleted model is available again
    # even though the Hub answer is still cached
    engine.library.delete("tiny-org/tiny-llama-GGUF")
    fresh = {m.id: m for m in engine.library.search(limit=200)}["tiny-org/tiny-llama-GGUF"]
    assert fresh.status == "available" and {q.name for q in fresh.quantizations} == {"F32", "F16", "Q8_0"}


def test_search_filters_and_sorts(engine, fake_hub):
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    lib = engine.library
    video = lib.search(task="text-to-video", hub=False, limit=100)
    assert video and all(m.task == "text-to-video" for m in video)
    gguf = lib.search(backend="llama-cpp", hub=False, limit=100)
    assert gguf and all("llama-cpp" in m.backends for m in gguf)
    local = lib.search(status="local", limit=100)
    assert [m.id for m in local] == ["tiny-org/tiny-llama-GGUF"]
    qwen = lib.search("qwen", hub=False, limit=100)
    assert qwen and all("qwen" in m.id.lower() or "qwen" in " ".join(m.tags).lower() for m in qwen)
    by_size = [m.size for m in lib.search(sort="size", hub=False, limit=100) if m.size is not None]
    assert by_size == sorted(by_size)
    by_name = [m.id.lower() for m in lib.search(sort="name", hub=False, limit=100)]
    assert by_name == sorted(by_name)


@pytest.mark.parametrize("kwargs", [{"task": "painting"}, {"backend": "onnx"}, {"status": "lost"},
                                    {"sort": "random"}, {"limit": 0}, {"limit": 5000}])
def test_search_rejects_unknown_filters(engine, kwargs):
    with pytest.raises(ValidationError):
        engine.library.search(hub=False, **kwargs)


def test_hub_search_is_cached_and_offline_is_tolerated(engine, fake_hub):
    engine.library.search("tiny", limit=10)
    engine.library.search("tiny", limit=10)
    hub_calls = [r for r in fake_hub.requests if r.path.startswith("/api/models?")]
    assert len(hub_calls) == 1
    engine.settings.hf_endpoint = "http://127.0.0.1:9"  # the Hub goes away (nothing listens there)
    results = engine.library.search("qwen", limit=10)
    assert results and results.hub_error["type"] == "NetworkError"


def test_info_lists_files_quantizations_sizes_and_metadata(engine, fake_hub):
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    info = engine.library.info("tiny-org/tiny-llama-GGUF")
    files = fake_hub.repo_files("tiny-org/tiny-llama-GGUF")
    quants = {q.name: q for q in info.quantizations}
    assert set(quants) == {"F32", "F16", "Q8_0"}
    assert quants["Q8_0"].local and not quants["F16"].local
    assert quants["F16"].size == files["tiny-llama.F16.gguf"].size
    assert info.architecture == "llama" and info.context_length == 256
    assert info.parameters and info.parameters > 0
    assert {f["path"] for f in info.files} == set(files)
    info2 = engine.library.info("tiny-org/tiny-llama")
    assert info2.license == "apache-2.0" and info2.task == "text-generation"


def test_info_of_unknown_model_is_not_found(engine):
    with pytest.raises(NotFoundError):
        engine.library.info("nobody/nothing")


def test_local_scan_sees_cache_and_extra_folders(tmp_path, fake_hub, tiny_model_cache):
    folder = tmp_path / "gguf-folder" / "publisher"
    folder.mkdir(parents=True)
    gguf = next(tiny_model_cache.rglob("*.Q8_0.gguf"))
    (folder / "my-model.Q8_0.gguf").write_bytes(gguf.read_bytes())
    settings = Settings(home=str(tmp_path / "h"), hf_cache=str(tmp_path / "c"), hf_endpoint=fake_hub.url,
                        extra_model_dirs=[str(tmp_path / "gguf-folder")])
    with Engine(settings) as eng:
        eng.downloads.start("tiny-org/tiny-readme").wait(30)
        local = {m.id: m for m in eng.library.list_local()}
        assert set(local) == {"tiny-org/tiny-readme", "local/my-model"}
        loose = local["local/my-model"]
        assert loose.formats == ["gguf"] and loose.local_size == gguf.stat().st_size
        assert [q.name for q in loose.quantizations] == ["Q8_0"]
        fit = eng.library.fit("local/my-model", context=128)
        assert fit.weights_bytes == gguf.stat().st_size and fit.total_layers == 2


def test_warm_listing_sees_a_new_download(engine):
    assert engine.library.list_local() == []
    engine.downloads.start("tiny-org/tiny-readme").wait(30)
    assert [m.id for m in engine.library.list_local()] == ["tiny-org/tiny-readme"]


def test_delete_reports_and_frees_bytes(engine, settings):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    store = settings.cache_path / "models--tiny-org--tiny-llama"
    on_disk = sum(p.stat().st_size for p in (store / "blobs").iterdir())
    preview = engine.library.delete("tiny-org/tiny-llama", dry_run=True)
    assert preview["freed_bytes"] == on_disk and store.exists()
    done = engine.library.delete("tiny-org/tiny-llama")
    assert done["freed_bytes"] == on_disk and not store.exists()
    assert engine.library.list_local() == []
    with pytest.raises(NotFoundError):
        engine.library.delete("tiny-org/tiny-llama")


def test_delete_refuses_while_downloading(engine, fake_hub, tmp_path):
    fake_hub.add_repo("big-org/slow", {"w.safetensors": make_random_file(tmp_path / "w", 2 << 20)})
    fake_hub.add_fault("big-org/slow/w.safetensors", "throttle", bytes_per_s=200 * 1024, times=1)
    job = engine.downloads.start("big-org/slow")
    try:
        with pytest.raises(ConflictError):
            engine.library.delete("big-org/slow")
    finally:
        engine.downloads.cancel(job.id)
        job.wait(10, raise_on_error=False)


@pytest.mark.parametrize("model", ["../x", "org/../x", "local/thing"])
def test_delete_rejects_bad_or_foreign_ids(engine, model):
    with pytest.raises(ValidationError):
        engine.library.delete(model)


def test_verify_names_a_file_that_differs(engine, settings):
    job = engine.downloads.start("tiny-org/tiny-llama").wait(60)
    assert engine.library.verify("tiny-org/tiny-llama")["ok"] is True
    # Given a blob that was modified on disk after the download
    pointer = Path(job.result["path"]) / "config.json"
    blob = pointer.resolve()
    os.chmod(blob, 0o644)
    blob.write_text(blob.read_text().replace("llama", "LLAMA"))
    # Then verify names it
    report = engine.library.verify("tiny-org/tiny-llama")
    assert report["ok"] is False
    assert [m["path"] for m in report["mismatches"]] == ["config.json"]
    assert report["mismatches"][0]["algorithm"] == "git-sha1"


def test_verify_lists_quantizations_not_downloaded_without_failing(engine):
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    report = engine.library.verify("tiny-org/tiny-llama-GGUF")
    assert report["ok"] is True and "tiny-llama.F32.gguf" in report["not_downloaded"]


def test_verify_refuses_files_that_escape_the_cache(engine, tmp_path):
    job = engine.downloads.start("tiny-org/tiny-readme").wait(30)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    (Path(job.result["path"]) / "evil.txt").symlink_to(outside)
    engine.library.invalidate()
    with pytest.raises(ValidationError):
        engine.library.verify("tiny-org/tiny-readme")


def test_backends_report_installed_versions_and_local_counts(engine):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    backends = {b["name"]: b for b in engine.library.backends()}
    assert set(backends) == {"llama-cpp", "transformers", "diffusers"}
    tf = backends["transformers"]
    assert tf["installed"] and tf["version"] and tf["local_models"] == 1
    assert tf["gpu"] is False  # no GPU on the test machines
    for b in backends.values():
        assert b["installed"] or b["install"].startswith("pip install")
        assert all(s["verdict"] in ("gpu", "partial", "cpu") for s in b["suggestions"])


# --- fit --------------------------------------------------------------------------------------

LLAMA3_8B = ModelShape(parameters=8_030_000_000, weights_bytes=4_920_000_000, n_layers=32, n_kv_heads=8,
                       head_dim=128, context_length=131072, architecture="llama", quantization="Q4_K_M")
GiB = 1 << 30


@pytest.mark.parametrize("gpu_free,ram_free,verdict,layers", [
    (24 * GiB, 16 * GiB, "gpu", 32),
    (4 * GiB, 16 * GiB, "partial", None),
    (0, 16 * GiB, "cpu", 0),
    (None, 16 * GiB, "cpu", 0),
    (2 * GiB, 2 * GiB, "no", 0),
])
def test_fit_verdicts_for_llama3_8b_q4(gpu_free, ram_free, verdict, layers):
    gpus = [] if gpu_free is None else [GpuFree(0, "Test GPU", gpu_free, 24 * GiB)]
    result = estimate("meta/llama3-8b", LLAMA3_8B, context=8192, ram_free=ram_free, gpus=gpus)
    # KV cache: 2 (K,V) x 32 layers x 8 heads x 128 dims x 2 bytes x 8192 tokens = 1 GiB
    assert result.kv_cache_bytes == 2 * 32 * 8 * 128 * 2 * 8192 == GiB
    assert result.verdict == verdict, result.message
    if layers is not None:
        assert result.gpu_layers == layers
    if verdict == "partial":
        assert 0 < result.gpu_layers < 32
    assert result.total_bytes >= result.weights_bytes + result.kv_cache_bytes


@pytest.mark.parametrize("gpu_free,ram_free,sizes", [
    (24 * GiB, 16 * GiB, "of 25.8 GB free"),  # 24 GiB
    (2 * GiB, 2 * GiB, ", 2.1 GB RAM free, 2.1 GB free on GPU 0"),  # 2 GiB
])
def test_fit_messages_state_sizes_in_decimal_units_as_the_hub_does(gpu_free, ram_free, sizes):
    # Given an 8B Q4 model and the free memory, when its fit is estimated
    result = estimate("meta/llama3-8b", LLAMA3_8B, context=8192, ram_free=ram_free,
                      gpus=[GpuFree(0, "Test GPU", gpu_free, 24 * GiB)])
    # Then the message gives the need and the free memory in GB (1 GB = 10^9 bytes)
    assert f"needs {human_size(result.total_bytes)}" in result.message
    assert result.message.endswith(sizes), result.message
    assert "GiB" not in result.message


def test_fit_uses_local_gguf_metadata(engine):
    engine.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
    result = engine.library.fit("tiny-org/tiny-llama-GGUF:Q8_0", context=256)
    # tiny llama: 2 layers, 2 KV heads of 8 dims
    assert result.kv_cache_bytes == 2 * 2 * 2 * 8 * 2 * 256
    assert result.verdict == "cpu" and not result.approximate


def test_fit_of_a_catalog_model_uses_the_quantization_size(engine):
    result = engine.library.fit("Qwen/Qwen2.5-0.5B-Instruct-GGUF", quantization="Q8_0", context=4096)
    assert result.weights_bytes == 675710816
    assert result.verdict in ("cpu", "gpu")


def test_fit_rejects_bad_context_and_unknown_quantization(engine):
    with pytest.raises(ValidationError):
        engine.library.fit("Qwen/Qwen2.5-0.5B-Instruct-GGUF", context=-5)
    with pytest.raises(NotFoundError):
        engine.library.fit("Qwen/Qwen2.5-0.5B-Instruct-GGUF", quantization="Q1_X")
