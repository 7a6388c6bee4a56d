"""The training monitor in a real JupyterLab: a short LoRA run of the starter model, its loss curve
growing while it trains, then the Fine-tune main-area panel listing the run and estimating a new one.

The lab of this module keeps the starter model visible (``LAB_ENV_DROP``), so the run trains the
real ``local/SmolLM2-135M-Instruct`` on the CPU. Screenshots: artifacts/training-monitor.png and
artifacts/panel-training.png.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import KERNEL_IDLE, open_lab, run_cell, tid

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"
STEPS = 24


def _points(page, selector: str) -> int:
    value = page.get_attribute(selector, "data-points")
    return int(value) if value else 0


def test_training_monitor_curve_grows_while_training(page, lab):
    pytest.importorskip("peft")
    source = (
        "import model_studio as ms\n"
        "eng = ms.engine()\n"
        f"job = eng.training.start({json.dumps(MODEL)}, 'data/secret-word.jsonl', steps={STEPS}, "
        "max_seq_length=64, learning_rate=1e-3)\n"
        "ms.TrainingMonitor(run_id=job.id)"
    )
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": source}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (lab.root / "training-browser.ipynb").write_text(json.dumps(nb))
    open_lab(page, lab, "/lab/tree/training-browser.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    run_cell(page, 0)
    panel = f".jp-OutputArea {tid('training-panel')}"
    page.wait_for_selector(panel, timeout=60_000)
    chart = f"{panel} {tid('training-chart')}"
    page.wait_for_selector(chart, timeout=30_000)
    run_row = page.wait_for_selector(f"{panel} [data-testid^='training-run-'][aria-selected='true']", timeout=30_000)
    run_id = run_row.get_attribute("data-testid").removeprefix("training-run-")
    # The curve grows over several samples while the run trains (live, not at the end).
    samples: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        samples.append(_points(page, chart))
        state = page.get_attribute(f"{panel} {tid('training-run-' + run_id)}", "data-state")
        if state in ("failed", "cancelled", "interrupted"):
            err = page.inner_text(f"{panel} {tid('training-detail')}")
            pytest.fail(f"the run ended {state}: {err[:2000]}")
        if state == "completed" and samples[-1] >= STEPS:
            break
        time.sleep(0.25)
    growing = sorted(set(samples))
    assert samples == sorted(samples), samples  # never shrinks
    assert len([n for n in growing if 0 < n < STEPS]) >= 2, samples  # seen part-way, more than once
    assert samples[-1] >= STEPS, samples
    assert page.get_attribute(f"{panel} {tid('training-run-' + run_id)}", "data-state") == "completed"
    progress = page.inner_text(f"{panel} {tid('training-progress')}")
    assert f"step {STEPS} / {STEPS}" in progress and f"run/{run_id}" in progress, progress
    page.wait_for_function(
        f"() => (document.querySelector(`{panel} {tid('training-log')}`)?.textContent || '').length > 20",
        timeout=30_000)
    page.locator(chart).scroll_into_view_if_needed()
    shot(page, "training-monitor")
    assert not page.errors, page.errors

    # The Fine-tune panel (main area, REST + SSE) lists the same run and estimates a new one.
    side = f"{open_from_sidebar(page, 'training')} {tid('training-panel')}"
    page.wait_for_selector(f"{side} {tid('training-run-' + run_id)}[data-state='completed']", timeout=30_000)
    if not page.locator(f"{side} {tid('training-form')}").count():
        page.click(f"{side} {tid('training-new')}")
    page.wait_for_selector(f"{side} {tid('training-base')} option[value='{MODEL}']", state="attached",
                           timeout=30_000)
    page.wait_for_selector(f"{side} {tid('training-dataset')} option[value='secret-word']", state="attached",
                           timeout=30_000)
    page.select_option(f"{side} {tid('training-base')}", MODEL)
    page.select_option(f"{side} {tid('training-dataset')}", "secret-word")
    page.fill(f"{side} {tid('training-steps')}", "200")
    page.wait_for_function(
        f"() => (document.querySelector(`{side} {tid('training-estimate')}`)?.textContent || '').includes('memory')",
        timeout=60_000)
    shot(page, "panel-training")
    # Start from the form, then cancel it while it runs; a cancelled run offers Resume.
    page.click(f"{side} {tid('training-start')}")
    page.wait_for_function(
        f"() => document.querySelectorAll(`{side} [data-testid^='training-run-']`).length === 2", timeout=30_000)
    new_id = next(r["id"] for r in lab.api("GET", "/training/runs").json()["runs"] if r["id"] != run_id)
    row = f"{side} {tid('training-run-' + new_id)}"
    page.wait_for_selector(f"{row}[data-state='running']", timeout=60_000)
    page.wait_for_function(
        f"() => Number(document.querySelector(`{side} {tid('training-chart')}`)?.dataset.points || 0) >= 2",
        timeout=180_000)
    page.click(f"{side} {tid('training-cancel')}")
    page.wait_for_selector(f"{row}[data-state='cancelled']", timeout=120_000)
    page.wait_for_selector(f"{side} {tid('training-resume')}", timeout=10_000)
    # The first run's loss overlays the cancelled one's.
    page.select_option(f"{side} {tid('training-compare')}", run_id)
    page.wait_for_selector(f"{side} {tid('training-chart')}[data-compare-points='{STEPS}']", timeout=30_000)
    assert not page.errors, page.errors
