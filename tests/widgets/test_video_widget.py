"""``VideoStudio``: the calls it makes (``video.*`` through the kernel engine), its error banner,
the job events it receives (generations only) and its traits; the Studio's video tab.

The tiny Wan pipeline is downloaded from the fake Hub through the engine and generates for real.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

import model_studio  # noqa: E402
from model_studio.core.jobs import JobState  # noqa: E402
from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402
from tests.widgets.test_widgets import call, wait_for  # noqa: E402

WAN = TINY_VIDEO_REPOS["wan"]
TINY = {k: TINY_VIDEO_DEFAULTS[WAN][k] for k in ("width", "height", "num_frames", "steps")}


@pytest.fixture
def wan(studio_engine):
    """The tiny Wan on this machine."""
    job = studio_engine.downloads.start(WAN).wait(timeout=120)
    assert job.state == JobState.COMPLETED, job.error
    return WAN


@pytest.fixture
def widget(studio_engine, monkeypatch):
    """A VideoStudio whose ``send`` is captured into ``widget.sent``; closed after the test."""
    from model_studio.widgets import VideoStudio

    w = VideoStudio()
    w.sent = []
    monkeypatch.setattr(w, "send", w.sent.append)
    yield w
    w.close()


def job_events(widget) -> list[dict]:
    return [m["data"] for m in widget.sent if m.get("kind") == "event" and m.get("type") == "job"]


def test_exports_traits_and_bundle(studio_engine):
    from model_studio.widgets import VideoStudio
    from model_studio.widgets._base import STATIC

    assert "VideoStudio" in model_studio._LAZY_WIDGETS
    assert model_studio.VideoStudio is VideoStudio
    w = VideoStudio(job_id="vid-123", model=WAN)
    try:
        assert (w.job_id, w.model) == ("vid-123", WAN)
        assert "job_id='vid-123'" in repr(w) and WAN in repr(w)
        assert {"job_id", "model"} <= set(w.keys)
        assert w.engine is studio_engine
    finally:
        w.close()
    blank = VideoStudio()
    try:
        assert (blank.job_id, blank.model) == ("", "")
    finally:
        blank.close()
    assert VideoStudio._bundle == "video.js"
    assert VideoStudio._esm  # the bundle (or the missing-bundle message)
    if not (STATIC / "video.js").is_file():
        assert "not built" in str(VideoStudio._esm)


def test_models_and_plan_calls(widget, wan):
    reply = call(widget, "m1", "video.models", {})
    assert reply["kind"] == "result", reply
    models = {m["id"]: m for m in reply["result"]["models"]}
    assert models[WAN]["local"] is True and models[WAN]["rules"]["frame_step"] == 4

    reply = call(widget, "p1", "video.plan", {"model": WAN, **TINY})
    assert reply["kind"] == "result", reply
    plan = reply["result"]
    assert plan["device"] == "cpu" and plan["strategy"]["name"] and plan["reasoning"]
    assert widget.error == {}


def test_a_bad_frame_count_is_a_validation_error_banner(widget, wan):
    reply = call(widget, "b1", "video.plan", {"model": WAN, **{**TINY, "num_frames": 8}})
    assert reply == {"id": "b1", "kind": "error", "error": reply["error"]}
    err = reply["error"]
    assert err["type"] == "ValidationError"
    assert err["details"]["field"] == "num_frames" and err["details"]["nearest"] == 9
    assert "num_frames" in err["message"] and "9" in err["message"]
    assert set(err) == {"type", "message", "details", "resolution_steps"}
    assert widget.error["type"] == "ValidationError"  # the banner
    assert widget.error["details"]["field"] == "num_frames"

    reply = call(widget, "b2", "video.generate", {"model": WAN, "prompt": "x", **{**TINY, "num_frames": 8}})
    assert reply["kind"] == "error" and reply["error"]["type"] == "ValidationError"
    assert reply["error"]["details"]["field"] == "num_frames"
    assert widget.engine.video.list() == []


def test_a_model_that_is_not_local_offers_the_download(widget):
    reply = call(widget, "n1", "video.generate", {"model": WAN, "prompt": "x", **TINY})
    assert reply["kind"] == "error" and reply["error"]["type"] == "NotFoundError", reply
    assert reply["error"]["details"]["download"]["model"] == WAN


def test_generate_pushes_video_job_events_only_and_media_round_trips(widget, wan, studio_engine):
    other = studio_engine.jobs.create("download", {"model": "org/x"}, title="a download")
    reply = call(widget, "g1", "video.generate", {"model": WAN, "prompt": "a red fox", "seed": 3, **TINY})
    assert reply["kind"] == "result", reply
    job = reply["result"]
    assert job["kind"] == "video" and job["params"]["seed"] == 3
    done = studio_engine.jobs.get(job["id"]).wait(timeout=180)
    assert done.state == JobState.COMPLETED, done.error

    events = wait_for(lambda: [e for e in job_events(widget) if e["id"] == job["id"] and e["state"] == "completed"])
    assert events[-1]["result"]["frames"] == TINY["num_frames"]
    pushed = job_events(widget)
    assert pushed and all(e["kind"] == "video" for e in pushed)
    assert other.id not in {e["id"] for e in pushed}
    # the denoising steps arrive as progress
    assert any(e["state"] == "running" and e["progress"]["unit"] == "steps" for e in pushed), pushed

    reply = call(widget, "l1", "video.list", {})
    assert reply["kind"] == "result" and [j["id"] for j in reply["result"]["generations"]] == [job["id"]]
    reply = call(widget, "v1", "video.media", {"job_id": job["id"], "what": "video"})
    assert reply["kind"] == "result", reply
    assert reply["result"]["mime"] == "video/mp4"
    assert base64.b64decode(reply["result"]["base64"]) == Path(done.result["video"]).read_bytes()
    reply = call(widget, "t1", "video.media", {"job_id": job["id"], "what": "thumbnail"})
    assert reply["kind"] == "result" and reply["result"]["mime"] == "image/jpeg"


def test_cancel_call_stops_a_generation(widget, wan, studio_engine):
    reply = call(widget, "g2", "video.generate", {"model": WAN, "prompt": "long", "seed": 1, **{**TINY, "steps": 200}})
    assert reply["kind"] == "result", reply
    job_id = reply["result"]["id"]
    wait_for(lambda: studio_engine.jobs.get(job_id).progress.done >= 1, timeout=120)
    reply = call(widget, "c1", "video.cancel", {"job_id": job_id})
    assert reply["kind"] == "result" and reply["result"]["id"] == job_id, reply
    job = studio_engine.jobs.get(job_id).wait(timeout=60, raise_on_error=False)
    assert job.state == JobState.CANCELLED
    wait_for(lambda: any(e["id"] == job_id and e["state"] == "cancelled" for e in job_events(widget)))


def test_a_job_is_accepted_for_its_id_and_model(wan, studio_engine):
    from model_studio.widgets import VideoStudio

    job = studio_engine.video.generate(WAN, "a comet", seed=5, **TINY)
    w = VideoStudio(job)
    try:
        assert w.job_id == job.id and w.model == WAN
    finally:
        w.close()
    w = VideoStudio(job, model="other-org/other")
    try:
        assert w.job_id == job.id and w.model == "other-org/other"
    finally:
        w.close()
    job.wait(timeout=180)


def test_studio_has_a_video_tab(studio_engine):
    from model_studio.widgets import Studio
    from model_studio.widgets.studio import TABS

    assert "video" in TABS and TABS.index("video") == TABS.index("training") + 1
    s = Studio(tab="video")
    try:
        assert s.tab == "video" and "video" in s.tabs
    finally:
        s.close()
