"""The chat playground widget in a real JupyterLab: a streamed answer from the starter model, stopped.

The lab of this module keeps the starter model visible (``LAB_ENV_DROP``), so
``local/SmolLM2-135M-Instruct`` answers through llama.cpp. Screenshot: artifacts/chat-widget.png.
"""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import SIDEBAR, open_from_sidebar, show_sidebar
from tests.browser.test_studio_browser import KERNEL_IDLE, open_lab, run_cell, tid

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"


def test_chat_widget_streams_and_stops(page, lab):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": f"import model_studio as ms\nms.ChatPlayground(model={json.dumps(MODEL)})"},
    ], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}
    (lab.root / "chat-browser.ipynb").write_text(json.dumps(nb))
    open_lab(page, lab, "/lab/tree/chat-browser.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    run_cell(page, 0)
    panel = f".jp-OutputArea {tid('chat-panel')}"
    page.wait_for_selector(panel, timeout=60_000)
    page.click(f"{panel} {tid('chat-settings')} summary")
    page.fill(f"{panel} {tid('chat-max-tokens')}", "400")
    page.fill(f"{panel} {tid('chat-input')}", "Write a long story about a dragon who learns to cook.")
    page.click(f"{panel} {tid('chat-send')}")
    answer = f"{panel} [data-role='assistant'] {tid('chat-answer')}"
    page.wait_for_selector(f"{panel} {tid('chat-stop')}", timeout=60_000)
    # the answer grows over several samples
    lengths: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(set(lengths)) < 4:
        if page.locator(answer).count():
            lengths.append(len(page.inner_text(answer)))
        time.sleep(0.15)
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths
    page.click(f"{panel} {tid('chat-stop')}")
    stats = f"{panel} {tid('chat-stats')}"
    page.wait_for_selector(stats, timeout=30_000)
    stopped_len = len(page.inner_text(answer))
    time.sleep(1.0)
    assert len(page.inner_text(answer)) == stopped_len  # it stopped growing
    line = page.inner_text(stats)
    assert "tokens" in line and "stopped" in line, line
    page.locator(panel).scroll_into_view_if_needed()
    shot(page, "chat-widget")
    assert not page.errors, page.errors


def test_chat_panel_streams_over_the_openai_endpoint_then_running_unloads(page, lab):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    open_lab(page, lab)
    # Chat opens as a main-area panel (the sidebar's Chat button)
    panel = f"{open_from_sidebar(page, 'chat')} {tid('chat-panel')}"
    page.wait_for_selector(panel, timeout=30_000)
    page.wait_for_selector(f"{panel} {tid('chat-model')} option[value='{MODEL}']", state="attached", timeout=30_000)
    page.select_option(f"{panel} {tid('chat-model')}", MODEL)
    page.fill(f"{panel} {tid('chat-input')}", "Write a long story about a dragon who learns to cook.")
    page.click(f"{panel} {tid('chat-send')}")
    answer = f"{panel} [data-role='assistant'] {tid('chat-answer')}"
    page.wait_for_selector(f"{panel} {tid('chat-stop')}", timeout=60_000)
    lengths: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(set(lengths)) < 4:
        if page.locator(answer).count():
            lengths.append(len(page.inner_text(answer)))
        time.sleep(0.15)
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths
    page.click(f"{panel} {tid('chat-stop')}")
    page.wait_for_selector(f"{panel} {tid('chat-stats')}", timeout=30_000)
    # the panel's load status follows the model the answer loaded
    page.wait_for_selector(f"{panel} {tid('chat-load-status')}[data-loaded='true']", timeout=30_000)
    shot(page, "panel-chat")
    # The sidebar's Running tab shows the loaded model and unloads it
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('tab-running')}")
    row = f'[data-testid^="running-model-{MODEL}"]'  # the loaded file: MODEL:Q4_1
    page.wait_for_selector(row, timeout=30_000)
    shot(page, "sidebar-running")
    page.click(f'[data-testid^="running-unload-{MODEL}"]')
    page.wait_for_selector(row, state="detached", timeout=30_000)
    assert MODEL not in [m["id"] for m in lab.api("GET", "/chat/loaded").json()["models"]]
    assert not page.errors, page.errors
