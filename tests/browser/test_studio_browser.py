"""End to end in headless Chromium: the sidebar, then the quickstart notebook with its widgets.

Given a real JupyterLab with the studio installed and its Hub pointed at the fake Hub, a person
searches, downloads (watching progress reach 100%), cancels and resumes another download, deletes
a model, then runs the quickstart notebook and sees the widgets render and a progress bar move.
Screenshots land in artifacts/.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.slow

GGUF = "tiny-org/tiny-llama-GGUF"
LLAMA = "tiny-org/tiny-llama"


KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
CELL_DONE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cell = w.content.widgets[%d];
  return (cell.model.type !== 'code' || !!cell.model.executionCount)
    && w.sessionContext.session.kernel.status === 'idle';
}"""


def tid(value: str) -> str:
    return f'[data-testid="{value}"]'


def job_in(job_id: str, state: str) -> str:
    return f'{tid("job-" + job_id)}[data-state="{state}"]'


def open_lab(page, lab, path: str = "/lab") -> None:
    page.goto(f"{lab.url}{path}?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)


def open_sidebar(page) -> None:
    page.click('.jp-SideBar [data-id="model-studio-sidebar"]')
    page.wait_for_selector(tid("library-panel"), timeout=30_000)


def newest_download(lab, model: str) -> dict:
    jobs = lab.api("GET", "/downloads").json()["downloads"]
    return next(j for j in jobs if j["params"]["repo_id"] == model)


def wait_for_state(lab, job_id: str, state: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = lab.api("GET", f"/downloads/{job_id}").json()
        if job["state"] == state:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} never reached {state}: {job}")


def test_sidebar_search_download_cancel_resume_delete(page, lab, fake_hub_session):
    open_lab(page, lab)
    open_sidebar(page)

    # Search, pick a quantization, download, and watch it complete in the Downloads tab
    page.fill(tid("library-search"), "tiny")
    card = tid(f"model-card-{GGUF}")
    page.wait_for_selector(card, timeout=30_000)
    page.select_option(tid(f"quant-select-{GGUF}"), "Q8_0")
    page.click(tid(f"download-button-{GGUF}"))
    page.click(tid("tab-downloads"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            job = newest_download(lab, GGUF)
            break
        except StopIteration:
            time.sleep(0.2)
    page.wait_for_selector(job_in(job["id"], "completed"), timeout=60_000)
    assert page.get_attribute(tid(f"job-progress-{job['id']}"), "aria-valuenow") == "100"
    assert job["params"]["variant"] == "Q8_0"
    shot(page, "sidebar-downloads")

    # Cancel a slow download from its row, then resume it to completion
    fake_hub_session.add_fault(f"{LLAMA}/model.safetensors", "throttle", bytes_per_s=20_000, times=1)
    try:
        page.click(tid("tab-library"))
        page.fill(tid("library-search"), "tiny-llama")
        page.wait_for_selector(tid(f"download-button-{LLAMA}"), timeout=30_000)
        page.click(tid(f"download-button-{LLAMA}"))
        page.click(tid("tab-downloads"))
        deadline = time.monotonic() + 30
        while True:
            try:
                slow = newest_download(lab, LLAMA)
                break
            except StopIteration:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        page.wait_for_selector(job_in(slow["id"], "running"), timeout=30_000)
        page.click(tid(f"job-cancel-{slow['id']}"))
        page.wait_for_selector(job_in(slow["id"], "cancelled"), timeout=30_000)
        page.click(tid(f"job-resume-{slow['id']}"))
        page.wait_for_selector(job_in(slow["id"], "completed"), timeout=60_000)
    finally:
        fake_hub_session.clear_faults()
    assert wait_for_state(lab, slow["id"], "completed")["result"]["verified"] >= 1

    # Delete one: the dialog shows the bytes to be freed first
    page.click(tid("tab-library"))
    page.fill(tid("library-search"), "tiny")
    page.wait_for_selector(f'{card}[data-status="local"]', timeout=30_000)
    page.click(tid(f"delete-button-{GGUF}"))
    page.wait_for_selector(tid("delete-dialog"))
    freed = int(page.get_attribute(tid("delete-freed-bytes"), "data-bytes"))
    assert freed > 0
    shot(page, "sidebar-delete-dialog")
    page.click(tid("delete-confirm"))
    page.wait_for_selector(f'{card}[data-status="available"]', timeout=30_000)
    local = lab.api("GET", "/library/local").json()["models"]
    assert GGUF not in [m["id"] for m in local]

    # The System tab is live
    page.click(tid("tab-system"))
    page.wait_for_selector(tid("system-cpu-value"), timeout=30_000)
    shot(page, "sidebar-system")
    page.click(tid("tab-library"))
    shot(page, "sidebar-library")

    # It follows the JupyterLab theme: dark theme, dark panel (only --jp-* colours are used)
    def panel_luminance() -> float:
        rgb = page.evaluate("""() => {
          let el = document.querySelector('[data-testid="library-panel"]');
          let c = 'rgba(0, 0, 0, 0)';
          while (el && (c === 'rgba(0, 0, 0, 0)' || c === 'transparent')) {
            c = getComputedStyle(el).backgroundColor; el = el.parentElement;
          }
          return c.match(/[0-9.]+/g).slice(0, 3).map(Number);
        }""")
        return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255

    light = panel_luminance()
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(500)
    dark = panel_luminance()
    shot(page, "sidebar-dark")
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30_000)
    assert light > 0.7 and dark < 0.3, (light, dark)
    assert not page.errors, page.errors


def run_cell(page, index: int) -> str:
    """Run the active cell (it is ``index``) the way a person does, wait until it finished; return its source."""
    source = page.evaluate(f"window.jupyterapp.shell.currentWidget.content.widgets[{index}].model.sharedModel.getSource()")
    page.evaluate(f"window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-cell')")
    page.wait_for_function(CELL_DONE % index, timeout=120_000)
    return source


def test_quickstart_notebook_renders_widgets_and_a_moving_progress_bar(page, lab, fake_hub_session):
    # A slow Hub, so the progress bar has time to move on screen
    fake_hub_session.add_fault(f"{GGUF}/tiny-llama.Q8_0.gguf", "throttle", bytes_per_s=15_000, times=1)
    try:
        open_lab(page, lab, "/lab/tree/quickstart.ipynb")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        cells = page.evaluate("window.jupyterapp.shell.currentWidget.content.widgets.length")
        seen: set[float] = set()
        for index in range(cells):
            source = run_cell(page, index)
            if "%studio pull" not in source or not source.lstrip().startswith("job ="):
                continue
            # The download runs in the background: its progress bar moves while we watch
            bar = page.locator('.jp-OutputArea [data-testid^="job-progress-"]').first
            bar.wait_for(timeout=60_000)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and 100.0 not in seen:
                value = bar.get_attribute("aria-valuenow")
                if value is not None:
                    seen.add(float(value))
                time.sleep(0.1)
            shot(page, "notebook-download-progress")
        assert 100.0 in seen and len(seen) >= 3, f"progress values seen: {sorted(seen)}"
        page.wait_for_selector(f'.jp-OutputArea {tid("library-panel")}', timeout=60_000)
        page.wait_for_selector(f'.jp-OutputArea {tid("system-cpu-value")}', timeout=60_000)
        page.locator(f'.jp-OutputArea {tid("library-panel")}').first.scroll_into_view_if_needed()
        shot(page, "notebook-library-widget")
        studio = page.locator(f'.jp-OutputArea {tid("model-studio")}').last
        studio.scroll_into_view_if_needed()
        # The Studio widget has no main area: every view is one of its tabs
        assert [t.get_attribute("data-testid") for t in studio.locator("[role='tab']").all()][:7] == [
            f"tab-{k}" for k in ("library", "downloads", "chat", "training", "video", "running", "system")]
        shot(page, "notebook-studio-widget")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.count() == 0, errors.all_inner_texts()
    finally:
        fake_hub_session.clear_faults()
    assert not page.errors, page.errors
