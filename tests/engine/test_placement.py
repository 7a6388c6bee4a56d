"""Fit-aware placement: the load arguments follow the fit verdict (GPU, partial N layers, CPU), and the
user's explicit gpu_layers wins. Without a GPU: a stand-in NVML and recorded backend arguments."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.chat.base import LoadOptions
from model_studio.core.chat.llama_cpp import LlamaCppBackend
from model_studio.core.chat.transformers import placement_kwargs
from model_studio.core.fit import GPU_HEADROOM, GPU_OVERHEAD, GpuFree, ModelShape, estimate
from model_studio.core.placement import place
from tests.engine.test_chat import write_gguf
from tests.fixtures import nvml

GiB = 1 << 30
SHAPE = ModelShape(parameters=8_000_000_000, weights_bytes=4 * GiB, n_layers=32, n_kv_heads=8, head_dim=128,
                   context_length=8192, quantization="Q4_K_M")
GPU_FREE = {"gpu": 12 * GiB, "partial": 3 * GiB, "cpu": GiB // 4}


def _fit(verdict: str):
    fit = estimate("org/model", SHAPE, context=4096, ram_free=64 * GiB,
                   gpus=[GpuFree(0, "Fake GPU", GPU_FREE[verdict], 16 * GiB)])
    assert fit.verdict == verdict, fit.message
    return fit


# The fit verdict (and the user's gpu_layers) -> n_gpu_layers for llama.cpp, (from_pretrained
# extras, device the model is moved to) for transformers.
CASES = [
    # verdict, user's gpu_layers, llama.cpp n_gpu_layers, transformers
    ("gpu", None, -1, ({}, "cuda:0")),
    ("partial", None, "N", "auto"),
    ("cpu", None, 0, ({}, "cpu")),
    ("gpu", 0, 0, ({}, "cpu")),  # the user's CPU-only wins over a GPU that fits
    ("cpu", 12, 12, ({}, "cuda:0")),  # the user's 12 layers win over the CPU verdict
    ("partial", -1, -1, ({}, "cuda:0")),  # every layer, as asked
]


@pytest.mark.parametrize(("verdict", "asked", "layers", "hf"), CASES)
def test_load_arguments_follow_the_fit_verdict_and_the_users_choice_wins(verdict, asked, layers, hf):
    fit = _fit(verdict)
    rooms = {"cuda:0": 3 * GiB, "cpu": 40 * GiB}
    placement = place(fit, fit.total_bytes, gpu_ok=True, requested_layers=asked, rooms=rooms)
    options = LoadOptions(gpu_layers=asked)
    expected_layers = fit.gpu_layers if layers == "N" else layers
    assert 0 < fit.gpu_layers < 32 if verdict == "partial" else True
    kwargs = LlamaCppBackend().load_kwargs(Path("m.gguf"), options, 4096, placement)
    assert kwargs["n_gpu_layers"] == expected_layers
    assert placement.explicit == (asked is not None)
    assert sum(placement.devices.values()) == fit.total_bytes
    if hf == "auto":  # partial: accelerate spreads the layers within the arbiter's room per device
        assert placement_kwargs(placement, options, cuda=True) == (
            {"device_map": "auto", "max_memory": {0: 3 * GiB, "cpu": 40 * GiB}}, None)
        assert set(placement.devices) == {"cuda:0", "cpu"} and placement.devices["cuda:0"] > GPU_OVERHEAD
    else:
        assert placement_kwargs(placement, options, cuda=True) == hf
    assert placement_kwargs(placement, options, cuda=False) == ({}, "cpu")  # no CUDA in this torch


def test_a_backend_without_gpu_support_gets_the_cpu():
    placement = place(_fit("gpu"), 5 * GiB, gpu_ok=False)
    assert (placement.verdict, placement.gpu_layers, placement.devices) == ("cpu", 0, {"cpu": 5 * GiB})
    assert LlamaCppBackend().load_kwargs(Path("m.gguf"), LoadOptions(), 4096, placement)["n_gpu_layers"] == 0


# --- through ChatService, with the arguments llama_cpp.Llama receives ------------------------------


class Recorded(Exception):
    pass


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """llama_cpp.Llama replaced by a recorder (the load then stops), and a GPU build of llama.cpp."""
    calls: list[dict] = []

    def fake_llama(**kwargs):
        calls.append(kwargs)
        raise Recorded

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("needs llama-cpp-python")
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "Llama", fake_llama)
    monkeypatch.setattr(LlamaCppBackend, "gpu_offload", lambda self: True)
    return calls


@pytest.fixture
def gguf_dir(tmp_path: Path) -> Path:
    write_gguf(tmp_path / "models" / "tiny-chat.F32.gguf")
    return tmp_path / "models"


def _engine(tmp_path: Path, gguf_dir: Path) -> Engine:
    return Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                           extra_model_dirs=[str(gguf_dir)], offline=True))


def _gpu_for(verdict: str, tmp_path: Path, gguf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in GPU sized so the tiny model's fit verdict is ``verdict`` (it has two layers)."""
    fake = nvml.install(monkeypatch, (64 * GiB, 64 * GiB))
    with _engine(tmp_path, gguf_dir) as eng:
        fit = eng.library.fit("local/tiny-chat")
    per_layer = (fit.weights_bytes + fit.kv_cache_bytes) / fit.total_layers
    room = {"gpu": 64 * GiB, "partial": GPU_OVERHEAD + 1.5 * per_layer, "cpu": GPU_OVERHEAD / 2}[verdict]
    fake.gpus[0].free = fake.gpus[0].total = int(room / GPU_HEADROOM) + 1
    return fake


@pytest.mark.parametrize(("verdict", "asked", "n_gpu_layers"), [
    ("gpu", None, -1), ("partial", None, 1), ("cpu", None, 0), ("gpu", 1, 1), ("gpu", 0, 0)])
def test_chat_load_hands_llama_cpp_the_layers_of_the_verdict(recorded, tmp_path, gguf_dir, monkeypatch,
                                                            verdict, asked, n_gpu_layers):
    _gpu_for(verdict, tmp_path, gguf_dir, monkeypatch)
    with _engine(tmp_path, gguf_dir) as eng:
        fit = eng.arbiter.fit("local/tiny-chat", eng.library.shape("local/tiny-chat"), context=None)
        assert fit.verdict == verdict, fit.message
        options = {"gpu_layers": asked} if asked is not None else {}
        with pytest.raises(Recorded):
            eng.chat.load("local/tiny-chat", threads=1, **options)
        assert eng.arbiter.holders() == []  # a failed load leaves nothing accounted
    assert recorded[-1]["n_gpu_layers"] == n_gpu_layers
    assert recorded[-1]["n_threads"] == 1 and recorded[-1]["model_path"].endswith("tiny-chat.F32.gguf")


def test_the_loaded_model_reports_its_placement(tmp_path, gguf_dir, monkeypatch):
    """With a GPU that fits it, a model (fake backend that can use the GPU) reports where it went."""
    from tests.engine.test_arbiter import GpuFake

    _gpu_for("gpu", tmp_path, gguf_dir, monkeypatch)
    with _engine(tmp_path, gguf_dir) as eng:
        fake = GpuFake()
        eng.chat.register_backend(fake)
        eng.chat.load("local/tiny-chat", backend="gpu-fake")
        info = eng.chat.loaded()[0]
        assert info["placement"]["verdict"] == "gpu" and info["placement"]["gpu_layers"] == -1
        assert list(info["placement"]["devices"]) == ["cuda:0"]
        assert fake.placements[-1].verdict == "gpu"
        assert [h.device for h in eng.arbiter.holders()] == ["cuda:0"]


def test_without_nvml_a_gpu_build_still_gets_every_layer(recorded, tmp_path, gguf_dir, monkeypatch):
    """No NVML to measure the GPU (nvidia-ml-py missing): llama.cpp gets every layer, as before."""
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with _engine(tmp_path, gguf_dir) as eng:
        assert eng.arbiter.gpus() == []
        with pytest.raises(Recorded):
            eng.chat.load("local/tiny-chat", threads=1)
        with pytest.raises(Recorded):
            eng.chat.load("local/tiny-chat", threads=1, gpu_layers=0)
    assert [c["n_gpu_layers"] for c in recorded] == [-1, 0]
