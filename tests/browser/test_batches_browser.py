"""The sidebar's Running tab lists batch jobs with their progress; Cancel and Resume work from there.

A batch of prompts started over REST (the starter model through llama.cpp, kept visible by
``LAB_ENV_DROP``) shows under "Batch jobs" with prompts answered of the total. Cancel stops it with
the answers so far kept; Resume answers only the remaining prompts, and it ends completed with
every answer once, in order. Screenshot: artifacts/sidebar-running-batches.png.
"""

from __future__ import annotations

import importlib.util
import re
import time

import pytest

from tests.browser.conftest import shot
from tests.browser.test_studio_browser import open_lab, open_sidebar, tid

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"
PROMPTS = [f"Count from {n} to {n + 20}, one number per line." for n in range(24)]


def _done(page, row: str) -> int:
    match = re.match(r"(\d+) / (\d+) prompts", page.inner_text(f"{row} [data-testid^='batch-done-']"))
    assert match, page.inner_text(row)
    assert int(match.group(2)) == len(PROMPTS)
    return int(match.group(1))


def test_running_tab_lists_a_batch_and_cancels_and_resumes_it(page, lab):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    # Given a batch started over REST
    r = lab.api("POST", "/batches", json={"model": MODEL, "prompts": PROMPTS, "max_tokens": 48,
                                          "temperature": 0})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]

    # When the Running tab is open, the batch shows with its progress
    open_lab(page, lab)
    open_sidebar(page)
    page.click(tid("tab-running"))
    row = f"#model-studio-sidebar {tid('batch-' + job_id)}"
    page.wait_for_selector(f"{row}[data-state='running']", timeout=60_000)
    deadline = time.monotonic() + 120
    while _done(page, row) < 1:  # the bar moves with the answers
        assert time.monotonic() < deadline, page.inner_text(row)
        time.sleep(0.2)
    assert MODEL in page.inner_text(row)

    # When Cancel is clicked, it stops with the answers so far kept
    page.click(f"{row} {tid('batch-cancel-' + job_id)}")
    page.wait_for_selector(f"{row}[data-state='cancelled']", timeout=30_000)
    assert page.inner_text(f"{row} {tid('batch-state-' + job_id)}") == "cancelled"
    body = lab.api("GET", f"/batches/{job_id}").json()
    kept = len(body["results"])
    assert 1 <= kept < len(PROMPTS), body["job"]
    deadline = time.monotonic() + 10
    while _done(page, row) != kept:  # the row shows what was kept
        assert time.monotonic() < deadline, (page.inner_text(row), kept)
        time.sleep(0.2)
    assert not page.query_selector(f"{row} {tid('batch-cancel-' + job_id)}")
    page.locator(row).scroll_into_view_if_needed()
    shot(page, "sidebar-running-batches")

    # When Resume is clicked, the remaining prompts are answered and it completes
    page.click(f"{row} {tid('batch-resume-' + job_id)}")
    page.wait_for_selector(f"{row}[data-state='completed']", timeout=240_000)
    assert _done(page, row) == len(PROMPTS)
    body = lab.api("GET", f"/batches/{job_id}").json()
    assert [r["index"] for r in body["results"]] == list(range(len(PROMPTS)))
    assert all(r["text"] for r in body["results"])
    assert not page.query_selector(f"#model-studio-sidebar {tid('running-batches-error')}")
    assert not page.errors, page.errors
