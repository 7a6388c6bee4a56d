"""REST: first-last-frame generation (last_image_base64) and the readiness route GET /video/models/{model}."""

from __future__ import annotations

import base64
import io

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from tests.fixtures.video_models import TINY_FLF_REPO, TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402
from tests.server.conftest import assert_error, poll  # noqa: E402

FLF, WAN = TINY_FLF_REPO, TINY_VIDEO_REPOS["wan"]
A14B = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"


def png_base64(color, size=(32, 32)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def tiny(repo: str) -> dict:
    return {k: TINY_VIDEO_DEFAULTS[repo][k] for k in ("width", "height", "num_frames", "steps")}


async def download(api, repo: str) -> None:
    r = await api("POST", "downloads", body={"model": repo})
    assert r.code == 202, r
    job = await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"), 120)
    assert job["state"] == "completed", job


async def test_first_last_frame_over_rest_and_the_refusal(api):
    await download(api, FLF)
    await download(api, WAN)
    first, last = png_base64((200, 20, 20)), png_base64((20, 20, 200))

    # a model that cannot take a last frame: 400 naming it and the models that can, nothing queued
    r = await api("POST", "video", body={"model": WAN, "prompt": "a fox", "image_base64": first,
                                         "last_image_base64": last, **tiny(WAN)})
    assert_error(r, 400, "ValidationError")
    err = r.json["error"]
    assert WAN in err["message"] and FLF in err["message"] and err["details"]["field"] == "last_image"
    r = await api("POST", "video/plan", body={"model": WAN, "has_image": True, "has_last_image": True})
    assert_error(r, 400, "ValidationError")
    r = await api("POST", "video", body={"model": FLF, "prompt": "a fox", "image_base64": first,
                                         "last_image_base64": "not base64!", **tiny(FLF)})
    assert_error(r, 400, "ValidationError")
    assert (await api("GET", "video")).json["generations"] == []

    # the FLF model: planned with both images, generated, both images kept and served
    r = await api("POST", "video/plan", body={"model": FLF, "has_image": True, "has_last_image": True, **tiny(FLF)})
    assert r.code == 200 and r.json["fits"] is True, r
    r = await api("POST", "video", body={"model": FLF, "prompt": "a fox", "image_base64": first,
                                         "last_image_base64": "data:image/png;base64," + last, "seed": 4, **tiny(FLF)})
    assert r.code == 202, r
    job = await poll(api, f"video/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"), 180, interval=0.1)
    assert job["state"] == "completed", job
    assert job["params"]["task"] == "first-last-frame-to-video" and job["params"]["last_image"].endswith("last.png")
    assert job["result"]["frames"] == TINY_VIDEO_DEFAULTS[FLF]["num_frames"]
    from PIL import Image

    for what, color in (("image", (200, 20, 20)), ("last_image", (20, 20, 200))):
        r = await api("GET", f"video/{job['id']}/media", params={"what": what})
        assert r.code == 200 and r.json["mime"] == "image/png", r
        kept = Image.open(io.BytesIO(base64.b64decode(r.json["base64"]))).convert("RGB")
        assert kept.getpixel((5, 5)) == color


async def test_readiness_route_for_a_local_and_a_catalog_model(api):
    r = await api("GET", f"video/models/{A14B}")
    assert r.code == 200, r
    assert r.json["model"] == A14B and r.json["downloaded"]["local"] is False and r.json["ready"] is False
    assert r.json["last_image"] is True and r.json["verified"]["ok"] is None
    assert set(r.json["fits"]) >= {"fits", "strategy", "peak_bytes", "error"}

    await download(api, FLF)
    r = await api("GET", f"video/models/{FLF}")
    assert r.code == 200, r
    body = r.json
    assert body["downloaded"]["local"] is True and body["verified"]["method"] == "download"
    assert body["verified"]["ok"] is True and body["fits"]["fits"] is True and body["fits"]["device"] == "cpu"
    assert body["loaded"]["loaded"] is False and body["ready"] is True

    r = await api("GET", "video/models/nobody/no-such-video-model")
    assert_error(r, 404, "NotFoundError")
