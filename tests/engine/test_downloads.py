"""Downloads: the HF cache layout, resume, verification, faults and cancellation, against the fake Hub."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from model_studio.core import Engine, JobState
from model_studio.errors import (
    CancelledError,
    DiskSpaceError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    ValidationError,
)
from tests.fixtures.models import make_random_file

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = "big-org/big-model"
BIG_FILE = "model.safetensors"
BIG_SIZE = 4 * 1024 * 1024


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def big_repo(fake_hub, tmp_path):
    """A repo with one 4 MiB LFS file and a small config."""
    data = make_random_file(tmp_path / "big.bin", BIG_SIZE, seed=7)
    fake_hub.add_repo(BIG, {BIG_FILE: data, "config.json": b'{"model_type": "llama"}'},
                      pipeline_tag="text-generation", library_name="transformers")
    return fake_hub.repo_files(BIG)


def storage(settings, repo_id: str) -> Path:
    return settings.cache_path / ("models--" + repo_id.replace("/", "--"))


def wait_for_partial(path_glob_dir: Path, min_bytes: int, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path_glob_dir.is_dir():
            for p in path_glob_dir.glob("*.incomplete"):
                if p.stat().st_size >= min_bytes:
                    return p
        time.sleep(0.02)
    raise AssertionError(f"no partial of {min_bytes} bytes appeared in {path_glob_dir}")


def subprocess_env(settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MODEL_STUDIO_HOME=settings.home, HF_HUB_CACHE=settings.hf_cache, HF_ENDPOINT=settings.hf_endpoint,
               PYTHONPATH=str(REPO_ROOT))
    return env


# --- layout and interop ---------------------------------------------------------------------


def test_gguf_quant_download_writes_the_hf_cache_layout(engine, fake_hub, settings):
    # Given a GGUF repo with three quantizations
    repo = "tiny-org/tiny-llama-GGUF"
    files = fake_hub.repo_files(repo)
    # When one quantization is pulled
    job = engine.downloads.start(f"{repo}:Q8_0").wait(60)
    # Then only that file is in the cache, as a snapshot symlink to a blob named by its sha256
    store = storage(settings, repo)
    commit = fake_hub.commit_sha(repo)
    assert job.state == JobState.COMPLETED
    assert job.result["files"] == ["tiny-llama.Q8_0.gguf"] and job.result["commit"] == commit
    pointer = store / "snapshots" / commit / "tiny-llama.Q8_0.gguf"
    entry = files["tiny-llama.Q8_0.gguf"]
    assert pointer.is_symlink() and pointer.resolve() == (store / "blobs" / entry.sha256).resolve()
    assert sha256(pointer) == entry.sha256
    assert sorted(p.name for p in (store / "snapshots" / commit).iterdir()) == ["tiny-llama.Q8_0.gguf"]
    assert (store / "refs" / "main").read_text() == commit
    assert not list((store / "blobs").glob("*.incomplete"))
    assert job.progress.done == job.progress.total == entry.size


def test_default_gguf_selection_takes_one_quantization(engine, fake_hub):
    job = engine.downloads.start("tiny-org/tiny-llama-GGUF").wait(60)
    assert job.result["variant"] == "Q8_0"  # preferred over F16 / F32 when no Q4_K_M exists
    assert job.result["files"] == ["tiny-llama.Q8_0.gguf"]
    assert "tiny-llama.F32.gguf" in job.result["skipped"]


def test_pull_chat_and_the_library_agree_on_the_default_quantization(engine, fake_hub):
    # Given a GGUF repo with Q4_1 and F16 files, both on this machine
    repo = "quant-org/two-quants-GGUF"
    tiny = fake_hub.repo_files("tiny-org/tiny-llama-GGUF")  # real GGUF files, renamed
    fake_hub.add_repo(repo, {"m.Q4_1.gguf": tiny["tiny-llama.Q8_0.gguf"].disk_path,
                             "m.F16.gguf": tiny["tiny-llama.F16.gguf"].disk_path}, pipeline_tag="text-generation")
    engine.downloads.start(repo, files=["m.Q4_1.gguf", "m.F16.gguf"]).wait(60)
    # When the repo is pulled and chatted with without naming a quantization
    pulled = engine.downloads.start(repo).wait(60)
    resolved = engine.chat.resolve(repo)
    # Then all three pick the same file
    assert pulled.result["variant"] == resolved.quantization == "Q4_1"
    assert pulled.result["files"] == [resolved.path.name] == ["m.Q4_1.gguf"]
    assert engine.library.info(repo).default_quantization == "Q4_1"


def test_unknown_quantization_is_a_typed_error_listing_the_choices(engine):
    job = engine.downloads.start("tiny-org/tiny-llama-GGUF:Q2_K").wait(60, raise_on_error=False)
    assert job.state == JobState.FAILED and job.error["type"] == "NotFoundError"
    assert "Q8_0" in job.error["resolution_steps"][0]


def test_pulled_model_loads_offline_in_transformers_and_hf_hub_download(engine, settings):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    script = textwrap.dedent("""
        from huggingface_hub import hf_hub_download
        from transformers import AutoModelForCausalLM, AutoTokenizer
        model = AutoModelForCausalLM.from_pretrained("tiny-org/tiny-llama")
        tok = AutoTokenizer.from_pretrained("tiny-org/tiny-llama")
        out = model.generate(**tok("hello", return_tensors="pt"), max_new_tokens=3, do_sample=False)
        print("TOKENS", out.shape[1])
        print("CONFIG", hf_hub_download("tiny-org/tiny-llama", "config.json"))
    """)
    env = subprocess_env(settings)
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: offline for real
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TOKENS" in proc.stdout
    assert str(settings.cache_path) in proc.stdout


def test_repo_fetched_with_snapshot_download_shows_as_local(engine, fake_hub, settings):
    from huggingface_hub import snapshot_download

    snapshot_download("tiny-org/tiny-readme", cache_dir=settings.cache_path, endpoint=fake_hub.url)
    local = {m.id: m for m in engine.library.list_local()}
    assert local["tiny-org/tiny-readme"].status == "local"
    assert local["tiny-org/tiny-readme"].local_size > 0
    # and our downloader reuses every byte of it
    job = engine.downloads.start("tiny-org/tiny-readme").wait(30)
    assert job.result["bytes_transferred"] == 0 and job.result["bytes_reused"] == job.result["bytes_total"]


# --- faults ---------------------------------------------------------------------------------


def test_cut_connection_resumes_from_the_byte_reached(engine, fake_hub, big_repo, settings):
    # Given a connection that is cut after 1.5 MiB of the 4 MiB file
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "cut", after_bytes=1536 * 1024, times=1)
    # When the file is pulled
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(60)
    # Then it completes verified, and the bytes sent again are under 5% of the file
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256
    sent = fake_hub.bytes_sent(f"{BIG}/{BIG_FILE}")
    assert BIG_SIZE <= sent < BIG_SIZE * 1.05
    ranged = [r for r in fake_hub.file_requests(f"{BIG}/{BIG_FILE}") if r.range_start]
    assert ranged and ranged[0].range_start >= 1024 * 1024


def test_sigkill_mid_download_then_a_new_process_resumes_the_same_job(fake_hub, big_repo, settings):
    # Given a download running in another process, slowed to ~1 MiB/s
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=1024 * 1024, times=1)
    script = textwrap.dedent(f"""
        from model_studio.core import Engine
        eng = Engine()
        job = eng.downloads.start("{BIG}", files=["{BIG_FILE}"])
        print(job.id, flush=True)
        job.wait(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=subprocess_env(settings), stdout=subprocess.PIPE,
                            text=True)
    job_id = proc.stdout.readline().strip()
    blobs = storage(settings, BIG) / "blobs"
    try:
        partial = wait_for_partial(blobs, 512 * 1024)
    finally:
        # When the process is killed mid-file
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    kept = partial.stat().st_size
    assert 0 < kept < BIG_SIZE
    # Then a new engine sees the job as interrupted and resumes it to a verified file
    with Engine(settings) as eng:
        assert eng.jobs.get(job_id).state == JobState.INTERRUPTED
        job = eng.downloads.resume(job_id).wait(60)
    assert job.id == job_id and job.state == JobState.COMPLETED
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256
    resumed = [r for r in fake_hub.file_requests(f"{BIG}/{BIG_FILE}") if r.range_start]
    assert resumed and resumed[-1].range_start >= kept - 64 * 1024
    assert fake_hub.bytes_sent(f"{BIG}/{BIG_FILE}") < BIG_SIZE * 1.05


def test_corrupted_body_ends_in_integrity_error_with_no_blob_in_the_cache(engine, fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "corrupt", offset=1000, times=10)
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(60, raise_on_error=False)
    assert job.state == JobState.FAILED and job.error["type"] == "IntegrityError"
    assert job.error["details"]["expected"] == big_repo[BIG_FILE].sha256
    blobs = storage(settings, BIG) / "blobs"
    assert not (blobs / big_repo[BIG_FILE].sha256).exists()
    assert not list(blobs.glob("*.incomplete"))
    assert not list((storage(settings, BIG) / "snapshots").rglob(BIG_FILE))
    with pytest.raises(IntegrityError):
        job.raise_for_error()


def test_one_corrupted_transfer_is_downloaded_again_and_verified(engine, fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "corrupt", offset=5, times=1)
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(60)
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256


def assert_no_corrupt_bytes_cached(settings, entry) -> None:
    """No blob, no snapshot entry and no partial holding anything but a prefix of the real file."""
    store = storage(settings, BIG)
    assert not (store / "blobs" / entry.sha256).exists()
    assert not list((store / "snapshots").rglob(BIG_FILE))
    real = entry.disk_path.read_bytes()
    for partial in (store / "blobs").glob("*.incomplete"):
        kept = partial.read_bytes()
        assert len(kept) <= entry.size and real.startswith(kept), partial


@pytest.mark.timeout(60)  # the old code restarted an over-long body forever: fail, do not hang
@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "close-delimited"])
def test_a_body_longer_than_the_file_ends_in_integrity_error_after_the_retry_budget(
        fake_hub, big_repo, settings, content_length):
    # Given a server that always sends the file's bytes plus trailing garbage (the declared size unchanged)
    settings.download_retries = 2
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "oversize", extra_bytes=64 * 1024 * 1024,
                       content_length=content_length, times=10**9)
    # When the file is pulled
    with Engine(settings) as eng:
        job = eng.downloads.start(BIG, files=[BIG_FILE]).wait(50, raise_on_error=False)
    # Then it fails with a typed IntegrityError after the first try and 2 retries, no more
    gets = len(fake_hub.file_requests(f"{BIG}/{BIG_FILE}"))
    assert job.state == JobState.FAILED and job.error["type"] == "IntegrityError", (job.state, gets)
    details = job.error["details"]
    assert details["file"] == BIG_FILE and details["expected_size"] == BIG_SIZE
    assert details["received_bytes"] > BIG_SIZE or details["declared_bytes"] > BIG_SIZE
    assert gets == 3
    # it stopped reading each endless body soon after the file's size (socket buffers aside)
    assert fake_hub.bytes_sent(f"{BIG}/{BIG_FILE}") < 3 * (BIG_SIZE + 16 * 1024 * 1024)
    # and nothing corrupt is left in the cache
    assert_no_corrupt_bytes_cached(settings, big_repo[BIG_FILE])
    with pytest.raises(IntegrityError):
        job.raise_for_error()


@pytest.mark.timeout(60)
def test_a_body_longer_than_the_file_once_is_downloaded_again_and_verified(engine, fake_hub, big_repo, settings):
    # Given a server that sends trailing garbage on the first request only
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "oversize", extra_bytes=1000, content_length=False, times=1)
    # When the file is pulled
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(50)
    # Then the second request gets the right bytes and the blob is verified
    assert job.state == JobState.COMPLETED
    assert [r.fault for r in fake_hub.file_requests(f"{BIG}/{BIG_FILE}")] == ["oversize", None]
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256
    assert not list((storage(settings, BIG) / "blobs").glob("*.incomplete"))


@pytest.mark.timeout(60)
def test_a_server_ignoring_range_after_a_cut_restarts_from_zero_to_a_verified_file(
        engine, fake_hub, big_repo, settings):
    # Given a server without Range support whose first answer is cut after 1.5 MiB
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "ignore_range", times=10**9)
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "cut", after_bytes=1536 * 1024, times=1)
    # When the file is pulled
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(50)
    # Then the whole-file answer to the resume is not appended to the partial: the file starts over
    requests = fake_hub.file_requests(f"{BIG}/{BIG_FILE}")
    assert {k.lower() for k in requests[1].headers} >= {"range"} and requests[1].status == 200
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256
    assert len(requests) <= 3


@pytest.mark.timeout(60)
def test_a_server_ignoring_range_and_always_cutting_runs_out_of_retries(fake_hub, big_repo, settings):
    # Given a server without Range support that cuts every answer after 1.5 MiB
    settings.download_retries = 2
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "ignore_range", times=10**9)
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "cut", after_bytes=1536 * 1024, times=10**9)
    # When the file is pulled
    with Engine(settings) as eng:
        job = eng.downloads.start(BIG, files=[BIG_FILE]).wait(50, raise_on_error=False)
    # Then bytes it already had do not count as progress: it ends in a NetworkError, not a loop
    gets = len(fake_hub.file_requests(f"{BIG}/{BIG_FILE}"))
    assert job.state == JobState.FAILED and job.error["type"] == "NetworkError", (job.state, gets)
    assert gets <= 2 * (settings.download_retries + 1)
    assert_no_corrupt_bytes_cached(settings, big_repo[BIG_FILE])


def test_5xx_and_429_are_retried_then_succeed(engine, fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "status", code=503, times=2)
    fake_hub.add_fault(f"{BIG}/config.json", "status", code=429, retry_after="0", times=1)
    job = engine.downloads.start(BIG).wait(60)
    assert job.state == JobState.COMPLETED
    statuses = [r.status for r in fake_hub.file_requests(f"{BIG}/*")]
    assert statuses.count(503) == 2 and statuses.count(429) == 1
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256


def test_persistent_5xx_ends_in_network_error_after_retries(fake_hub, big_repo, settings):
    settings.download_retries = 2
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "status", code=500, times=1000)
    with Engine(settings) as eng:
        job = eng.downloads.start(BIG, files=[BIG_FILE]).wait(60, raise_on_error=False)
    assert job.error["type"] == "NetworkError" and job.error["details"]["status"] == 500
    assert len(fake_hub.file_requests(f"{BIG}/{BIG_FILE}")) == 3  # first try + 2 retries
    with pytest.raises(NetworkError):
        job.raise_for_error()


def test_too_little_disk_space_fails_before_any_byte(engine, fake_hub, big_repo, settings, monkeypatch):
    from model_studio.core.downloads import manager

    monkeypatch.setattr(manager, "disk_free", lambda path: 1024 * 1024)
    job = engine.downloads.start(BIG).wait(60, raise_on_error=False)
    assert job.error["type"] == "DiskSpaceError"
    assert job.error["details"]["need_bytes"] >= BIG_SIZE
    assert fake_hub.file_requests(f"{BIG}/*") == []
    assert not storage(settings, BIG).exists()
    with pytest.raises(DiskSpaceError):
        job.raise_for_error()


def test_unknown_repo_is_not_found(engine):
    job = engine.downloads.start("nobody/nothing").wait(30, raise_on_error=False)
    assert job.error["type"] == "NotFoundError"
    with pytest.raises(LookupError):  # typed errors keep their builtin parents
        job.raise_for_error()


# --- cancel, pause, resume, concurrency ---------------------------------------------------------


def test_cancel_ends_the_job_promptly_and_keeps_the_partial_for_resume(engine, fake_hub, big_repo, settings):
    # Given a transfer that would take ~20 s
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=200 * 1024, times=1)
    job = engine.downloads.start(BIG, files=[BIG_FILE])
    partial = wait_for_partial(storage(settings, BIG) / "blobs", 100 * 1024)
    # When it is cancelled
    t0 = time.monotonic()
    engine.downloads.cancel(job.id)
    job = job.wait(10, raise_on_error=False)
    took = time.monotonic() - t0
    # Then it stops (far sooner than the transfer would have taken) and keeps the partial
    assert job.state == JobState.CANCELLED, took
    kept = partial.stat().st_size
    assert 0 < kept < BIG_SIZE
    # and a resume continues from the partial to a verified file
    job = engine.downloads.resume(job.id).wait(60)
    pointer = storage(settings, BIG) / "snapshots" / job.result["commit"] / BIG_FILE
    assert sha256(pointer) == big_repo[BIG_FILE].sha256
    assert fake_hub.bytes_sent(f"{BIG}/{BIG_FILE}") < BIG_SIZE * 1.05


def test_pause_then_start_again_resumes_the_same_job(engine, fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=300 * 1024, times=1)
    job = engine.downloads.start(BIG, files=[BIG_FILE])
    wait_for_partial(storage(settings, BIG) / "blobs", 100 * 1024)
    job.pause()
    paused = job.wait(10, raise_on_error=False)
    assert paused.state == JobState.PAUSED
    with pytest.raises(CancelledError):
        paused.raise_for_error()
    again = engine.downloads.start(BIG, files=[BIG_FILE])
    assert again.id == job.id
    assert again.wait(60).state == JobState.COMPLETED


def test_cancel_with_discard_removes_the_partial(engine, fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=200 * 1024, times=1)
    job = engine.downloads.start(BIG, files=[BIG_FILE])
    wait_for_partial(storage(settings, BIG) / "blobs", 50 * 1024)
    engine.downloads.cancel(job.id, discard=True)
    assert job.wait(10, raise_on_error=False).state == JobState.CANCELLED
    assert not list((storage(settings, BIG) / "blobs").glob("*.incomplete"))


def test_concurrency_limit_queues_the_second_download(fake_hub, big_repo, settings):
    settings.max_concurrent_downloads = 1
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=500 * 1024, times=1)
    with Engine(settings) as eng:
        first = eng.downloads.start(BIG, files=[BIG_FILE])
        second = eng.downloads.start("tiny-org/tiny-readme")
        wait_for_partial(storage(settings, BIG) / "blobs", 10 * 1024)
        assert eng.jobs.get(second.id).state == JobState.QUEUED
        assert first.wait(60).state == JobState.COMPLETED
        assert second.wait(60).state == JobState.COMPLETED


def test_two_processes_pulling_the_same_repo_end_with_one_correct_copy(fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=2 * 1024 * 1024, times=2)
    script = textwrap.dedent(f"""
        from model_studio.core import Engine
        with Engine() as eng:
            job = eng.downloads.start("{BIG}").wait(120)
            print(job.state.value, job.result["bytes_transferred"], flush=True)
    """)
    env = subprocess_env(settings)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=180)[0].split() for p in procs]
    assert [o[0] for o in outs] == ["completed", "completed"]
    blobs = storage(settings, BIG) / "blobs"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(e.etag for e in big_repo.values())
    snapshots = list((storage(settings, BIG) / "snapshots").iterdir())
    assert len(snapshots) == 1
    assert sha256(snapshots[0] / BIG_FILE) == big_repo[BIG_FILE].sha256
    # one of them transferred the big file, the other reused it
    assert fake_hub.bytes_sent(f"{BIG}/{BIG_FILE}") < BIG_SIZE * 1.05


def test_progress_events_are_coalesced(engine, fake_hub, big_repo):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=2 * 1024 * 1024, times=1)
    events = []
    engine.bus.subscribe(events.append)
    t0 = time.monotonic()
    job = engine.downloads.start(BIG, files=[BIG_FILE]).wait(60)
    elapsed = time.monotonic() - t0
    chunks = len([r for r in fake_hub.file_requests(f"{BIG}/{BIG_FILE}")])
    assert job.state == JobState.COMPLETED
    # at most ~4 progress events a second plus state changes, whatever the number of chunks read
    assert len(events) <= elapsed / engine.settings.event_interval + 10, (len(events), elapsed, chunks)
    assert events[-1].state == JobState.COMPLETED
    per_file = [e.progress.detail["files"][BIG_FILE] for e in events
                if BIG_FILE in e.progress.detail.get("files", {})]
    assert any(f["rate"] and f["eta"] is not None and f["total"] == BIG_SIZE for f in per_file)
    fractions = [e.progress.fraction for e in events if e.progress.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["../etc", "/abs/path", "org/name/extra", "org/..", "org/na me", "",
                                   "org/name:../x", "org/name@../../x", "-org/name", "org--x/y"])
def test_invalid_model_names_are_rejected(engine, model):
    with pytest.raises(ValidationError):
        engine.downloads.start(model)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "a\\b", "C:/x", "a\x00b", "./a", "a//b"])
def test_invalid_file_names_are_rejected(engine, name):
    with pytest.raises(ValidationError):
        engine.downloads.start("tiny-org/tiny-readme", files=[name])


def test_local_models_cannot_be_downloaded(engine):
    with pytest.raises(ValidationError):
        engine.downloads.start("local/SmolLM2")


def test_unknown_file_in_selection_is_not_found(engine):
    job = engine.downloads.start("tiny-org/tiny-readme", files=["nope.txt"]).wait(30, raise_on_error=False)
    assert job.error["type"] == "NotFoundError"
    with pytest.raises(NotFoundError):
        job.raise_for_error()


def test_a_snapshot_symlink_escaping_the_cache_is_replaced_not_followed(engine, fake_hub, settings, tmp_path):
    # Given a planted snapshot entry that links outside the cache
    repo = "tiny-org/tiny-readme"
    commit = fake_hub.commit_sha(repo)
    outside = tmp_path / "outside.txt"
    outside.write_text("do not touch")
    snap = storage(settings, repo) / "snapshots" / commit
    snap.mkdir(parents=True)
    name = sorted(fake_hub.repo_files(repo))[0]
    (snap / name).symlink_to(outside)
    # When the repo is pulled
    engine.downloads.start(repo).wait(30)
    # Then the entry points into the cache's blobs and the outside file is untouched
    assert (snap / name).resolve().parent == (storage(settings, repo) / "blobs").resolve()
    assert outside.read_text() == "do not touch"


def test_closing_the_engine_pauses_running_downloads_for_a_later_resume(fake_hub, big_repo, settings):
    fake_hub.add_fault(f"{BIG}/{BIG_FILE}", "throttle", bytes_per_s=300 * 1024, times=1)
    eng = Engine(settings)
    job = eng.downloads.start(BIG, files=[BIG_FILE])
    wait_for_partial(storage(settings, BIG) / "blobs", 50 * 1024)
    eng.close()
    with Engine(settings) as again:
        assert again.jobs.get(job.id).state == JobState.PAUSED
        assert again.downloads.start(BIG, files=[BIG_FILE]).wait(60).state == JobState.COMPLETED
