"""The sidebar's Running tab lists the video pipeline a generation left in memory and unloads it.

A generation with the tiny Wan (through REST) keeps its pipeline on the CPU; the Running tab shows
it under "Video pipelines" (model, device, idle) and its Unload button frees it: the row goes
away and ``GET /video/loaded`` answers an empty list.

Screenshot: artifacts/sidebar-running-video.png.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import shot
from tests.browser.test_studio_browser import open_lab, open_sidebar, tid, wait_for_state

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow

MODEL = "tiny-org/tiny-wan"


def _generate(lab) -> dict:
    download = lab.api("POST", "/downloads", json={"model": MODEL})
    assert download.status_code < 300, download.text
    wait_for_state(lab, download.json()["id"], "completed", timeout=120)
    started = lab.api("POST", "/video", json={"model": MODEL, "prompt": "x", "width": 32, "height": 32,
                                              "num_frames": 9, "steps": 2})
    assert started.status_code < 300, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = lab.api("GET", f"/video/{job_id}").json()
        if job["state"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert job["state"] == "completed", job
    return job


def test_running_tab_lists_the_video_pipeline_and_unloads_it(page, lab):
    _generate(lab)
    held = lab.api("GET", "/video/loaded").json()["pipelines"]
    assert [p["device"] for p in held] == ["cpu"], held
    assert held[0]["model"] == MODEL and held[0]["busy"] is False

    open_lab(page, lab)
    open_sidebar(page)
    page.click(tid("tab-running"))
    row = f"#model-studio-sidebar {tid('running-video-cpu')}"
    page.wait_for_selector(f"{row}[data-busy='false']", timeout=30_000)
    text = page.inner_text(row)
    assert MODEL in text and "cpu" in text and "idle" in text, text
    assert not page.is_disabled(f"{row} {tid('running-video-unload')}")
    shot(page, "sidebar-running-video")

    page.click(f"{row} {tid('running-video-unload')}")
    page.wait_for_selector(row, state="detached", timeout=30_000)
    page.wait_for_selector(f"#model-studio-sidebar {tid('running-video-empty')}", timeout=30_000)
    assert lab.api("GET", "/video/loaded").json() == {"pipelines": []}
    assert not page.query_selector(f"#model-studio-sidebar {tid('running-error')}")
    assert not page.errors, page.errors
