"""The sidebar's Running tab in a lab whose server runs in host mode: the model host and its model.

The lab of this module keeps the starter model visible (``LAB_ENV_DROP``) and runs its server in
host mode (``LAB_ENV``: the test suite pins ``in_process`` elsewhere). A load through REST puts
``local/SmolLM2-135M-Instruct`` in the model host; the Running tab shows the host "up" with its pid
and the model with its bytes; Unload frees it (``GET /host`` lists no model, ``GET /memory`` no chat
holder); Stop host brings the state to "down". The host is always stopped at teardown and its
process is gone. A host killed with SIGSEGV shows "crashed" with its signal and log tail, and the
next load starts a new one (restarts 1). Screenshots: artifacts/sidebar-running-host.png,
artifacts/sidebar-running-host-crashed.png.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from model_studio.core.arbiter import Reservations
from tests.browser.conftest import shot
from tests.browser.shell import SIDEBAR, show_sidebar, tid
from tests.browser.test_studio_browser import KERNEL_IDLE, open_lab, run_cell

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
LAB_ENV = {"MODEL_STUDIO_MODEL_HOST": "host"}
MODEL = "local/SmolLM2-135M-Instruct"


def _host_pid(lab) -> int | None:
    path = Path(lab.env["MODEL_STUDIO_HOME"]) / "host" / "host.json"
    try:
        return json.loads(path.read_text()).get("pid")
    except (OSError, ValueError):
        return None


def _gone(pid: int | None, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return not pid


@pytest.fixture
def host_lab(lab):
    """The lab; its model host stopped afterwards, and no host process left."""
    pids: list[int] = []
    yield lab, pids
    pid = _host_pid(lab)
    stopped = lab.api("POST", "/host/stop")
    assert stopped.status_code == 200, stopped.text
    for p in {*pids, *([pid] if pid else [])}:
        gone = _gone(p)
        if not gone:
            os.kill(p, 9)
        assert gone, f"model host pid {p} still running after POST /host/stop"


def test_running_tab_shows_the_host_and_its_model_unloads_it_and_stops_the_host(page, host_lab):
    lab, pids = host_lab
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    status = lab.api("GET", "/host").json()
    assert status["mode"] == "host", status

    loaded = lab.api("POST", "/chat/load", json={"model": MODEL}, timeout=180)
    assert loaded.status_code == 200, loaded.text
    status = lab.api("GET", "/host").json()
    assert status["state"] == "up" and status["pid"], status
    pids.append(status["pid"])
    assert status["pid"] == _host_pid(lab) and status["pid"] != os.getpid()
    [held] = status["models"]
    assert held["id"] == MODEL and held["memory_bytes"] > 1_000_000, held
    assert psutil.pid_exists(status["pid"])
    # The server's GET /memory is the host's arbiter: the model is held there, by the host's pid
    [chat] = [h for h in lab.api("GET", "/memory").json()["holders"] if h["kind"] == "chat"]
    assert chat["owner"].startswith(MODEL) and chat["pid"] == status["pid"] and chat["bytes"] > 1_000_000, chat

    # A training run's reservation (this process holds it): listed under Memory with a Stop button
    reservation = Reservations(Path(lab.env["MODEL_STUDIO_HOME"]) / "state.sqlite").add(
        "cpu", 64 << 20, "training run tra-browser", "training", job_id="tra-browser")

    open_lab(page, lab)
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('tab-running')}")
    host = f"{SIDEBAR} {tid('running-host')}"
    page.wait_for_selector(f"{host}[data-state='up']", timeout=30_000)
    assert page.inner_text(f"{host} {tid('running-host-state')}") == "up"
    assert page.inner_text(f"{host} {tid('running-host-pid')}") == f"pid {status['pid']}"
    rows = f"{SIDEBAR} {tid('running-list')} > .jp-ModelStudio-job"
    page.wait_for_selector(rows, timeout=30_000)
    assert page.locator(rows).count() == 1
    text = page.inner_text(rows)
    assert held["model"] in text and "cpu" in text, text
    bytes_text = page.inner_text(f"{rows} {tid('running-model-bytes')}")
    assert bytes_text and bytes_text[0].isdigit(), bytes_text
    page.wait_for_selector(f"{SIDEBAR} {tid('running-memory-cpu')}", timeout=30_000)

    # View log: the host's log, in a collapsible
    page.click(f"{host} {tid('running-host-log')}")
    page.wait_for_selector(f"{host} {tid('running-host-logview')} pre", timeout=30_000)
    held_row = f"{SIDEBAR} {tid('running-holder-' + reservation.id)}[data-kind='training']"
    page.wait_for_selector(held_row, timeout=30_000)
    assert "training run tra-browser" in page.inner_text(held_row) and "67.1 MB" in page.inner_text(held_row)
    assert page.inner_text(f"{held_row} {tid('running-holder-free')}") == "Stop"
    shot(page, "sidebar-running-host")
    reservation.release()
    page.wait_for_selector(held_row, state="detached", timeout=30_000)

    page.click(f"{rows} [data-testid^='running-unload-']")
    page.wait_for_selector(rows, state="detached", timeout=60_000)
    page.wait_for_selector(f"{SIDEBAR} {tid('running-empty')}", timeout=30_000)
    after = lab.api("GET", "/host").json()
    assert after["state"] == "up" and after["models"] == [], after
    memory = lab.api("GET", "/memory").json()
    assert not [h for h in memory["holders"] if h["kind"] == "chat"], memory

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"{host} {tid('running-host-stop')}")
    page.wait_for_selector(f"{host}[data-state='down']", timeout=60_000)
    assert lab.api("GET", "/host").json()["state"] == "down"
    assert _gone(status["pid"]), "the host process is still running after Stop host"
    assert not page.query_selector(f"{SIDEBAR} {tid('running-error')}")
    assert not page.errors, page.errors


def test_a_crashed_host_shows_its_signal_and_log_tail_and_the_next_load_restarts_it(page, host_lab):
    lab, pids = host_lab
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    loaded = lab.api("POST", "/chat/load", json={"model": MODEL}, timeout=180)
    assert loaded.status_code == 200, loaded.text
    before = lab.api("GET", "/host").json()
    assert before["state"] == "up", before
    pids.append(before["pid"])
    os.kill(before["pid"], signal.SIGSEGV)
    assert _gone(before["pid"]), "the host did not die of SIGSEGV"

    open_lab(page, lab)
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('tab-running')}")
    host = f"{SIDEBAR} {tid('running-host')}"
    page.wait_for_selector(f"{host}[data-state='crashed']", timeout=30_000)
    crash = f"{host} {tid('running-host-crash')}"
    assert "SIGSEGV" in page.inner_text(f"{crash} summary")
    page.click(f"{crash} summary")
    tail = page.inner_text(f"{crash} pre")
    assert "Segmentation fault" in tail, tail  # faulthandler's lines at the end of the host's log
    assert not page.query_selector(f"{host} {tid('running-host-stop')}")
    shot(page, "sidebar-running-host-crashed")
    status = lab.api("GET", "/host").json()
    assert status["state"] == "crashed" and status["last_crash"]["signal"] == "SIGSEGV", status

    # The next load starts a new host; the view shows it up again, one restart counted
    again = lab.api("POST", "/chat/load", json={"model": MODEL}, timeout=180)
    assert again.status_code == 200, again.text
    after = lab.api("GET", "/host").json()
    assert after["state"] == "up" and after["pid"] != before["pid"] and after["restarts"] == 1, after
    pids.append(after["pid"])
    page.click(f"{SIDEBAR} {tid('running-refresh')}")
    page.wait_for_selector(f"{host}[data-state='up']", timeout=30_000)
    assert page.inner_text(f"{host} {tid('running-host-pid')}") == f"pid {after['pid']}"
    assert "restarts 1" in page.inner_text(f"{host} {tid('running-host-meta')}")
    assert not page.errors, page.errors


def test_the_notebook_studio_widgets_running_tab_shows_the_same_host_and_model(page, host_lab):
    """A kernel under Jupyter uses the host too: its Studio widget's Running tab shows the host the
    server loaded into (same pid, one model)."""
    lab, pids = host_lab
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    loaded = lab.api("POST", "/chat/load", json={"model": MODEL}, timeout=180)
    assert loaded.status_code == 200, loaded.text
    status = lab.api("GET", "/host").json()
    pids.append(status["pid"])
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "import model_studio as ms\nms.Studio(tab='running')"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (lab.root / "running-host.ipynb").write_text(json.dumps(nb))
    open_lab(page, lab, "/lab/tree/running-host.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    run_cell(page, 0)
    host = f".jp-OutputArea {tid('running-host')}"
    page.wait_for_selector(f"{host}[data-state='up']", timeout=60_000)
    assert page.inner_text(f"{host} {tid('running-host-pid')}") == f"pid {status['pid']}"
    rows = f".jp-OutputArea {tid('running-list')} > .jp-ModelStudio-job"
    page.wait_for_selector(rows, timeout=30_000)
    assert page.locator(rows).count() == 1 and status["models"][0]["model"] in page.inner_text(rows)
    shot(page, "widget-running-host")
    assert lab.api("GET", "/host").json()["pid"] == status["pid"]  # one host for the server and the kernel
    assert not page.errors, page.errors
