"""Video in host mode: the engine queues the job in the store, the model host runs it, and the
engine follows it there (progress, result) as the widgets do; the pipeline is held by the host."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from model_studio.core import Engine, JobState  # noqa: E402
from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS  # noqa: E402

from .conftest import stop_and_check  # noqa: E402

WAN = TINY_VIDEO_REPOS["wan"]
pytestmark = pytest.mark.slow


@pytest.fixture
def hosted(settings):
    settings.model_host = "host"
    eng = Engine(settings)
    assert eng.host.enabled
    try:
        yield eng
    finally:
        eng.close()
        stop_and_check(settings)


def test_a_generation_runs_in_the_host_and_is_followed_through_the_store(hosted):
    # Given a local tiny pipeline
    hosted.downloads.start(WAN).wait(timeout=120)
    d = TINY_VIDEO_DEFAULTS[WAN]
    # When a generation is queued from this engine
    job = hosted.video.generate(WAN, "a red fox runs in the snow", seed=7, width=d["width"], height=d["height"],
                                num_frames=d["num_frames"], steps=d["steps"])
    job = job.wait(timeout=600)
    # Then the host ran it (it owns the job) and the result is here, through the store
    host = hosted.host.status()
    assert job.state == JobState.COMPLETED, job.error
    assert job.owner_pid == host["pid"] and job.result["frames"] == d["num_frames"]
    assert job.progress.done == job.progress.total == d["steps"]
    # And the pipeline is held by the host, not by this process
    assert hosted.video.pipelines.loaded() == []
    [held] = hosted.video.loaded()
    assert held["model"] == WAN and held["memory_bytes"] > 10_000
    assert [p["model"] for p in host["pipelines"]] == [WAN]
    assert hosted.video.unload() == {"unloaded": [WAN], "freed_bytes": held["memory_bytes"]}
    assert hosted.video.loaded() == []
