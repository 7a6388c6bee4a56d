"""Jobs: persistence, events, cross-process control, orphans; plus refs, errors, config and system."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.jobs import EventBus, JobState, JobStore, Progress
from model_studio.core.refs import ModelRef, gguf_quant
from model_studio.errors import (
    ConflictError,
    DiskSpaceError,
    NotFoundError,
    StudioError,
    ValidationError,
    error_from_dict,
)


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "state.sqlite", EventBus(0.05))
    yield s
    s.close()


def test_jobs_persist_across_stores_in_wal_mode(store, tmp_path):
    job = store.create("download", {"repo_id": "a/b"}, title="a/b")
    store.set_progress(job.id, Progress(done=5, total=10), force=True)
    other = JobStore(tmp_path / "state.sqlite")
    seen = other.get(job.id)
    assert seen.params == {"repo_id": "a/b"} and seen.progress.fraction == 0.5
    mode = other._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_list_filters_by_kind_state_and_time(store):
    a = store.create("download", {})
    b = store.create("video", {})
    store.set_state(a.id, JobState.RUNNING)
    assert [j.id for j in store.list("download")] == [a.id]
    assert [j.id for j in store.list(states=["queued"])] == [b.id]
    since = time.time()
    time.sleep(0.01)
    store.set_state(b.id, JobState.COMPLETED, result={"ok": 1})
    assert [j.id for j in store.list(since=since)] == [b.id]


def test_unknown_and_malformed_job_ids(store):
    with pytest.raises(NotFoundError):
        store.get("dow-000000000000")
    with pytest.raises(ValidationError):
        store.get("")


def test_failed_job_carries_a_typed_error(store):
    job = store.create("download", {})
    err = DiskSpaceError("no room", details={"need_bytes": 5}, resolution_steps=["free space"])
    store.set_state(job.id, JobState.FAILED, error=err.to_dict()["error"])
    with pytest.raises(OSError) as info:  # DiskSpaceError is an OSError too
        store.get(job.id).raise_for_error()
    assert isinstance(info.value, DiskSpaceError) and info.value.details == {"need_bytes": 5}


def test_wait_returns_when_another_thread_finishes_the_job(store):
    job = store.create("download", {})
    threading.Timer(0.2, lambda: store.set_state(job.id, JobState.COMPLETED, result=[1])).start()
    assert job.wait(5).result == [1]
    other = store.create("download", {})
    with pytest.raises(TimeoutError):
        other.wait(0.3)


def test_event_bus_coalesces_progress_but_delivers_state_changes(store):
    events = []
    store.bus.subscribe(events.append)
    job = store.create("download", {})
    store.set_state(job.id, JobState.RUNNING)
    for i in range(500):
        store.set_progress(job.id, Progress(done=i, total=500))
    store.set_state(job.id, JobState.COMPLETED)
    time.sleep(0.2)
    states = [e.state for e in events]
    assert states[0] == JobState.QUEUED and states[-1] == JobState.COMPLETED
    assert len(events) < 50  # 500 progress updates became a handful of events


def test_a_failing_subscriber_does_not_break_the_job(store):
    store.bus.subscribe(lambda job: 1 / 0)
    job = store.create("download", {})
    assert store.set_state(job.id, JobState.COMPLETED).state == JobState.COMPLETED


def test_jobs_of_a_dead_process_become_interrupted(tmp_path):
    db = tmp_path / "state.sqlite"
    script = (f"from model_studio.core.jobs import JobStore; s = JobStore({str(db)!r}); "
              "j = s.create('download', {}); s.set_state(j.id, 'running'); print(j.id)")
    job_id = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    store = JobStore(db)
    assert store.get(job_id).state == JobState.RUNNING
    assert store.mark_orphans_interrupted() == [job_id]
    assert store.get(job_id).state == JobState.INTERRUPTED


def test_claim_is_atomic(store):
    job = store.create("download", {})
    store.set_state(job.id, JobState.PAUSED)
    store.claim(job.id, [JobState.PAUSED])
    with pytest.raises(ConflictError):
        store.claim(job.id, [JobState.PAUSED])


def test_control_flags_and_delete(store):
    job = store.create("download", {})
    store.request(job.id, "pause")
    assert store.control(job.id) == "pause"
    with pytest.raises(ValidationError):
        store.request(job.id, "explode")
    with pytest.raises(ConflictError):
        store.delete(job.id)
    store.set_state(job.id, JobState.CANCELLED)
    store.delete(job.id)
    with pytest.raises(NotFoundError):
        store.get(job.id)


# --- refs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,repo,rev,var", [
    ("Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", None, "Q4_K_M"),
    ("org/name@v1.0:Q8_0", "org/name", "v1.0", "Q8_0"),
    ("org/name@refs/pr/3", "org/name", "refs/pr/3", None),
    ("local/SmolLM2-135M-Instruct", "local/SmolLM2-135M-Instruct", None, None),
])
def test_model_ref_grammar(text, repo, rev, var):
    ref = ModelRef.parse(text)
    assert (ref.repo_id, ref.revision, ref.variant) == (repo, rev, var)
    assert str(ModelRef.parse(str(ref))) == str(ref)


@pytest.mark.parametrize("name,quant", [
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", "Q8_0"),
    ("model-IQ4_XS.gguf", "IQ4_XS"),
    ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"),
    ("tiny-llama.F16.gguf", "F16"),
    ("config.json", None),
])
def test_gguf_quantization_names(name, quant):
    assert gguf_quant(name) == quant


# --- errors and config ------------------------------------------------------------------------


def test_errors_render_the_documented_shape_and_round_trip():
    err = NotFoundError("gone", details={"model": "a/b"}, resolution_steps=["search"])
    body = err.to_dict()
    assert body == {"error": {"type": "NotFoundError", "message": "gone", "details": {"model": "a/b"},
                              "resolution_steps": ["search"]}}
    back = error_from_dict(body)
    assert isinstance(back, LookupError) and isinstance(back, StudioError) and back.details == {"model": "a/b"}
    assert err.one_line() == "NotFoundError: gone (search)"


def test_settings_read_environment_and_validate(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_STUDIO_HOME", str(tmp_path / "x"))
    monkeypatch.setenv("MODEL_STUDIO_MAX_DOWNLOADS", "3")
    s = Settings()
    assert s.home_path == tmp_path / "x" and s.max_concurrent_downloads == 3
    with pytest.raises(ValidationError):
        s.max_concurrent_downloads = 0


def test_import_does_not_pull_heavy_backends():
    code = ("import sys, model_studio, model_studio.core; "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'llama_cpp', 'diffusers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_engine_singleton_is_shared(monkeypatch):
    import model_studio

    model_studio._reset_engine()
    try:
        assert model_studio.engine() is model_studio.engine()
    finally:
        model_studio._reset_engine()


# --- system -----------------------------------------------------------------------------------


def test_system_snapshot_reports_cpu_ram_disk_and_no_gpu(settings):
    with Engine(settings) as eng:
        snap = eng.system.snapshot().to_dict()
    assert snap["cpu_count"] >= 1 and 0 <= snap["cpu_percent"] <= 100
    assert 0 < snap["memory_available"] <= snap["memory_total"]
    assert snap["disks"] and snap["disks"][0]["free"] > 0
    assert snap["gpus"] == []  # the test machines have none; pynvml failing is not an error
    assert snap["gpu_error"]


def test_gpu_stats_through_a_fake_nvml(monkeypatch):
    """The pynvml path, exercised with a stand-in module (real GPUs are checked on a lent machine)."""
    import types

    from model_studio.core.system import SystemMonitor

    class Mem:
        total, used, free = 8 << 30, 3 << 30, 5 << 30

    class Util:
        gpu, memory = 40, 20

    class Proc:
        pid, usedGpuMemory = 1, 1 << 30

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: "h",
        nvmlDeviceGetMemoryInfo=lambda h: Mem, nvmlDeviceGetName=lambda h: b"Fake GPU",
        nvmlDeviceGetUUID=lambda h: "GPU-1", nvmlDeviceGetUtilizationRates=lambda h: Util,
        nvmlDeviceGetTemperature=lambda h, s: 55, NVML_TEMPERATURE_GPU=0,
        nvmlDeviceGetPowerUsage=lambda h: 120000, nvmlDeviceGetEnforcedPowerLimit=lambda h: 250000,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [Proc], nvmlDeviceGetGraphicsRunningProcesses=lambda h: [],
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = SystemMonitor().gpus()
    assert len(gpus) == 1
    g = gpus[0]
    assert (g.name, g.memory_free, g.utilization, g.power, g.power_limit) == ("Fake GPU", 5 << 30, 40.0, 120.0, 250.0)
    assert g.processes[0].pid == 1 and g.processes[0].used_memory == 1 << 30


def test_a_guarded_state_change_wins_only_from_the_expected_state(store):
    job = store.create("video", {})
    store.request(job.id, "cancel")
    with pytest.raises(ConflictError):  # a cancel request is pending: the start loses
        store.set_state(job.id, JobState.RUNNING, expect=(JobState.QUEUED,), expect_control="")
    assert store.get(job.id).state == JobState.QUEUED
    assert store.set_state(job.id, JobState.CANCELLED, expect=(JobState.QUEUED,),
                           expect_control="cancel").state == JobState.CANCELLED
    with pytest.raises(ConflictError) as err:  # already cancelled: a late start cannot revive it
        store.set_state(job.id, JobState.RUNNING, expect=(JobState.QUEUED,))
    assert err.value.details["state"] == "cancelled"
    assert store.get(job.id).state == JobState.CANCELLED
