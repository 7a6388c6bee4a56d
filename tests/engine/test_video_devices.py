"""Video on the right GPU: the planner splits a pipeline across GPUs (diffusers' device_map="balanced")
when no single GPU holds it without offload, and ``device="auto"`` picks the GPU with the most free
memory. GPUs come from a stand-in NVML module; nothing is loaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.units import human_size
from model_studio.core.video import GiB, PipelineProfile, plan
from model_studio.core.video.split import balanced_map, max_memory
from model_studio.errors import ValidationError
from tests.fixtures import nvml

CATALOG = Path(__file__).resolve().parents[2] / "src" / "model_studio" / "core" / "catalog.json"
WAN5 = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"


def _profile(model_id: str) -> PipelineProfile:
    entry = next(m for m in json.loads(CATALOG.read_text())["models"] if m["id"] == model_id)
    return PipelineProfile.from_catalog(entry)


def _gpus(*free_gib: int) -> list[dict]:
    return [{"device": f"cuda:{i}", "name": "Fake GPU", "free": f * GiB, "total": 16 * GiB}
            for i, f in enumerate(free_gib)]


def test_balanced_map_deals_components_as_diffusers_does():
    # Given diffusers' rule (largest first, GPUs by free memory, zigzag a, b, b, a), when three
    # components are placed on two equal GPUs, then the two smaller ones share the second GPU
    sizes = {"vae": 3, "text_encoder": 11, "transformer": 9}
    assert balanced_map(sizes, {"cuda:0": 16, "cuda:1": 16}) == {
        "text_encoder": "cuda:0", "transformer": "cuda:1", "vae": "cuda:1"}
    # the GPU with more room is dealt first; a component no GPU can take goes to the CPU
    assert balanced_map(sizes, {"cuda:0": 12, "cuda:1": 20})["text_encoder"] == "cuda:1"
    assert balanced_map({"big": 30, "small": 1}, {"cuda:0": 16, "cuda:1": 16})["big"] == "cpu"
    assert max_memory({"cuda:0": 5, "cuda:1": 7}) == {0: 5, 1: 7}


def test_wan22_5b_splits_across_two_16gib_gpus_where_one_needs_offload():
    profile = _profile(WAN5)
    kwargs = dict(width=832, height=480, num_frames=121, device="cuda:0", free_bytes=16 * GiB,
                  device_name="Fake GPU", ram_free=64 * GiB)
    # Given one 16 GiB GPU, Wan 2.2 5B (24 GB of weights) needs model offload
    single = plan(profile, **kwargs)
    assert single.strategy.name == "model_offload" and single.strategy.offload == "model"

    # When the planner may use two 16 GiB GPUs
    split = plan(profile, **kwargs, gpus=_gpus(16, 16))

    # Then it splits the pipeline: the text encoder on one GPU, the transformer and the VAE on the other,
    # VAE tiled (untiled, the decode does not fit beside the transformer)
    s = split.strategy
    assert s.name == "split_gpus_vae_tiling" and s.offload == "balanced" and s.fits
    assert s.device_map == {"text_encoder": "cuda:0", "transformer": "cuda:1", "vae": "cuda:1"}
    assert split.device == "cuda:0,cuda:1" and split.device_name == "2 GPUs (cuda:0, cuda:1)"
    assert split.free_bytes == 32 * GiB and split.total_bytes == 32 * GiB
    # per-device peaks, computed from the profile then frozen: 13.5 GB and 16.7 GB (10% safety and
    # 0.75 GiB CUDA overhead included), each under its GPU's 17.2 GB (16 GiB)
    peaks = s.device_peaks
    assert peaks == {"cuda:0": 13494569369, "cuda:1": 16729126638}
    assert all(peaks[d] <= 16 * GiB for d in peaks) and s.peak_bytes == max(peaks.values())
    assert s.device_free == {"cuda:0": 16 * GiB, "cuda:1": 16 * GiB}
    # the split rows sit after the single-GPU rows and before the offload rows
    names = [o.name for o in split.options]
    assert names[:5] == ["gpu", "gpu_vae_tiling", "split_gpus", "split_gpus_vae_tiling", "model_offload"]
    assert [o.speed_rank for o in split.options] == list(range(len(names)))
    untiled = split.options[2]
    assert not untiled.fits and "exceeds the free memory of cuda:1" in untiled.reason
    # and the reasoning says where each component goes and each GPU's peak
    text = "\n".join(split.reasoning)
    assert ("Chose split_gpus_vae_tiling: split across 2 GPUs (device_map='balanced'): cuda:0 (Fake GPU): "
            f"text_encoder 11.4 GB + text encoder activations 100.7 MB, peak {human_size(peaks['cuda:0'])} of "
            "17.2 GB free; cuda:1 (Fake GPU): transformer + vae 12.8 GB + transformer activations 1.6 GB, "
            f"peak {human_size(peaks['cuda:1'])} of 17.2 GB free; every GPU fits.") in text
    d = split.to_dict()
    assert d["strategy"]["device_peaks"] == peaks and d["fits"] is True


def test_no_split_when_the_split_does_not_fit_either():
    # At 1280x704 the transformer's GPU would need 18.9 GB: the planner keeps one GPU with offload
    result = plan(_profile(WAN5), width=1280, height=704, num_frames=121, device="cuda:0", free_bytes=16 * GiB,
                  device_name="Fake GPU", ram_free=64 * GiB, gpus=_gpus(16, 16))
    assert result.strategy.name == "model_offload_vae_tiling" and result.device == "cuda:0"
    tiled = next(o for o in result.options if o.name == "split_gpus_vae_tiling")
    assert not tiled.fits and tiled.device_peaks["cuda:1"] > 16 * GiB
    assert any(r.startswith("split_gpus_vae_tiling does not fit") for r in result.reasoning)


def test_a_forced_offload_never_splits():
    result = plan(_profile(WAN5), width=832, height=480, num_frames=121, device="cuda:0", free_bytes=16 * GiB,
                  ram_free=64 * GiB, offload="model", gpus=_gpus(16, 16))
    assert result.strategy.name == "model_offload" and result.device == "cuda:0"


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch):
    # cuda:0 has 4 GiB free, cuda:1 12 GiB: the second is the freer one
    return nvml.install(monkeypatch, (16 * GiB, 4 * GiB), (16 * GiB, 12 * GiB))


@pytest.fixture
def eng(tmp_path: Path, two_gpus, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    # 64 GiB of RAM whatever this machine has: offloading needs the weights' bytes in host RAM
    import psutil

    real = psutil.virtual_memory()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: real._replace(available=64 * GiB, total=64 * GiB))
    engine = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"), offline=True,
                             model_host="in_process"))
    yield engine
    engine.close()


def test_auto_picks_the_freer_of_two_gpus_and_a_named_one_is_kept(eng: Engine, two_gpus):
    # When a generation is planned with device="auto", it goes to cuda:1 (12 GiB free)
    auto = eng.video.plan(WAN5, width=832, height=480, num_frames=121, device="auto")
    assert auto["device"] == "cuda:1" and auto["free_bytes"] == 12 * GiB
    assert auto["strategy"]["offload"] == "sequential"  # 12 GiB: the 5B only fits block by block
    devices = eng.video.devices()
    assert [d["device"] for d in devices] == ["auto", "cuda:0", "cuda:1", "cpu"]
    assert devices[0]["picks"] == "cuda:1" and devices[2]["free"] == 12 * GiB
    # When cuda:0 frees up, auto follows the free memory
    two_gpus.gpus[0].free = 15 * GiB
    assert eng.video.plan(WAN5, width=832, height=480, num_frames=121)["device"] == "cuda:0"
    # A named GPU is planned on, whatever is freer
    named = eng.video.plan(WAN5, width=832, height=480, num_frames=121, device="cuda:1")
    assert named["device"] == "cuda:1" and named["device_name"] == "Fake GPU"
    cpu = eng.video.plan(WAN5, width=480, height=480, num_frames=9, device="cpu")
    assert cpu["device"] == "cpu" and cpu["gpu"] is False
    # Without an arbiter attached (an engine that has not built one yet) NVML is read all the same
    eng.video.pipelines.arbiter = None
    two_gpus.gpus[0].free = 2 * GiB
    assert eng.video.plan(WAN5, width=832, height=480, num_frames=121)["device"] == "cuda:1"


def test_auto_splits_across_two_free_gpus(eng: Engine, two_gpus):
    two_gpus.gpus[0].free = two_gpus.gpus[1].free = 16 * GiB
    result = eng.video.plan(WAN5, width=832, height=480, num_frames=121, device="auto")
    assert result["device"] == "cuda:0,cuda:1" and result["strategy"]["name"] == "split_gpus_vae_tiling"
    # a named GPU is never split
    one = eng.video.plan(WAN5, width=832, height=480, num_frames=121, device="cuda:0")
    assert one["device"] == "cuda:0" and one["strategy"]["name"] == "model_offload"


@pytest.mark.parametrize("device", ["cuda:7", "gpu", "", 3])
def test_an_unknown_device_is_refused_with_the_choices(eng: Engine, device):
    with pytest.raises(ValidationError) as info:
        eng.video.plan(WAN5, width=832, height=480, num_frames=121, device=device)
    assert info.value.details["field"] == "device"
    assert info.value.details["choices"] == ["auto", "cpu", "cuda:0", "cuda:1"]


class _SplitPipe:
    """What ``from_pretrained(device_map="balanced")`` returns: components placed, ``hf_device_map`` set."""

    def __init__(self) -> None:
        import torch

        self.components = {"transformer": torch.nn.Linear(64, 64), "text_encoder": torch.nn.Linear(32, 32),
                           "vae": torch.nn.Linear(8, 8), "scheduler": object()}
        self.hf_device_map = {"text_encoder": 0, "transformer": 1, "vae": 1}
        self.vae = self.components["vae"]
        self.moved: list = []

    def set_progress_bar_config(self, **kwargs) -> None:
        pass

    def to(self, *args) -> None:  # diffusers refuses .to() on a device-mapped pipeline
        self.moved.append(args)


def test_a_split_plan_loads_with_device_map_and_is_held_per_gpu(eng: Engine, two_gpus, monkeypatch):
    import diffusers

    calls: list[dict] = []

    def from_pretrained(path, **kwargs):
        calls.append({"path": path, **kwargs})
        return _SplitPipe()

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", staticmethod(from_pretrained))
    for gpu in two_gpus.gpus:  # two 24 GiB GPUs with 18 GiB free: the arbiter keeps some headroom
        gpu.total, gpu.free = 24 * GiB, 18 * GiB
    # Given the plan of a split generation (as generate() stores it in the job)
    plan_ = eng.video.plan(WAN5, width=832, height=480, num_frames=121, device="auto")
    s = plan_["strategy"]
    p = {"path": "/models/wan", "revision": None, "model": WAN5,
         "plan": {"device": plan_["device"], "offload": s["offload"], "dtype": plan_["dtype"],
                  "vae_tiling": s["vae_tiling"], "vae_slicing": s["vae_slicing"], "peak_bytes": s["peak_bytes"],
                  "device_peaks": s["device_peaks"], "device_map": s["device_map"], "split_free": s["device_free"]}}
    # When the pipeline is loaded for it
    pipe = eng.video.pipelines.pipeline(p, plan_["device"])
    # Then diffusers places it: device_map="balanced" with the free memory the plan was made for, no .to()
    assert len(calls) == 1 and calls[0]["device_map"] == "balanced"
    assert calls[0]["max_memory"] == {0: 18 * GiB, 1: 18 * GiB} and pipe.moved == []
    # and the arbiter sees its bytes on each GPU, not on a made-up "cuda:0,cuda:1" device
    held = {h.device: h.bytes for h in eng.arbiter.holders() if h.kind == "video"}
    assert held == {"cuda:0": 32 * 33 * 4, "cuda:1": (64 * 65 + 8 * 9) * 4}
    assert [d["device"] for d in eng.video.loaded()] == ["cuda:0,cuda:1"]
    eng.video.unload()
    assert not [h for h in eng.arbiter.holders() if h.kind == "video"]
