"""engine.video on the tiny Wan, LTX-Video and CogVideoX pipelines served by the fake Hub.

Each pipeline is downloaded through the engine, generates an MP4 whose frames and size are read
back from the file, and the same seed gives the same frames. Cancel stops at the step it was asked
at and leaves no MP4; bad input is refused before anything loads.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from model_studio.core import Engine, JobState  # noqa: E402
from model_studio.errors import NotFoundError, ResourceError, ValidationError  # noqa: E402
from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402

WAN, LTX, COG = TINY_VIDEO_REPOS["wan"], TINY_VIDEO_REPOS["ltx"], TINY_VIDEO_REPOS["cogvideox"]
WAN22 = TINY_VIDEO_REPOS["wan22"]


def read_mp4(path: str | Path):
    """Frames of an MP4 as a uint8 array (frames, height, width, 3), decoded by ffmpeg."""
    import imageio.v3 as iio

    return iio.imread(str(path), plugin="FFMPEG")


def png_bytes(color=(200, 40, 40), size=(32, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def local(engine: Engine):
    def fetch(repo: str) -> str:
        engine.downloads.start(repo).wait(timeout=120)
        return repo

    return fetch


def _defaults(repo: str, **overrides):
    d = dict(TINY_VIDEO_DEFAULTS[repo])
    return {"width": d["width"], "height": d["height"], "num_frames": d["num_frames"], "steps": d["steps"],
            **overrides}


@pytest.mark.parametrize("repo", [WAN, LTX, COG])
def test_tiny_pipeline_downloads_and_generates_an_mp4(engine: Engine, local, fake_hub, repo):
    local(repo)
    models = {m["id"]: m for m in engine.video.models()}
    assert models[repo]["local"] is True and models[repo]["revision"] == fake_hub.tiny_repos[repo]
    job = engine.video.generate(repo, "a red fox runs in the snow", seed=7, fps=8, **_defaults(repo))
    assert job.kind == "video" and job.params["seed"] == 7
    job = job.wait(timeout=180)
    assert job.state == JobState.COMPLETED, job.error
    d = TINY_VIDEO_DEFAULTS[repo]
    frames = read_mp4(job.result["video"])
    assert frames.shape == (d["num_frames"], d["height"], d["width"], 3)
    assert job.result["frames"] == d["num_frames"] and job.result["fps"] == 8
    assert job.progress.done == job.progress.total == d["steps"]
    out_dir = Path(job.result["video"]).parent
    assert sorted(p.name for p in out_dir.iterdir()) == ["params.json", "thumbnail.jpg", "video.mp4"]
    assert (out_dir / "thumbnail.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    record = json.loads((out_dir / "params.json").read_text())
    assert record["seed"] == 7 and record["prompt"] == "a red fox runs in the snow"
    assert record["revision"] == fake_hub.tiny_repos[repo] and record["model"] == repo
    assert record["num_frames"] == d["num_frames"] and record["plan"]["device"] == "cpu"
    assert "diffusers" in record["versions"]


def test_the_same_seed_gives_the_same_frames_and_another_seed_does_not(engine: Engine, local):
    local(WAN)
    runs = [engine.video.generate(WAN, "waves on a beach", seed=s, **_defaults(WAN)).wait(timeout=120)
            for s in (11, 11, 12)]
    a, b, c = (read_mp4(j.result["video"]) for j in runs)
    assert (a == b).all()
    assert not (a == c).all()
    # one pipeline was loaded and reused for all three
    assert len(engine.video.loaded()) == 1


def test_image_to_video_through_the_sibling_pipeline(engine: Engine, local):
    local(LTX)
    model = {m["id"]: m for m in engine.video.models()}[LTX]
    assert model["image_to_video"] is True
    job = engine.video.generate(LTX, "the picture comes alive", image=png_bytes(), seed=3, **_defaults(LTX))
    job = job.wait(timeout=120)
    assert job.params["task"] == "image-to-video"
    assert Path(job.params["image"]).name == "input.png" and Path(job.params["image"]).is_file()
    assert read_mp4(job.result["video"]).shape[0] == TINY_VIDEO_DEFAULTS[LTX]["num_frames"]


@pytest.mark.parametrize("how", ["in-process", "job store"])
def test_cancel_at_a_chosen_step_ends_promptly_without_an_mp4(engine: Engine, local, monkeypatch, how):
    local(WAN)
    service = engine.video
    seen: list[int] = []
    original = service._progress

    def progress(control, done, total, phase, rate):
        original(control, done, total, phase, rate)
        if phase == "denoising":
            seen.append(done)
        if done == 3 and phase == "denoising":  # the user presses Cancel while step 3 is shown
            if how == "in-process":
                service.cancel(control.job_id)
            else:  # another process (the server, another kernel) asks through the store
                engine.jobs.request(control.job_id, "cancel")

    monkeypatch.setattr(service, "_progress", progress)
    job = service.generate(WAN, "a long clip", seed=1, **_defaults(WAN, steps=40)).wait(timeout=120,
                                                                                     raise_on_error=False)
    assert job.state == JobState.CANCELLED
    assert max(seen) == 3 and job.progress.done == 3
    assert not (engine.settings.home_path / "outputs" / job.id).exists()
    assert not list((engine.settings.home_path / "outputs").rglob("*.mp4"))


def test_resume_runs_a_cancelled_generation_again_with_its_seed(engine: Engine, local):
    local(WAN)
    first = engine.video.generate(WAN, "a comet", seed=5, **_defaults(WAN)).wait(timeout=120)
    job = engine.video.generate(WAN, "a comet", seed=5, **_defaults(WAN))
    engine.video.cancel(job.id)
    job = job.wait(timeout=60, raise_on_error=False)
    assert job.state == JobState.CANCELLED
    again = engine.video.resume(job.id).wait(timeout=120)
    assert again.id == job.id and again.state == JobState.COMPLETED
    assert (read_mp4(again.result["video"]) == read_mp4(first.result["video"])).all()


def test_gallery_lists_serves_and_deletes(engine: Engine, local):
    local(WAN)
    job = engine.video.generate(WAN, "a lighthouse", seed=2, **_defaults(WAN)).wait(timeout=120)
    assert [j.id for j in engine.video.list()] == [job.id]
    assert engine.video.list("failed") == []
    media = engine.video.media(job.id, "video")
    assert media["mime"] == "video/mp4" and media["bytes"] == Path(job.result["video"]).stat().st_size
    assert engine.video.media(job.id, "thumbnail")["mime"] == "image/jpeg"
    with pytest.raises(NotFoundError):
        engine.video.media(job.id, "image")  # text-to-video has no input image
    with pytest.raises(ValidationError):
        engine.video.media(job.id, "audio")
    gone = engine.video.delete(job.id)
    assert gone["deleted"] == job.id and gone["bytes"] > 0
    assert not Path(job.result["video"]).parent.exists()
    assert engine.video.list() == []
    with pytest.raises(NotFoundError):
        engine.video.get(job.id)


@pytest.mark.parametrize(("kwargs", "field", "nearest"), [
    ({"num_frames": 8}, "num_frames", 9),
    ({"width": 44}, "width", 48),
    ({"height": 20}, "height", 16),
    ({"steps": 0}, "steps", 1),
    ({"guidance": 99.0}, "guidance", 30.0),
])
def test_bad_settings_name_the_constraint_and_the_nearest_value(engine: Engine, local, kwargs, field, nearest):
    local(WAN)
    with pytest.raises(ValidationError) as err:
        engine.video.generate(WAN, "x", **{**_defaults(WAN), **kwargs})
    assert err.value.details["field"] == field
    assert err.value.details["nearest"] == nearest
    assert str(nearest) in err.value.message
    assert engine.video.list() == [] and engine.video.loaded() == []


def test_other_bad_input_is_refused_before_anything_loads(engine: Engine, local, tmp_path):
    local(WAN)
    local(LTX)
    with pytest.raises(ValidationError) as err:
        engine.video.generate(WAN, "x", image=png_bytes(), **_defaults(WAN))
    assert err.value.details["field"] == "image"
    with pytest.raises(ValidationError):
        engine.video.generate(LTX, "x", image=b"not an image", **_defaults(LTX))
    with pytest.raises(NotFoundError) as missing:
        engine.video.generate(LTX, "x", image=str(tmp_path / "nowhere.png"), **_defaults(LTX))
    assert missing.value.details["field"] == "image"
    with pytest.raises(ValidationError):
        engine.video.generate(WAN, "   ", **_defaults(WAN))
    with pytest.raises(ValidationError):
        engine.video.generate(WAN, "x", seed=-1, **_defaults(WAN))
    with pytest.raises(ValidationError):
        engine.video.generate(WAN, "x", offload="turbo", **_defaults(WAN))
    with pytest.raises(NotFoundError):
        engine.video.generate(WAN, "x", lora=str(tmp_path / "missing.safetensors"), **_defaults(WAN))
    assert engine.video.list() == [] and engine.video.loaded() == []


def test_a_model_that_is_not_local_is_offered_for_download(engine: Engine):
    with pytest.raises(NotFoundError) as err:
        engine.video.generate(WAN, "x", **_defaults(WAN))
    assert err.value.details["download"]["model"] == WAN
    assert any("downloads.start" in step for step in err.value.resolution_steps)
    # the catalog's real models are listed (not local) with their defaults, and can be planned
    models = {m["id"]: m for m in engine.video.models()}
    wan = models["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]
    assert wan["local"] is False and wan["defaults"]["num_frames"] == 81 and wan["rules"]["frame_step"] == 4
    plan = engine.video.plan("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert plan["local"] is False and plan["request"]["width"] == 832 and plan["reasoning"]


def test_not_enough_memory_is_refused_before_loading(engine: Engine, local, monkeypatch):
    from model_studio.core.video import service as video_service

    local(WAN)
    gib = 2**30
    monkeypatch.setattr(video_service, "device_memory", lambda: ("cuda:0", "Fake GPU", gib // 64, 8 * gib))
    with pytest.raises(ResourceError) as err:
        engine.video.generate(WAN, "x", **_defaults(WAN))
    assert err.value.details  # the numbers
    assert err.value.resolution_steps
    assert engine.video.list() == [] and engine.video.loaded() == []


def test_lora_weights_change_the_frames_and_are_unloaded_afterwards(engine: Engine, local, tmp_path):
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from diffusers import WanPipeline

    local(WAN)
    folder = engine.library.local.get(WAN).snapshot
    pipe = WanPipeline.from_pretrained(folder)
    pipe.transformer.add_adapter(peft.LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"],
                                                 init_lora_weights=False))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in pipe.transformer.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)
    layers = peft.get_peft_model_state_dict(pipe.transformer)
    WanPipeline.save_lora_weights(str(tmp_path / "lora"), transformer_lora_layers=layers)
    lora = str(tmp_path / "lora")

    base = engine.video.generate(WAN, "a fox", seed=4, **_defaults(WAN)).wait(timeout=120)
    styled = engine.video.generate(WAN, "a fox", seed=4, lora=lora, lora_scale=1.0, **_defaults(WAN)).wait(timeout=120)
    after = engine.video.generate(WAN, "a fox", seed=4, **_defaults(WAN)).wait(timeout=120)
    assert styled.params["lora"] == str(Path(lora).resolve()) and styled.params["lora_scale"] == 1.0
    a, b, c = (read_mp4(j.result["video"]) for j in (base, styled, after))
    assert not (a == b).all()
    assert (a == c).all()


def test_a_chat_model_is_not_taken_for_a_video_pipeline(engine: Engine):
    engine.downloads.start("tiny-org/tiny-llama").wait(timeout=120)
    with pytest.raises(ValidationError) as err:
        engine.video.plan("tiny-org/tiny-llama")
    assert "model_index.json" in err.value.message
    assert "tiny-org/tiny-llama" not in {m["id"] for m in engine.video.models()}


def test_the_mp4_holds_the_pipelines_own_frames(engine: Engine, local, tmp_path):
    """Our MP4 decodes to the same pixels as diffusers' own call + export_to_video (same seed)."""
    torch = pytest.importorskip("torch")
    from diffusers import DiffusionPipeline
    from diffusers.utils import export_to_video

    local(WAN)
    d = TINY_VIDEO_DEFAULTS[WAN]
    job = engine.video.generate(WAN, "a red kite", seed=9, fps=8, **_defaults(WAN)).wait(timeout=120)
    pipe = DiffusionPipeline.from_pretrained(engine.library.local.get(WAN).snapshot)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt="a red kite", width=d["width"], height=d["height"], num_frames=d["num_frames"],
               num_inference_steps=d["steps"], guidance_scale=5.0, output_type="np",
               generator=torch.Generator().manual_seed(9))
    bare = tmp_path / "bare.mp4"
    export_to_video(list(out.frames[0]), str(bare), fps=8)
    ours, theirs = read_mp4(job.result["video"]), read_mp4(bare)
    assert ours.shape == theirs.shape
    assert abs(ours.astype(int) - theirs.astype(int)).max() <= 2, "the MP4 is not the pipeline's output"
    # and the thumbnail is the middle frame (JPEG: close, not exact)
    from PIL import Image

    thumb = Image.open(job.result["thumbnail"]).convert("RGB")
    middle = (out.frames[0][len(out.frames[0]) // 2] * 255).round().astype("uint8")
    import numpy as np

    assert abs(np.asarray(thumb).astype(int) - middle.astype(int)).mean() < 12


def test_the_held_pipeline_is_listed_unloaded_and_freed_when_idle(engine: Engine, local):
    local(WAN)
    engine.video.generate(WAN, "x", seed=1, **_defaults(WAN)).wait(timeout=120)
    [held] = engine.video.loaded()
    assert held["model"] == WAN and held["device"] == "cpu" and held["memory_bytes"] > 10_000
    assert held["busy"] is False and held["idle_seconds"] >= 0
    freed = engine.video.unload()
    assert freed == {"unloaded": [WAN], "freed_bytes": held["memory_bytes"]}
    assert engine.video.loaded() == []
    # an idle time-to-live frees it on its own
    engine.settings.idle_ttl = 0.3
    engine.video.generate(WAN, "x", seed=1, **_defaults(WAN)).wait(timeout=120)
    deadline = time.monotonic() + 10
    while engine.video.loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.video.loaded() == []


def test_energy_comes_from_nvml_where_a_gpu_reports_it(monkeypatch):
    """GpuEnergy (a training worker's per-step GPU Wh) with a stand-in pynvml; the whole job's energy
    is measured by the runner (tests/engine/test_energy.py)."""
    import sys
    import types

    from model_studio.core.energy import GpuEnergy

    monkeypatch.setitem(sys.modules, "pynvml", None)  # no NVML at all: no number rather than a made-up one
    assert GpuEnergy().wh() is None
    counter = {"mj": 1_000_000.0}
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: counter["mj"],
        nvmlDeviceGetPowerUsage=lambda h: 300_000,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    energy = GpuEnergy()
    counter["mj"] += 3.6e6  # 3.6 MJ = 1 Wh on the device's counter
    assert energy.wh() == pytest.approx(1.0)
    # without an energy counter, power samples (300 W) are integrated over time
    def no_counter(_h):
        raise RuntimeError("not supported")

    fake.nvmlDeviceGetTotalEnergyConsumption = no_counter
    sampled = GpuEnergy()
    assert sampled.nvml is not None and sampled.nvml.method == "nvml-power"
    sampled.nvml.last_t -= 36.0  # 36 s at 300 W = 3 Wh
    assert sampled.wh() == pytest.approx(3.0, rel=0.01)


def test_a_failure_while_queueing_leaves_a_failed_job_and_no_files(engine: Engine, local, monkeypatch):
    from model_studio.core.video import outputs as video_outputs

    local(LTX)

    def full_disk(path, write, suffix=""):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(video_outputs, "_atomic_save", full_disk)
    with pytest.raises(OSError):
        engine.video.generate(LTX, "x", image=png_bytes(), **_defaults(LTX))
    [job] = engine.video.list()
    assert job.state == JobState.FAILED and "No space left" in job.error["message"]
    assert not (engine.settings.home_path / "outputs" / job.id).exists()


def test_wan22_ti2v_is_listed_for_both_tasks_with_its_size_rule(engine: Engine, local, fake_hub):
    """Wan 2.2 TI2V (WanPipeline with expand_timesteps): one model, text- and image-to-video, sizes in 32s."""
    local(WAN22)
    model = {m["id"]: m for m in engine.video.models()}[WAN22]
    assert model["local"] is True and model["revision"] == fake_hub.tiny_repos[WAN22]
    assert model["text_to_video"] is True and model["image_to_video"] is True
    assert model["rules"]["size_multiple"] == 32 and model["rules"]["frame_step"] == 4
    with pytest.raises(ValidationError) as err:
        engine.video.generate(WAN22, "x", **_defaults(WAN22, width=48))
    assert err.value.details["field"] == "width" and err.value.details["nearest"] in (32, 64)


def test_wan22_text_to_video(engine: Engine, local):
    local(WAN22)
    d = TINY_VIDEO_DEFAULTS[WAN22]
    job = engine.video.generate(WAN22, "a red fox runs in the snow", seed=7, **_defaults(WAN22)).wait(timeout=120)
    assert job.state == JobState.COMPLETED, job.error
    assert job.params["task"] == "text-to-video"
    assert read_mp4(job.result["video"]).shape == (d["num_frames"], d["height"], d["width"], 3)
    assert job.progress.done == job.progress.total == d["steps"]


def test_wan22_image_to_video_through_wan_image_to_video_pipeline(engine: Engine, local):
    local(WAN22)
    d = TINY_VIDEO_DEFAULTS[WAN22]
    runs = {}
    for color in ((200, 40, 40), (40, 40, 200)):
        job = engine.video.generate(WAN22, "the picture comes alive", image=png_bytes(color), seed=3,
                                    **_defaults(WAN22)).wait(timeout=120)
        assert job.state == JobState.COMPLETED, job.error
        assert job.params["task"] == "image-to-video"
        assert Path(job.params["image"]).name == "input.png" and Path(job.params["image"]).is_file()
        runs[color] = read_mp4(job.result["video"])
        assert runs[color].shape == (d["num_frames"], d["height"], d["width"], 3)
    # the sibling pipeline shares the loaded components (from_pipe) and conditions on the image
    [held] = engine.video.loaded()
    assert held["model"] == WAN22
    assert type(engine.video.pipelines._loaded["cpu"].i2v).__name__ == "WanImageToVideoPipeline"
    assert engine.video.pipelines._loaded["cpu"].i2v.config.expand_timesteps is True
    a, b = runs.values()
    assert not (a == b).all()
    text = engine.video.generate(WAN22, "the picture comes alive", seed=3, **_defaults(WAN22)).wait(timeout=120)
    assert not (read_mp4(text.result["video"]) == a).all()


def test_a_video_too_large_for_a_widget_message_names_its_path(engine: Engine, local, monkeypatch):
    from model_studio.core.video import outputs as video_outputs

    local(WAN)
    job = engine.video.generate(WAN, "x", seed=1, **_defaults(WAN)).wait(timeout=120)
    monkeypatch.setattr(video_outputs, "MAX_MEDIA_BYTES", 100)
    with pytest.raises(ValidationError) as err:
        engine.video.media(job.id, "video")
    assert err.value.details["path"] == job.result["video"]
    assert engine.video.media_path(job.id, "video") == Path(job.result["video"])
