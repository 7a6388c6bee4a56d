"""The model page in Chromium: opened from a model card in the sidebar's library, it shows the
rendered card (its heading as a heading, its <script> neither run nor in the DOM), the evaluation
results of the card's model-index, the files with sha256 and local badges, and Verify succeeds,
names a bad file, and shows file and bytes progress with Cancel on a large one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.browser.conftest import shot
from tests.browser.test_studio_browser import KERNEL_IDLE, open_lab, open_sidebar, run_cell, tid
from tests.fixtures.cards import CARD_EVAL_RESULTS, CARD_REPO, publish_card_repos

pytestmark = pytest.mark.slow

# JupyterLab's left area is narrow by default; a wider one shows the page's tables whole.
WIDEN_SIDEBAR = """() => {
  const split = window.jupyterapp.shell._hsplitPanel;
  if (split && split.widgets.length === 3) { split.setRelativeSizes([0.6, 0.4, 0]); }
}"""


def _download(lab, model: str, quant: str) -> None:
    job = lab.api("POST", "/downloads", json={"model": model, "quantization": quant}).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = lab.api("GET", f"/downloads/{job['id']}").json()
        if job["state"] == "completed":
            return
        time.sleep(0.2)
    raise AssertionError(f"download never completed: {job}")


def test_model_page_from_a_model_card(page, lab, fake_hub_session):
    publish_card_repos(fake_hub_session)
    _download(lab, CARD_REPO, "Q8_0")
    q8 = next(e for p, e in fake_hub_session.repo_files(CARD_REPO).items() if "Q8_0" in p)

    open_lab(page, lab)
    open_sidebar(page)
    page.fill(tid("library-search"), "tiny-card")
    page.wait_for_selector(tid(f"model-card-{CARD_REPO}"), timeout=30_000)
    page.click(tid(f"open-page-{CARD_REPO}"))
    view = page.wait_for_selector(f'{tid("model-page")} {tid("model-card-view")}', timeout=30_000)

    # The card: its first heading is a real heading; the <script> and onerror are text, never markup
    heading = view.query_selector("h1")
    assert heading is not None and heading.inner_text().strip() == "Tiny Card Model"
    assert view.query_selector("table") is not None  # a GFM table renders as a table
    assert view.query_selector("script") is None and view.query_selector("img") is None
    assert "<script>" in view.inner_text()
    assert page.evaluate("() => window.__cardScriptRan === undefined")

    # The evaluation results of the model-index, the datasets, and the files
    rows = page.query_selector_all(f'{tid("model-eval-results")} tbody tr')
    assert [r.get_attribute("data-metric") for r in rows] == [m for _, _, m, _ in CARD_EVAL_RESULTS]
    assert "tiny-org/tiny-corpus" in page.inner_text(tid("model-datasets"))
    row = page.wait_for_selector(f'{tid("model-files")} tr[data-path="{q8.path}"]')
    assert row.get_attribute("data-local") == "true"
    assert row.query_selector("[data-sha256]").get_attribute("data-sha256") == q8.sha256

    # Verify: progress while it runs, then the verdict
    page.click(tid("page-verify"))
    result = page.wait_for_selector(f'{tid("page-verify-result")}[data-ok="true"]', timeout=30_000)
    assert "1 file match" in result.inner_text()
    page.evaluate(WIDEN_SIDEBAR)  # room for the screenshots only
    shot(page, "model-page")
    page.eval_on_selector(tid("model-section-card"), "el => el.scrollIntoView()")
    shot(page, "model-page-card")

    # A byte flipped on disk: Verify names the bad file
    blob = Path(lab.env["HF_HUB_CACHE"]) / f"models--{CARD_REPO.replace('/', '--')}" / "blobs" / q8.sha256
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    page.click(tid("page-verify"))
    bad = page.wait_for_selector(f'{tid("page-verify-result")}[data-ok="false"] {tid("page-bad-file")}',
                                 timeout=30_000)
    assert bad.inner_text() == q8.path
    page.wait_for_selector(f'{tid("model-files")} tr[data-path="{q8.path}"][data-bad="true"]')
    page.eval_on_selector(tid("page-verify-result"), "el => el.scrollIntoView()")
    shot(page, "model-page-verify-bad")

    # A large file (the GGUF grown to 3 GiB, sparse): the bar says which file of how many and the
    # bytes hashed, and Cancel stops the job
    with blob.open("r+b") as f:
        f.truncate(3 << 30)
    page.click(tid("page-verify"))
    page.wait_for_function(
        "() => /Verifying file 1 of 1: .*Q8_0.* of 3\\.2 GB/.test("
        "document.querySelector('[data-testid=\"page-verify-files\"]')?.textContent ?? '')", timeout=60_000)
    page.eval_on_selector(tid("page-verify-running"), "el => el.scrollIntoView()")
    shot(page, "model-page-verify-progress")
    page.click(tid("page-verify-cancel"))
    page.wait_for_selector(tid("page-verify-running"), state="detached", timeout=30_000)
    jobs = lab.api("GET", "/jobs", params={"kind": "verify"}).json()["jobs"]
    assert [j["state"] for j in jobs][0] == "cancelled", jobs
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_model_page_widget_in_a_notebook(page, lab, fake_hub_session):
    publish_card_repos(fake_hub_session)
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "page", "metadata": {}, "outputs": [],
                   "source": f'import model_studio as ms\nms.ModelPage("{CARD_REPO}")'}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (lab.root / "model_page.ipynb").write_text(json.dumps(notebook))
    open_lab(page, lab, "/lab/tree/model_page.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    run_cell(page, 0)
    output = f'.jp-OutputArea {tid("model-page")}'
    page.wait_for_selector(f'{output} {tid("model-eval-results")}', timeout=60_000)
    heading = page.wait_for_selector(f'{output} {tid("model-card-view")} h1')
    assert heading.inner_text().strip() == "Tiny Card Model"
    # No host to navigate in a bare widget: no Chat/Fine-tune/Video buttons, Copy as code stays
    assert page.query_selector(f'{output} {tid("page-chat")}') is None
    assert page.query_selector(f'{output} {tid("page-copy-code")}') is not None
    shot(page, "model-page-widget")
    assert not page.errors, page.errors  # type: ignore[attr-defined]
