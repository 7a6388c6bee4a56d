"""First-last-frame video on the tiny Wan FLF2V pipeline (a CLIP image encoder, 36 input channels), and the
readiness view of a video model.

The pipeline comes from the fake Hub; each clip is read back from its MP4. Both input images are kept
beside it and recorded in params.json; the same seed gives the same frames and another last image other
frames; a model that cannot take a last frame refuses one before anything loads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from model_studio.core import Engine, JobState  # noqa: E402
from model_studio.errors import NotFoundError, ValidationError  # noqa: E402
from tests.fixtures.video_models import TINY_FLF_REPO, TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402

FLF = TINY_FLF_REPO
WAN, LTX = TINY_VIDEO_REPOS["wan"], TINY_VIDEO_REPOS["ltx"]
A14B = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"


def read_mp4(path: str | Path):
    import imageio.v3 as iio

    return iio.imread(str(path), plugin="FFMPEG")


def image(color, size=(32, 32)):
    from PIL import Image

    return Image.new("RGB", size, color)


def png_bytes(color, size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    image(color, size).save(buf, format="PNG")
    return buf.getvalue()


def tiny(repo: str, **overrides):
    d = TINY_VIDEO_DEFAULTS[repo]
    return {"width": d["width"], "height": d["height"], "num_frames": d["num_frames"], "steps": d["steps"],
            **overrides}


@pytest.fixture
def local(engine: Engine):
    def fetch(*repos: str) -> None:
        for repo in repos:
            job = engine.downloads.start(repo).wait(timeout=120)
            assert job.state == JobState.COMPLETED, job.error

    return fetch


def test_first_last_frame_keeps_both_images_and_follows_the_last_one(engine: Engine, local, tmp_path):
    local(FLF)
    models = {m["id"]: m for m in engine.video.models()}
    assert models[FLF]["last_image"] is True and models[FLF]["image_to_video"] is True
    assert models[FLF]["text_to_video"] is False and models[FLF]["pipeline"] == "WanImageToVideoPipeline"
    assert models[A14B]["last_image"] is True  # the catalog's Wan 2.2 I2V-A14B takes one too
    last_file = tmp_path / "last.png"
    last_file.write_bytes(png_bytes((20, 40, 220)))
    # the first image as bytes, the last as a path; then as PIL images (the same pixels)
    runs = [
        engine.video.generate(FLF, "a red fox turns blue", image=png_bytes((220, 30, 30)), last_image=str(last_file),
                              seed=5, fps=8, **tiny(FLF)),
        engine.video.generate(FLF, "a red fox turns blue", image=image((220, 30, 30)), last_image=image((20, 40, 220)),
                              seed=5, fps=8, **tiny(FLF)),
        engine.video.generate(FLF, "a red fox turns blue", image=image((220, 30, 30)), last_image=image((30, 220, 40)),
                              seed=5, fps=8, **tiny(FLF)),
    ]
    jobs = [j.wait(timeout=180) for j in runs]
    assert all(j.state == JobState.COMPLETED for j in jobs), [j.error for j in jobs]
    first = jobs[0]
    frames = [read_mp4(j.result["video"]) for j in jobs]
    d = TINY_VIDEO_DEFAULTS[FLF]
    assert frames[0].shape == (d["num_frames"], d["height"], d["width"], 3)
    assert first.result["frames"] == d["num_frames"]
    out_dir = Path(first.result["video"]).parent
    assert sorted(p.name for p in out_dir.iterdir()) == ["input.png", "last.png", "params.json", "thumbnail.jpg",
                                                        "video.mp4"]
    from PIL import Image

    with Image.open(out_dir / "input.png") as im:
        assert im.getpixel((3, 3)) == (220, 30, 30)
    with Image.open(out_dir / "last.png") as im:
        assert im.getpixel((3, 3)) == (20, 40, 220)
    record = json.loads((out_dir / "params.json").read_text())
    assert record["image"] == str(out_dir / "input.png") and record["last_image"] == str(out_dir / "last.png")
    assert record["task"] == "first-last-frame-to-video" and record["seed"] == 5
    assert record["pipeline"] == "WanImageToVideoPipeline" and record["num_frames"] == d["num_frames"]
    # the same images and seed give the same frames (bytes, path or PIL alike); another last image does not
    assert (frames[0] == frames[1]).all()
    assert not (frames[0] == frames[2]).all()
    # the last image is served like the first
    media = engine.video.media(first.id, "last_image")
    assert media["mime"] == "image/png" and media["bytes"] == (out_dir / "last.png").stat().st_size


def test_a_last_image_is_refused_by_models_that_cannot_take_one(engine: Engine, local):
    local(WAN, LTX, FLF)
    for model in (WAN, LTX):  # text-to-video only; image-to-video without a last frame
        with pytest.raises(ValidationError) as err:
            engine.video.generate(model, "a fox", image=png_bytes((1, 2, 3)), last_image=png_bytes((4, 5, 6)),
                                  seed=1, **tiny(model))
        e = err.value
        assert model in e.message and "cannot take a last image" in e.message and FLF in e.message
        assert e.details["field"] == "last_image" and FLF in e.details["models"] and A14B in e.details["models"]
        with pytest.raises(ValidationError, match="cannot take a last image"):
            engine.video.plan(model, has_image=True, has_last_image=True, **tiny(model))
    # FLF2V cannot go without its last frame (its image embedder expects both images' tokens)
    assert engine.video.profile(FLF).last_image_required
    with pytest.raises(ValidationError, match="give the last frame too") as err:
        engine.video.generate(FLF, "a fox", image=png_bytes((1, 2, 3)), seed=1, **tiny(FLF))
    assert err.value.details["field"] == "last_image"
    # a last frame needs a first; an unreadable last frame names its field
    with pytest.raises(ValidationError, match="needs a first image"):
        engine.video.generate(FLF, "a fox", last_image=png_bytes((4, 5, 6)), seed=1, **tiny(FLF))
    with pytest.raises(ValidationError) as err:
        engine.video.generate(FLF, "a fox", image=png_bytes((1, 2, 3)), last_image=b"not an image", seed=1, **tiny(FLF))
    assert err.value.details["field"] == "last_image"
    with pytest.raises(NotFoundError):
        engine.video.generate(FLF, "a fox", image=png_bytes((1, 2, 3)), last_image="/no/such/last.png", **tiny(FLF))
    assert engine.video.list() == [] and engine.video.loaded() == []  # nothing queued, nothing loaded


def test_the_plan_counts_the_image_encoder_on_both_images(engine: Engine, local):
    from model_studio.core.video import GiB, plan

    local(FLF)
    with pytest.raises(ValidationError, match="give the last frame too"):
        engine.video.plan(FLF, has_image=True, **tiny(FLF))
    two = engine.video.plan(FLF, has_image=True, has_last_image=True, **tiny(FLF))
    assert two["fits"] and two["device"] == "cpu" and two["request"]["num_frames"] == 9
    profile = engine.video.profile(FLF)
    assert profile.params["image_encoder"] > 0 and profile.last_image
    assert two["weights_bytes"] == sum(profile.params.values()) * 4  # float32 on the CPU, the encoder included
    # the image encoder runs on both images: its phase's activations double (the weights do not)
    kw = dict(width=32, height=32, num_frames=9, free_bytes=64 * GiB, total_bytes=64 * GiB)
    one_image, two_images = plan(profile, images=1, **kw), plan(profile, images=2, **kw)
    assert one_image.weights_bytes == two_images.weights_bytes
    assert two_images.strategy.peak_bytes > one_image.strategy.peak_bytes
    assert any("image encoder" in o.reason for o in two_images.options)


def test_resume_reuses_both_images(engine: Engine, local, monkeypatch):
    from model_studio.core.video import service as service_module

    local(FLF)
    real = service_module.generate_frames

    def broken(*args, **kwargs):
        raise RuntimeError("the GPU fell off")

    monkeypatch.setattr(service_module, "generate_frames", broken)
    job = engine.video.generate(FLF, "a fox", image=png_bytes((200, 10, 10)), last_image=png_bytes((10, 10, 200)),
                                seed=9, **tiny(FLF)).wait(timeout=120, raise_on_error=False)
    assert job.state == JobState.FAILED and "fell off" in job.error["message"]
    out_dir = Path(job.params["image"]).parent
    assert sorted(p.name for p in out_dir.iterdir()) == ["input.png", "last.png"]  # kept to run again
    monkeypatch.setattr(service_module, "generate_frames", real)
    again = engine.video.resume(job.id).wait(timeout=180)
    assert again.state == JobState.COMPLETED, again.error
    assert again.params["last_image"] == job.params["last_image"] and again.params["seed"] == 9
    assert read_mp4(again.result["video"]).shape[0] == TINY_VIDEO_DEFAULTS[FLF]["num_frames"]
    record = json.loads((out_dir / "params.json").read_text())
    assert record["last_image"] == str(out_dir / "last.png")
    # a generation whose last image is gone cannot run again
    monkeypatch.setattr(service_module, "generate_frames", broken)
    failed = engine.video.generate(FLF, "a fox", image=png_bytes((1, 1, 1)), last_image=png_bytes((2, 2, 2)),
                                   seed=3, **tiny(FLF)).wait(timeout=120, raise_on_error=False)
    assert failed.state == JobState.FAILED
    Path(failed.params["last_image"]).unlink()
    with pytest.raises(NotFoundError, match="last image"):
        engine.video.resume(failed.id)


def test_readiness_of_a_local_and_a_catalog_model(engine: Engine, local):
    # not downloaded: the catalog's A14B, planned from its profile
    r = engine.video.model(A14B)
    assert r["model"] == A14B and r["in_catalog"] is True and r["last_image"] is True
    assert r["downloaded"]["local"] is False and r["downloaded"]["expected_bytes"] > 50 * 2**30
    assert r["verified"]["ok"] is None and r["loaded"]["loaded"] is False and r["ready"] is False
    fits = r["fits"]
    assert (fits["fits"] and fits["strategy"]) or (not fits["fits"] and fits["error"]["type"] == "ResourceError")
    with pytest.raises(NotFoundError):
        engine.video.model("nobody/no-such-video-model")

    # downloaded: verified when downloaded, fits on the CPU, loaded once it generated
    local(FLF)
    r = engine.video.model(FLF)
    assert r["downloaded"]["local"] is True and r["downloaded"]["bytes"] > 0 and r["downloaded"]["revision"]
    assert r["verified"] == {**r["verified"], "ok": True, "method": "download"}
    assert r["fits"]["fits"] is True and r["fits"]["device"] == "cpu" and r["fits"]["strategy"] == "cpu"
    assert r["fits"]["request"]["num_frames"] == engine.video.profile(FLF).defaults["num_frames"]
    assert r["loaded"]["loaded"] is False and r["ready"] is True
    job = engine.video.generate(FLF, "a fox", image=png_bytes((9, 9, 9)), last_image=png_bytes((8, 8, 8)), seed=1,
                                **tiny(FLF)).wait(timeout=180)
    assert job.state == JobState.COMPLETED, job.error
    r = engine.video.model(FLF)
    assert r["loaded"]["loaded"] is True and r["loaded"]["device"] == "cpu" and r["loaded"]["busy"] is False
    # a library verify (sha256 against the Hub) is the last word once made
    assert engine.library.verify(FLF)["ok"] is True
    r = engine.video.model(FLF)
    assert r["verified"]["method"] == "verify" and r["verified"]["ok"] is True
