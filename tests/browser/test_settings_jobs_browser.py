"""Settings and the job center in Chromium.

Settings: the Hugging Face login (the fake Hub's test token: the user shown, the token masked, saved
in the lab's temporary HF_HOME; logout deletes it), then the memory budget changed, saved and
applied (GET /settings and the Running view show it). Job center: a download, a batch and a
training run listed together; the running batch cancelled from there; the finished jobs cleaned up.
Screenshots: artifacts/settings-panel.png, artifacts/job-center.png, artifacts/job-center-cleaned.png.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import open_lab, tid
from tests.fixtures.hub import TEST_TOKEN

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)  # the starter model answers the batch
STARTER = "local/SmolLM2-135M-Instruct"
GGUF = "tiny-org/tiny-llama-GGUF"
SIDEBAR = "#model-studio-sidebar"
GIB = 1024**3


def test_settings_login_and_memory_budget_applied(page, lab):
    open_lab(page, lab)
    panel = open_from_sidebar(page, "settings")  # a main-area panel since the four-tab sidebar
    page.wait_for_selector(f"{panel} {tid('hf-login-form')}", timeout=30_000)

    # The Hugging Face login: checked with whoami, the user shown, the token masked
    page.fill(f"{panel} {tid('hf-token')}", TEST_TOKEN)
    page.click(f"{panel} {tid('hf-login')}")
    page.wait_for_selector(f"{panel} {tid('hf-user')}", timeout=30_000)
    assert page.inner_text(f"{panel} {tid('hf-user')}") == "studio-tester"
    assert page.inner_text(f"{panel} {tid('hf-token-masked')}") == f"hf_…{TEST_TOKEN[-4:]}"
    token_file = Path(lab.env["HF_HOME"]) / "token"
    assert token_file.read_text() == TEST_TOKEN
    assert TEST_TOKEN not in page.content()

    # The memory budget: saved, applied at once
    field = f"{panel} {tid('setting-memory_budget')}"
    page.fill(field, "3")
    page.click(f"{panel} {tid('settings-save')}")
    page.wait_for_selector(f"{panel} {tid('settings-saved')}", timeout=30_000)
    assert page.inner_text(f"{panel} {tid('setting-applied-memory_budget')}").startswith("applied: 3 GiB")
    assert lab.api("GET", "/settings").json()["settings"]["memory_budget"] == 3 * GIB
    # A value past the limit is refused on its field, and nothing changes
    page.fill(field, "2000000")
    page.click(f"{panel} {tid('settings-save')}")
    page.wait_for_selector(f"{panel} {tid('setting-error-memory_budget')}", timeout=30_000)
    assert "memory_budget" in page.inner_text(f"{panel} {tid('setting-error-memory_budget')}")
    assert lab.api("GET", "/settings").json()["settings"]["memory_budget"] == 3 * GIB
    page.fill(field, "3")
    page.wait_for_selector(f"{panel} {tid('backends-table')}", timeout=60_000)
    page.wait_for_selector(f"{panel} {tid('settings-capabilities')}", timeout=60_000)
    shot(page, "settings-panel")

    # The Running view shows the applied budget
    page.click(f"{SIDEBAR} {tid('tab-running')}")
    budget = f"{SIDEBAR} {tid('running-budget')}"
    page.wait_for_selector(budget, timeout=30_000)
    assert page.inner_text(budget) == "budget 3.2 GB"

    # Each value says where it comes from; an edit of settings.json by hand is read with Reload
    assert page.inner_text(f"{panel} {tid('setting-source-memory_budget')}") == "changed here"
    assert page.inner_text(f"{panel} {tid('setting-source-idle_ttl')}") == "default"
    settings_file = Path(lab.env["MODEL_STUDIO_HOME"]) / "settings.json"
    saved = json.loads(settings_file.read_text())
    settings_file.write_text(json.dumps({**saved, "idle_ttl": 1234, "files_per_download": "many"}))
    page.click(f"{panel} {tid('settings-reload')}")
    page.wait_for_selector(f"{panel} {tid('settings-reloaded')}", timeout=30_000)
    assert "idle_ttl" in page.inner_text(f"{panel} {tid('settings-reloaded')}")
    assert "files_per_download" in page.inner_text(f"{panel} {tid('settings-file-error')}")
    assert page.inner_text(f"{panel} {tid('setting-source-idle_ttl')}") == "from settings.json"
    assert lab.api("GET", "/settings").json()["settings"]["idle_ttl"] == 1234
    shot(page, "settings-reloaded")

    # Logout deletes the saved token (the settings panel stays open in the main area)
    page.click(f"{panel} {tid('hf-logout')}")
    page.wait_for_selector(f"{panel} {tid('hf-login-form')}", timeout=30_000)
    assert not token_file.exists()
    assert not page.errors, page.errors


def test_job_center_lists_every_kind_cancels_one_and_cleans_up(page, lab):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    from model_studio.core.jobs import JobState, JobStore

    # Given a completed download, a failed training run (a row, as a run that failed leaves it)
    # and a batch running on the starter model
    r = lab.api("POST", "/downloads", json={"model": GGUF, "quantization": "Q8_0"})
    assert r.status_code in (200, 202), r.text
    download = r.json()["id"]
    store = JobStore(Path(lab.env["MODEL_STUDIO_HOME"]) / "state.sqlite")
    try:
        run = store.create("train", {"base": "tiny-org/tiny-llama", "dataset": "tiny"}, title="LoRA on tiny-llama")
        store.set_state(run.id, JobState.RUNNING)
        store.set_state(run.id, JobState.FAILED, error={"type": "StudioError", "message": "out of memory",
                                                        "details": {}, "resolution_steps": []})
    finally:
        store.close()
    prompts = [f"Write {n} lines about the sea." for n in range(80)]
    r = lab.api("POST", "/batches", json={"model": STARTER, "prompts": prompts, "max_tokens": 64})
    assert r.status_code == 202, r.text
    batch = r.json()["id"]

    open_lab(page, lab, "/lab/workspaces/job-center")  # a fresh layout: the sidebar starts closed
    center = f"{open_from_sidebar(page, 'jobs')} {tid('job-center')}"  # a main-area panel
    for job_id, kind in ((download, "download"), (run.id, "train"), (batch, "batch")):
        page.wait_for_selector(f"{center} {tid('jc-job-' + job_id)}[data-kind='{kind}']", timeout=60_000)
    page.wait_for_selector(f"{center} {tid('jc-job-' + download)}[data-state='completed']", timeout=60_000)
    page.wait_for_selector(f"{center} {tid('jc-job-' + batch)}[data-state='running']", timeout=60_000)
    assert page.inner_text(f"{center} {tid('jc-kind-' + run.id)}") == "Training"
    # Filters: by kind, by text
    page.select_option(f"{center} {tid('jc-filter-kind')}", "train")
    page.wait_for_selector(f"{center} {tid('jc-job-' + download)}", state="detached", timeout=30_000)
    assert page.query_selector(f"{center} {tid('jc-job-' + run.id)}")
    page.select_option(f"{center} {tid('jc-filter-kind')}", "")
    page.fill(f"{center} {tid('jc-filter-text')}", "tiny-llama-GGUF")
    page.wait_for_selector(f"{center} {tid('jc-job-' + batch)}", state="detached", timeout=30_000)
    page.fill(f"{center} {tid('jc-filter-text')}", "")
    page.wait_for_selector(f"{center} {tid('jc-job-' + batch)}", timeout=30_000)
    shot(page, "job-center")

    # When the running batch is cancelled from the job center
    page.click(f"{center} {tid('jc-cancel-' + batch)}")
    page.wait_for_selector(f"{center} {tid('jc-job-' + batch)}[data-state='cancelled']", timeout=60_000)
    assert lab.api("GET", f"/jobs/{batch}").json()["state"] == "cancelled"

    # When the finished jobs are cleaned up (0 days: every finished job), they are gone
    page.fill(f"{center} {tid('jc-cleanup-days')}", "0")
    page.click(f"{center} {tid('jc-cleanup-run')}")
    page.wait_for_selector(f"{center} {tid('jc-cleanup-preview')}", timeout=30_000)
    assert page.inner_text(f"{center} {tid('jc-cleanup-preview')}") == "3 job(s)"
    page.click(f"{center} {tid('jc-cleanup-confirm')}")
    page.wait_for_selector(f"{center} {tid('jc-cleanup-done')}", timeout=30_000)
    for job_id in (download, run.id, batch):
        page.wait_for_selector(f"{center} {tid('jc-job-' + job_id)}", state="detached", timeout=30_000)
    assert lab.api("GET", "/jobs").json()["jobs"] == []
    # The downloaded model stays in the library
    assert GGUF in {m["id"] for m in lab.api("GET", "/library/local").json()["models"]}
    shot(page, "job-center-cleaned")
    assert not page.errors, page.errors
