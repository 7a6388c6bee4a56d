"""REST: /model-studio/api/video on the tiny Wan pipeline, through a real Jupyter server.

The model is downloaded through POST /downloads, planned, generated (202 then polled), listed,
served as a file (whole and by HTTP Range), as base64 through the media operation, cancelled and
deleted; bad input answers 400/404/507 in the error shape, and nothing answers without a token.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402
from tests.server.conftest import API, assert_error, poll  # noqa: E402

WAN = TINY_VIDEO_REPOS["wan"]
TINY = {k: TINY_VIDEO_DEFAULTS[WAN][k] for k in ("width", "height", "num_frames", "steps")}
UNKNOWN = "vid-000000000000"


def png_base64(color=(200, 40, 40), size=(32, 32)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


async def download_wan(api) -> dict:
    r = await api("POST", "downloads", body={"model": WAN})
    assert r.code == 202, r
    job = await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"), 120)
    assert job["state"] == "completed", job
    return job


async def generate(api, **body) -> dict:
    r = await api("POST", "video", body={"model": WAN, "prompt": "a red fox runs in the snow", **TINY, **body})
    assert r.code == 202, r
    assert r.json["kind"] == "video" and r.json["state"] in ("queued", "running", "completed"), r.json
    return r.json


async def finished(api, job_id: str, timeout: float = 180.0) -> dict:
    return await poll(api, f"video/{job_id}", lambda j: j["state"] in ("completed", "failed", "cancelled"),
                      timeout, interval=0.1)


async def test_download_plan_generate_list_serve_and_delete(api, engine_of):
    # Given the tiny Wan downloaded through REST
    await download_wan(api)

    # Then it is listed as a local video model with its rules and size presets
    r = await api("GET", "video/models")
    assert r.code == 200, r
    models = {m["id"]: m for m in r.json["models"]}
    wan = models[WAN]
    assert wan["local"] is True and wan["family"] == "wan" and wan["text_to_video"] is True
    assert wan["image_to_video"] is False
    assert wan["rules"]["frame_step"] == 4 and wan["rules"]["frame_offset"] == 1
    assert wan["rules"]["size_multiple"] == 16
    assert isinstance(wan["presets"], list) and wan["presets"]
    assert all({"label", "width", "height"} <= set(p) for p in wan["presets"])

    # and it can be planned: on the CPU here, with a strategy and the reasons for it
    r = await api("POST", "video/plan", body={"model": WAN, **TINY})
    assert r.code == 200, r
    plan = r.json
    assert plan["device"] == "cpu" and plan["gpu"] is False and plan["fits"] is True
    assert plan["strategy"]["name"] and plan["strategy"]["offload"] == "cpu"
    assert plan["reasoning"] and all(isinstance(line, str) for line in plan["reasoning"])

    # When a generation is queued (202) and polled to the end
    job = await generate(api, seed=7, fps=8)
    done = await finished(api, job["id"])
    # Then it completed with its settings and an MP4 on disk
    assert done["state"] == "completed", done
    assert done["params"]["seed"] == 7 and done["params"]["num_frames"] == TINY["num_frames"]
    assert done["progress"]["done"] == done["progress"]["total"] == TINY["steps"]
    video = Path(done["result"]["video"])
    assert video.is_file() and done["result"]["frames"] == TINY["num_frames"] and done["result"]["fps"] == 8

    # and the gallery lists it
    r = await api("GET", "video")
    assert r.code == 200 and [j["id"] for j in r.json["generations"]] == [job["id"]], r
    r = await api("GET", "video", params={"state": "failed"})
    assert r.code == 200 and r.json["generations"] == []

    # and the file route serves the whole MP4
    r = await api("GET", f"video/{job['id']}/video.mp4")
    assert r.code == 200, r
    assert r.headers["Content-Type"].startswith("video/mp4")
    assert r.body == video.read_bytes()
    # and a Range of it (what a <video> element asks for when seeking)
    r = await api("GET", f"video/{job['id']}/video.mp4", headers={"Range": "bytes=0-99"})
    assert r.code == 206, r
    assert r.headers["Content-Range"] == f"bytes 0-99/{video.stat().st_size}"
    assert len(r.body) == 100 and r.body == video.read_bytes()[:100]

    # and the thumbnail is a JPEG
    r = await api("GET", f"video/{job['id']}/thumbnail.jpg")
    assert r.code == 200, r
    assert r.body[:3] == b"\xff\xd8\xff" and r.headers["Content-Type"].startswith("image/jpeg")

    # and the media operation (for widgets) answers the same bytes as base64
    r = await api("GET", f"video/{job['id']}/media", params={"what": "video"})
    assert r.code == 200, r
    assert r.json["mime"] == "video/mp4" and r.json["bytes"] == video.stat().st_size
    assert base64.b64decode(r.json["base64"]) == video.read_bytes()
    r = await api("GET", f"video/{job['id']}/media", params={"what": "thumbnail"})
    assert r.code == 200 and r.json["mime"] == "image/jpeg", r
    assert_error(await api("GET", f"video/{job['id']}/media", params={"what": "image"}), 404, "NotFoundError")

    # When it is deleted, its folder, its listing and its files are gone
    r = await api("DELETE", f"video/{job['id']}")
    assert r.code == 200, r
    assert r.json["deleted"] == job["id"] and r.json["bytes"] > 0
    assert not video.parent.exists()
    assert (await api("GET", "video")).json["generations"] == []
    assert_error(await api("GET", f"video/{job['id']}"), 404, "NotFoundError")
    assert_error(await api("GET", f"video/{job['id']}/video.mp4"), 404)


async def test_unknown_generation_files_are_json_404s(api):
    for path in (f"video/{UNKNOWN}/video.mp4", f"video/{UNKNOWN}/thumbnail.jpg"):
        r = await api("GET", path)
        assert r.code == 404, r
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        assert r.json["error"]["type"] and r.json["error"]["message"]
    assert_error(await api("GET", f"video/{UNKNOWN}"), 404, "NotFoundError")
    assert_error(await api("GET", f"video/{UNKNOWN}/media"), 404, "NotFoundError")


async def test_cancel_a_long_generation_ends_cancelled_without_a_file(api, engine_of, monkeypatch):
    # Given a generation held after its first denoising step until the cancel request has been made
    # (tiny steps are fast enough to finish before a poll sees them otherwise)
    service = engine_of.video
    original = service._progress
    release = threading.Event()

    def progress(control, done, total, phase, rate):
        original(control, done, total, phase, rate)
        if phase == "denoising" and done == 1:
            control.progress(control.last_progress, force=True)  # shown now, not coalesced
            release.wait(120)

    monkeypatch.setattr(service, "_progress", progress)
    await download_wan(api)
    job = await generate(api, steps=200, seed=1)
    try:
        # When it is seen denoising over REST and cancelled
        await poll(api, f"video/{job['id']}", lambda j: j["state"] == "running" and j["progress"]["done"] >= 1,
                   120, interval=0.05)
        r = await api("POST", f"video/{job['id']}/cancel")
        assert r.code == 200, r
        assert r.json["id"] == job["id"]
    finally:
        release.set()
    # Then it ends cancelled at that step, with no video
    done = await finished(api, job["id"], 60)
    assert done["state"] == "cancelled", done
    assert done["progress"]["done"] == 1
    assert_error(await api("GET", f"video/{job['id']}/video.mp4"), 404)
    assert not (engine_of.settings.home_path / "outputs" / job["id"] / "video.mp4").exists()


async def test_bad_frames_name_the_field_and_the_nearest_value(api):
    await download_wan(api)
    err = assert_error(await api("POST", "video/plan", body={"model": WAN, **{**TINY, "num_frames": 8}}), 400,
                       "ValidationError")
    assert err["details"]["field"] == "num_frames" and err["details"]["nearest"] == 9
    assert "9" in err["message"]
    err = assert_error(await api("POST", "video", body={"model": WAN, "prompt": "x", **{**TINY, "num_frames": 8}}),
                       400, "ValidationError")
    assert err["details"]["field"] == "num_frames" and err["details"]["nearest"] == 9
    assert (await api("GET", "video")).json["generations"] == []


async def test_an_image_for_the_text_only_wan_is_400(api):
    await download_wan(api)
    err = assert_error(await api("POST", "video", body={"model": WAN, "prompt": "x", "image_base64": png_base64(),
                                                       **TINY}), 400, "ValidationError")
    assert err["details"]["field"] == "image" or "image" in err["message"], err
    assert (await api("GET", "video")).json["generations"] == []


async def test_missing_prompt_or_model_is_400(api):
    assert_error(await api("POST", "video", body={"model": WAN}), 400, "ValidationError")
    assert_error(await api("POST", "video", body={"prompt": "x"}), 400, "ValidationError")
    assert_error(await api("POST", "video/plan", body={}), 400, "ValidationError")


async def test_a_model_that_is_not_local_is_404_with_the_download(api):
    err = assert_error(await api("POST", "video", body={"model": WAN, "prompt": "x", **TINY}), 404, "NotFoundError")
    assert err["details"]["download"]["model"] == WAN
    assert err["resolution_steps"]
    assert (await api("GET", "video")).json["generations"] == []


async def test_not_enough_memory_is_507_with_resolution_steps(api, monkeypatch):
    from model_studio.core.video import service as video_service

    await download_wan(api)
    monkeypatch.setattr(video_service, "device_memory", lambda: ("cuda:0", "Fake", 1 << 20, 8 << 30))
    err = assert_error(await api("POST", "video", body={"model": WAN, "prompt": "x", **TINY}), 507, "ResourceError")
    assert err["resolution_steps"] and err["details"]
    err = assert_error(await api("POST", "video/plan", body={"model": WAN, **TINY, "offload": "none"}), 507,
                       "ResourceError")
    assert err["resolution_steps"]
    assert (await api("GET", "video")).json["generations"] == []


VIDEO_ROUTES = [("GET", "/video/models"), ("POST", "/video/plan"), ("POST", "/video"), ("GET", "/video"),
                ("GET", f"/video/{UNKNOWN}"), ("POST", f"/video/{UNKNOWN}/cancel"),
                ("POST", f"/video/{UNKNOWN}/resume"), ("DELETE", f"/video/{UNKNOWN}"),
                ("GET", f"/video/{UNKNOWN}/media"), ("GET", f"/video/{UNKNOWN}/video.mp4"),
                ("GET", f"/video/{UNKNOWN}/thumbnail.jpg")]


@pytest.mark.parametrize(("method", "path"), VIDEO_ROUTES, ids=[f"{m} {p}" for m, p in VIDEO_ROUTES])
async def test_every_video_route_refuses_requests_without_a_token(method, path, http_server_client, jp_base_url,
                                                                  engine_of):
    url = f"{jp_base_url.rstrip('/')}/{API}{path}"
    body = b"{}" if method == "POST" else None
    r = await http_server_client.fetch(url, method=method, body=body, raise_error=False,
                                       allow_nonstandard_methods=True, follow_redirects=False, request_timeout=10)
    assert r.code == 403, (r.code, r.body[:200])
    assert b"error" in r.body
    assert engine_of.jobs.list() == []


async def test_the_files_of_a_real_generation_are_refused_without_a_token(api, http_server_client, jp_base_url):
    await download_wan(api)
    job = await generate(api, seed=2)
    assert (await finished(api, job["id"]))["state"] == "completed"
    for name in ("video.mp4", "thumbnail.jpg"):
        url = f"{jp_base_url.rstrip('/')}/{API}/video/{job['id']}/{name}"
        r = await http_server_client.fetch(url, raise_error=False, follow_redirects=False, request_timeout=10)
        assert r.code == 403, (name, r.code)
        assert b"ftyp" not in r.body[:64] and not r.body.startswith(b"\xff\xd8\xff")


async def test_image_to_video_over_rest_keeps_the_input_image(api):
    ltx = TINY_VIDEO_REPOS["ltx"]
    r = await api("POST", "downloads", body={"model": ltx})
    assert r.code == 202, r
    await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] == "completed", 120)
    image = png_base64((10, 200, 90))
    body = {k: TINY_VIDEO_DEFAULTS[ltx][k] for k in ("width", "height", "num_frames", "steps")}
    r = await api("POST", "video", body={"model": ltx, "prompt": "it moves", "image_base64": "data:image/png;base64,"
                                         + image, "seed": 1, **body})
    assert r.code == 202, r
    job = await finished(api, r.json["id"])
    assert job["state"] == "completed", job
    assert job["params"]["task"] == "image-to-video"
    r = await api("GET", f"video/{job['id']}/media", params={"what": "image"})
    assert r.code == 200 and r.json["mime"] == "image/png"
    from PIL import Image

    kept = Image.open(io.BytesIO(base64.b64decode(r.json["base64"]))).convert("RGB")
    assert kept.size == (32, 32) and kept.getpixel((5, 5)) == (10, 200, 90)
