"""Happy paths of every REST route, against the fake Hub, through a real Jupyter server."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from tests.server.conftest import BIG, BIG_FILE, BIG_SIZE, assert_error, poll

LLAMA = "tiny-org/tiny-llama"
GGUF = "tiny-org/tiny-llama-GGUF"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_file(cache: Path, repo: str, name: str) -> Path:
    storage = cache / ("models--" + repo.replace("/", "--"))
    commit = (storage / "refs" / "main").read_text().strip()
    return storage / "snapshots" / commit / name


async def download(api, body: dict, timeout: float = 60.0) -> dict:
    r = await api("POST", "downloads", body=body)
    assert r.code == 202, r
    job = r.json
    assert job["kind"] == "download" and job["state"] in ("queued", "running", "completed")
    return await poll(api, f"downloads/{job['id']}", lambda j: j["state"] in ("completed", "failed"), timeout)


async def test_search_filters_and_sorts_hub_models(api):
    # When searching the Hub for GGUF text-generation models
    r = await api("GET", "library", params={"q": "tiny", "format": "gguf", "task": "text-generation",
                                             "sort": "downloads", "limit": "10"})
    # Then only the GGUF repo matches
    assert r.code == 200, r
    assert r.headers["Content-Type"].startswith("application/json")
    ids = [m["id"] for m in r.json["models"]]
    assert GGUF in ids and LLAMA not in ids
    assert all("gguf" in m["formats"] for m in r.json["models"])
    assert r.json["hub_error"] is None


async def test_search_without_hub_lists_the_catalog_only(api, fake_hub):
    fake_hub.clear_requests()
    r = await api("GET", "library", params={"hub": "false", "limit": "5"})
    assert r.code == 200, r
    assert 0 < len(r.json["models"]) <= 5
    assert all("hub" not in m["sources"] for m in r.json["models"])
    assert r.json["hub_error"] is None


async def test_info_fit_backends(api):
    info = await api("GET", f"models/{GGUF}")
    assert info.code == 200, info
    assert info.json["id"] == GGUF
    assert {q["name"] for q in info.json["quantizations"]} >= {"Q8_0", "F16"}
    # the variant query parameter is accepted
    assert (await api("GET", f"models/{GGUF}", params={"variant": "Q8_0"})).code == 200

    fit = await api("GET", f"models/{GGUF}/fit", params={"quantization": "Q8_0", "context": "512"})
    assert fit.code == 200, fit
    assert fit.json["quantization"] == "Q8_0" and fit.json["context"] == 512
    assert fit.json["verdict"] in ("gpu", "partial", "cpu", "no") and fit.json["weights_bytes"] > 0

    backends = await api("GET", "backends")
    assert backends.code == 200, backends
    assert {b["name"] for b in backends.json["backends"]} >= {"llama-cpp", "transformers"}


async def test_download_to_completion_then_local_verify_and_delete(api, fake_hub, studio_env):
    # Given the tiny llama repo on the Hub; When it is downloaded through REST
    job = await download(api, {"model": LLAMA})
    # Then every file is in the HF cache with the Hub's sha256
    assert job["state"] == "completed", job
    cache = Path(studio_env["HF_HUB_CACHE"])
    for name, entry in fake_hub.repo_files(LLAMA).items():
        assert sha256(snapshot_file(cache, LLAMA, name)) == entry.sha256, name

    # and the model is listed locally, verifies clean
    local = await api("GET", "library/local")
    assert LLAMA in [m["id"] for m in local.json["models"]]
    verify = await api("POST", f"models/{LLAMA}/verify")
    assert verify.code == 200, verify
    assert verify.json["ok"] is True and verify.json["checked"] == len(fake_hub.repo_files(LLAMA))

    # and the download shows in the lists
    downloads = await api("GET", "downloads", params={"state": "completed"})
    assert job["id"] in [j["id"] for j in downloads.json["downloads"]]
    jobs = await api("GET", "jobs", params={"kind": "download", "limit": "5"})
    assert job["id"] in [j["id"] for j in jobs.json["jobs"]]
    one = await api("GET", f"jobs/{job['id']}")
    assert one.code == 200 and one.json["state"] == "completed"

    # When deleting: a dry run reports the bytes and keeps the files
    size = sum(e.size for e in fake_hub.repo_files(LLAMA).values())
    dry = await api("DELETE", f"models/{LLAMA}", params={"dry_run": "true"})
    assert dry.code == 200, dry
    assert dry.json["deleted"] is False and dry.json["freed_bytes"] >= size
    assert snapshot_file(cache, LLAMA, "config.json").exists()
    # and a real delete removes them
    real = await api("DELETE", f"models/{LLAMA}")
    assert real.code == 200 and real.json["deleted"] is True, real
    assert not (cache / ("models--" + LLAMA.replace("/", "--"))).exists()
    local = await api("GET", "library/local")
    assert LLAMA not in [m["id"] for m in local.json["models"]]


async def test_download_one_quantization_with_files_and_include(api, fake_hub, studio_env):
    cache = Path(studio_env["HF_HUB_CACHE"])
    job = await download(api, {"model": GGUF, "quantization": "Q8_0"})
    assert job["state"] == "completed", job
    path = snapshot_file(cache, GGUF, "tiny-llama.Q8_0.gguf")
    assert sha256(path) == fake_hub.repo_files(GGUF)["tiny-llama.Q8_0.gguf"].sha256
    assert not snapshot_file(cache, GGUF, "tiny-llama.F32.gguf").exists()

    job = await download(api, {"model": "tiny-org/tiny-readme", "files": ["notes.txt"], "include": ["*.md"]})
    assert job["state"] == "completed", job
    assert snapshot_file(cache, "tiny-org/tiny-readme", "notes.txt").exists()


async def test_pause_resume_and_cancel_a_throttled_download(api, fake_hub, big_repo, studio_env):
    # Given a 4 MiB file served at 256 KiB/s (~16 s)
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=256 * 1024, times=1)
    r = await api("POST", "downloads", body={"model": BIG, "files": [BIG_FILE]})
    assert r.code == 202, r
    job_id = r.json["id"]
    await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "running" and j["progress"]["done"] > 0)

    # When it is paused, it stops as paused
    r = await api("POST", f"downloads/{job_id}/pause")
    assert r.code == 200, r
    await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "paused", 15)

    # When resumed (the throttle was used up), it completes with the right bytes
    r = await api("POST", f"downloads/{job_id}/resume")
    assert r.code == 200, r
    job = await poll(api, f"downloads/{job_id}", lambda j: j["state"] in ("completed", "failed"), 60)
    assert job["state"] == "completed", job
    path = snapshot_file(Path(studio_env["HF_HUB_CACHE"]), BIG, BIG_FILE)
    assert path.stat().st_size == BIG_SIZE
    assert sha256(path) == big_repo[BIG_FILE].sha256


async def test_cancel_a_throttled_download(api, fake_hub, big_repo):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=200 * 1024, times=1)
    r = await api("POST", "downloads", body={"model": BIG, "files": [BIG_FILE]})
    job_id = r.json["id"]
    await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "running" and j["progress"]["done"] > 0)
    r = await api("POST", f"downloads/{job_id}/cancel", body={"discard": True})
    assert r.code == 200, r
    job = await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "cancelled", 15)
    assert job["progress"]["done"] < BIG_SIZE


async def test_settings_get_and_patch(api, studio_env):
    r = await api("GET", "settings")
    assert r.code == 200, r
    assert "max_concurrent_downloads" in r.json["mutable"]
    assert "hf_token" not in r.json["settings"]

    r = await api("PATCH", "settings", body={"max_concurrent_downloads": 3, "extra_model_dirs": []})
    assert r.code == 200, r
    assert r.json["settings"]["max_concurrent_downloads"] == 3
    # saved for the next start
    saved = Path(studio_env["MODEL_STUDIO_HOME"]) / "settings.json"
    assert '"max_concurrent_downloads": 3' in saved.read_text()
    assert (await api("GET", "settings")).json["settings"]["max_concurrent_downloads"] == 3


async def test_system_snapshot(api):
    r = await api("GET", "system")
    assert r.code == 200, r
    snap = r.json
    assert snap["memory_total"] > 0 and snap["cpu_count"] >= 1
    assert isinstance(snap["disks"], list) and isinstance(snap["gpus"], list)


async def test_requests_are_served_while_engine_calls_block(api, engine_of, monkeypatch):
    # Given an engine call that blocks for a second (a slow Hub, a slow disk)
    import time

    real = engine_of.library.backends

    def slow():
        time.sleep(1.0)
        return real()

    monkeypatch.setattr(engine_of.library, "backends", slow)
    # When a cheap route is called meanwhile, it answers long before the slow one
    t0 = time.monotonic()
    slow_call = asyncio.ensure_future(api("GET", "backends"))
    await asyncio.sleep(0.1)
    fast = await api("GET", "settings")
    fast_took = time.monotonic() - t0
    assert fast.code == 200
    assert (await slow_call).code == 200
    assert fast_took < 0.8, fast_took


async def test_unknown_path_under_the_prefix_is_a_json_404(api):
    assert_error(await api("GET", "no-such-route"), 404, "HTTPError")


async def test_identical_concurrent_gets_share_one_engine_call(api, engine_of, monkeypatch):
    # Given a listing that takes 0.3 s in the engine
    import time

    calls = []
    real = engine_of.library.backends

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return real()

    monkeypatch.setattr(engine_of.library, "backends", slow)
    # When 10 clients poll it at the same moment
    answers = await asyncio.gather(*(api("GET", "backends") for _ in range(10)))
    # Then all get the same answer from a single engine call
    assert {r.code for r in answers} == {200}
    assert len({r.body for r in answers}) == 1
    assert len(calls) == 1
    # and a later request runs again (nothing is cached once the call is over)
    await api("GET", "backends")
    assert len(calls) == 2
