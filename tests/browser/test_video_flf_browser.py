"""First-last-frame in the sidebar's Video tab: the last-frame upload shows only for a model that takes
one, the model's readiness shows beside the picker (downloaded, verified, fits, then loaded), and a
generation from both uploaded images keeps them (``last.png``).

Screenshot: artifacts/video-flf.png.
"""

from __future__ import annotations

import io
import time

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import open_lab, tid

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow

FLF, WAN = "tiny-org/tiny-wan-flf", "tiny-org/tiny-wan"


def _png(color) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, format="PNG")
    return buf.getvalue()


def _until(check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_last_frame_upload_readiness_and_a_first_last_frame_generation(page, lab):
    for repo in (FLF, WAN):
        job = lab.api("POST", "/downloads", json={"model": repo}).json()
        _until(lambda job=job: lab.api("GET", f"/downloads/{job['id']}").json()["state"] == "completed")
    open_lab(page, lab)
    side = f"{open_from_sidebar(page, 'video')} {tid('video-panel')}"  # a main-area panel
    page.wait_for_selector(f"{side} [name='model'] option[value='{FLF}']", state="attached", timeout=30_000)

    # A text-to-video model: no image uploads at all
    page.select_option(f"{side} [name='model']", WAN)
    page.wait_for_selector(f"{side} {tid('video-readiness')}[data-ready='true']", timeout=30_000)
    assert page.query_selector(f"{side} {tid('video-last-image-input')}") is None
    assert page.query_selector(f"{side} {tid('video-image-input')}") is None

    # The FLF model: both uploads, and its readiness (downloaded and verified when downloaded, fits, not loaded)
    page.select_option(f"{side} [name='model']", FLF)
    page.wait_for_selector(f"{side} {tid('video-last-image-input')}", state="attached", timeout=30_000)
    ready = f"{side} {tid('video-readiness')}"
    page.wait_for_selector(f"{ready}[data-ready='true'] {tid('video-ready-fits')}[data-state='ok']", timeout=30_000)
    assert page.get_attribute(f"{ready} {tid('video-ready-downloaded')}", "data-state") == "ok"
    assert page.get_attribute(f"{ready} {tid('video-ready-verified')}", "data-state") == "ok"
    assert page.get_attribute(f"{ready} {tid('video-ready-loaded')}", "data-state") == "unknown"
    assert "cpu" in page.inner_text(f"{ready} {tid('video-ready-fits')}").lower()

    page.set_input_files(f"{side} {tid('video-image-input')}",
                         files=[{"name": "a.png", "mimeType": "image/png", "buffer": _png((240, 0, 0))}])
    page.set_input_files(f"{side} {tid('video-last-image-input')}",
                         files=[{"name": "b.png", "mimeType": "image/png", "buffer": _png((0, 0, 240))}])
    page.wait_for_selector(f"{side} {tid('video-last-image-preview')}", timeout=10_000)
    for name, value in (("width", "32"), ("height", "32"), ("num_frames", "9"), ("steps", "3"), ("seed", "6"),
                        ("prompt", "red turns blue")):
        page.fill(f"{side} [name='{name}']", value)
    page.wait_for_selector(f"{side} {tid('video-plan')}[data-fits='true']", timeout=30_000)
    page.wait_for_function(f"() => !document.querySelector(`{side} {tid('video-generate')}`).disabled",
                           timeout=30_000)
    page.click(f"{side} {tid('video-generate')}")
    jobs = _until(lambda: lab.api("GET", "/video").json()["generations"], 30)
    job_id = jobs[0]["id"]
    done = _until(lambda: (j := lab.api("GET", f"/video/{job_id}").json())["state"] in ("completed", "failed") and j)
    assert done["state"] == "completed", done
    assert done["params"]["last_image"].endswith("last.png") and done["params"]["image"].endswith("input.png")
    assert done["result"]["frames"] == 9

    # now held in memory: the readiness view says so
    page.wait_for_selector(f"{ready} {tid('video-ready-loaded')}[data-state='ok']", timeout=30_000)
    page.locator(ready).scroll_into_view_if_needed()
    shot(page, "video-flf")
    assert not page.errors, page.errors
