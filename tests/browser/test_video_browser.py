"""The video studio in a real JupyterLab: the VideoStudio widget's form on the tiny Wan pipeline,
a bad frame count refused by the plan, a generation whose progress shows step by step, then a
playing ``<video>``; the Video main-area panel shows the same clip from the REST file route (HTTP
Range) in its gallery, and a second generation is cancelled from the queue.

Screenshots: artifacts/video-widget.png and artifacts/panel-video.png.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import KERNEL_IDLE, open_lab, run_cell, tid

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow

MODEL = "tiny-org/tiny-wan"
PLAYING = """(sel) => {
  const v = document.querySelector(sel);
  return !!v && v.readyState >= 2 && v.videoWidth === 32 && v.videoHeight === 32 && v.duration > 0;
}"""


def _notebook(lab, name: str, source: str) -> None:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (lab.root / name).write_text(json.dumps(nb))


def _fill(page, scope: str, name: str, value: str) -> None:
    page.fill(f"{scope} [name='{name}']", value)


def test_video_widget_form_progress_and_playing_video_then_the_panel_gallery(page, lab):
    _notebook(lab, "video-browser.ipynb", (
        "import model_studio as ms\n"
        f"ms.engine().downloads.start({MODEL!r}).wait()\n"
        f"ms.VideoStudio(model={MODEL!r})"))
    open_lab(page, lab, "/lab/tree/video-browser.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    run_cell(page, 0)
    panel = f".jp-OutputArea {tid('video-panel')}"
    page.wait_for_selector(panel, timeout=60_000)
    page.wait_for_selector(f"{panel} [name='model'] option[value='{MODEL}']", state="attached", timeout=30_000)
    assert page.input_value(f"{panel} [name='model']") == MODEL

    # A frame count the model cannot make: the plan names the rule and Generate is off.
    _fill(page, panel, "width", "32")
    _fill(page, panel, "height", "32")
    _fill(page, panel, "num_frames", "8")
    error = page.wait_for_selector(f"{panel} {tid('video-plan-error')}", timeout=30_000)
    assert "4k+1" in error.inner_text() and "9" in error.inner_text()
    assert page.is_disabled(f"{panel} {tid('video-generate')}")

    # Valid settings: the plan shows the CPU strategy and Generate turns on.
    # 33 frames and 200 steps: long enough (a few seconds) that several steps show on the way
    _fill(page, panel, "num_frames", "33")
    _fill(page, panel, "steps", "200")
    _fill(page, panel, "seed", "42")
    _fill(page, panel, "prompt", "a paper boat on a pond")
    page.wait_for_selector(f"{panel} {tid('video-plan')}[data-fits='true']", timeout=30_000)
    assert "cpu" in page.inner_text(f"{panel} {tid('video-plan-strategy')}").lower()
    page.wait_for_function(f"() => !document.querySelector(`{panel} {tid('video-generate')}`).disabled",
                           timeout=30_000)
    page.click(f"{panel} {tid('video-generate')}")

    # Progress shows while it runs (several distinct steps seen), then the video plays.
    job = page.wait_for_selector(f"{panel} [data-testid^='video-job-'][data-state='running']", timeout=60_000)
    job_id = job.get_attribute("data-testid").removeprefix("video-job-")
    steps_seen: set[str] = set()
    deadline = time.monotonic() + 180
    player = f"{panel} .jms-video-player[data-job-id='{job_id}'] video"
    while time.monotonic() < deadline:
        row = page.query_selector(f"{panel} {tid('video-job-' + job_id)}")
        if row is not None:
            text = row.inner_text()
            steps_seen.update(w for w in text.split() if w.isdigit())
        if page.query_selector(player):
            break
        time.sleep(0.1)
    assert len(steps_seen - {"0", "200"}) >= 2, steps_seen
    page.wait_for_function(PLAYING, arg=player, timeout=60_000)
    settings = page.inner_text(f"{panel} .jms-video-player[data-job-id='{job_id}'] {tid('video-settings')}")
    assert "42" in settings and "32" in settings, settings
    generation = lab.api("GET", f"/video/{job_id}").json()
    assert generation["state"] == "completed" and generation["params"]["seed"] == 42
    assert generation["result"]["frames"] == 33
    page.locator(panel).scroll_into_view_if_needed()
    shot(page, "video-widget")
    assert not page.errors, page.errors

    # The Video panel (main area): the same clip in the gallery, played from the .mp4 route (Range).
    side = f"{open_from_sidebar(page, 'video')} {tid('video-panel')}"
    item = f"{side} {tid('video-item-' + job_id)}"
    page.wait_for_selector(item, timeout=30_000)
    page.locator(item).scroll_into_view_if_needed()  # thumbnails load lazily, when on screen
    page.wait_for_function(
        f"() => {{ const i = document.querySelector(`{item} img`); return !!i && i.complete && i.naturalWidth > 0; }}",
        timeout=30_000)
    page.click(f"{item} {tid('video-item-play')}")
    side_player = f"{side} .jms-video-player[data-job-id='{job_id}'] video"
    page.wait_for_function(PLAYING, arg=side_player, timeout=60_000)
    src = page.get_attribute(side_player, "src")
    assert src and f"/model-studio/api/video/{job_id}/video.mp4" in src

    # Reuse settings fills the form; a long run is then cancelled from the queue.
    page.click(f"{item} {tid('video-reuse')}")
    assert page.input_value(f"{side} [name='prompt']") == "a paper boat on a pond"
    assert page.input_value(f"{side} [name='seed']") == "42"
    _fill(page, side, "steps", "200")
    _fill(page, side, "width", "96")  # 96x96: several seconds of steps, so the cancel lands mid-run
    _fill(page, side, "height", "96")
    _fill(page, side, "prompt", "a slow sunrise")
    page.wait_for_function(f"() => !document.querySelector(`{side} {tid('video-generate')}`).disabled",
                           timeout=30_000)
    page.click(f"{side} {tid('video-generate')}")
    running = page.wait_for_selector(f"{side} [data-testid^='video-job-'][data-state='running']", timeout=60_000)
    second = running.get_attribute("data-testid").removeprefix("video-job-")
    page.wait_for_function(
        f"() => /step ([1-9][0-9]*) \\//.test(document.querySelector(`{side} {tid('video-job-' + second)}`)"
        "?.textContent || '')", timeout=60_000)
    shot(page, "panel-video")
    page.click(f"{side} {tid('video-job-' + second)} {tid('video-cancel')}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and lab.api("GET", f"/video/{second}").json()["state"] != "cancelled":
        time.sleep(0.2)
    assert lab.api("GET", f"/video/{second}").json()["state"] == "cancelled"
    assert lab.api("GET", f"/video/{second}/video.mp4").status_code == 404
    assert not page.errors, page.errors
