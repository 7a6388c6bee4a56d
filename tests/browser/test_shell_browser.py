"""The studio in JupyterLab's shell: a 4-tab sidebar, Chat/Fine-tune/Video as main-area panels from
the launcher, the sidebar and the command palette, restored after a reload, and the preferences in
the Settings Editor. Screenshots: artifacts/shell-*.png.
"""

from __future__ import annotations

import importlib.util
import json
import time

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import shot
from tests.browser.shell import MAIN, SIDEBAR, open_from_sidebar, panel, show_sidebar, studio_panels, tid
from tests.browser.test_studio_browser import open_lab

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"


def _workspace(lab) -> dict:
    """The saved layout of the default workspace (what a reload restores)."""
    r = httpx.get(f"{lab.url}/lab/api/workspaces/default", headers={"Authorization": f"token {lab.token}"},
                  timeout=10)
    return r.json().get("data", {}) if r.status_code == 200 else {}


def _saved_chats(lab) -> list[dict]:
    return [v["data"] for k, v in _workspace(lab).items() if k.startswith("model-studio:chat:")]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_sidebar_has_four_tabs_on_one_row(page, lab):
    open_lab(page, lab)
    show_sidebar(page)
    tabs = page.locator(f"{SIDEBAR} [role='tab']")
    assert [t.get_attribute("data-testid") for t in tabs.all()] == [
        "tab-library", "tab-downloads", "tab-running", "tab-system"]
    bar = page.locator(f"{SIDEBAR} [role='tablist']").bounding_box()
    side = page.locator(SIDEBAR).bounding_box()
    assert side["width"] <= 300, side  # the sidebar's width (280 px at least, by its CSS)
    boxes = [t.bounding_box() for t in tabs.all()]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes  # one row
    assert all(b["x"] >= bar["x"] - 0.5 and b["x"] + b["width"] <= bar["x"] + bar["width"] + 0.5 for b in boxes)
    assert bar["height"] < 2 * boxes[0]["height"], (bar, boxes)
    # The views that open in the main area have a button each; no button for a view without a component
    buttons = page.locator(f"{SIDEBAR} button[data-testid^='sidebar-open-']")
    kinds = [b.get_attribute("data-testid").removeprefix("sidebar-open-") for b in buttons.all()]
    # (the settings and the job center join them once their components are in views.tsx)
    assert kinds[:3] == ["chat", "training", "video"] and set(kinds) <= {"chat", "training", "video", "settings",
                                                                          "jobs"}, kinds
    shot(page, "shell-sidebar")
    assert not page.errors, page.errors


def test_chat_from_the_launcher_two_chats_and_a_reload_restores_both(page, lab):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    open_lab(page, lab)
    # The launcher has a Model Studio section: Chat, Fine-tune, Video
    page.evaluate("() => { window.jupyterapp.commands.execute('launcher:create'); }")
    section = ".jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is('Model Studio'))"
    page.wait_for_selector(section, timeout=30_000)
    labels = [c.inner_text().strip() for c in page.locator(f"{section} .jp-LauncherCard-label").all()]
    assert labels == ["Chat", "Fine-tune", "Video"], labels
    shot(page, "shell-launcher")
    page.click(f"{section} .jp-LauncherCard:has-text('Chat')")
    first = panel("chat")
    page.wait_for_selector(f"{first} {tid('chat-panel')}", timeout=30_000)
    # It is a main-area panel (in the dock), not in the sidebar
    assert page.locator(f"{MAIN} {tid('chat-panel')}").count() == 1
    assert page.locator(f"{SIDEBAR} {tid('chat-panel')}").count() == 0
    page.wait_for_selector(f"{first} {tid('chat-model')} option[value='{MODEL}']", state="attached", timeout=30_000)
    page.select_option(f"{first} {tid('chat-model')}", MODEL)
    page.click(f"{first} {tid('chat-settings')} summary")
    page.fill(f"{first} {tid('chat-max-tokens')}", "12")
    page.fill(f"{first} {tid('chat-input')}", "Say hello.")
    page.click(f"{first} {tid('chat-send')}")
    page.wait_for_selector(f"{first} {tid('chat-stats')}", timeout=120_000)
    answer = page.inner_text(f"{first} [data-role='assistant'] {tid('chat-answer')}")
    assert answer.strip(), "no answer"
    assert "tokens" in page.inner_text(f"{first} {tid('chat-stats')}")
    shot(page, "shell-chat")

    # A second chat, from the sidebar's button: two chat panels at once
    open_from_sidebar(page, "chat")
    assert studio_panels(page, "chat") == 2
    titles = page.locator(f"{MAIN} .lm-TabBar-tab .lm-TabBar-tabLabel").all_inner_texts()
    assert sum(t.startswith("Chat") for t in titles) == 2, titles

    # The layout is saved with each chat's model; a reload brings both panels back
    try:
        saved = _wait(lambda: (s := _saved_chats(lab)) and len(s) == 2 and s, 30, "two saved chats")
    except AssertionError:
        raise AssertionError(f"saved workspace: {json.dumps(_workspace(lab))[:3000]}") from None
    assert sorted(str(s.get("model")) for s in saved) == sorted([MODEL, "None"]), saved
    assert all(s["kind"] == "chat" for s in saved)
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    _wait(lambda: studio_panels(page, "chat") == 2, 60, "two restored chat panels")
    models = page.eval_on_selector_all(
        f"{MAIN} {tid('studio-panel-chat')} select{tid('chat-model')}", "els => els.map(e => e.value)")
    assert MODEL in models, models
    shot(page, "shell-restored")
    assert not page.errors, page.errors


PALETTE_FOCUSED = """() => {
  const el = document.activeElement;
  return !!el && el.classList.contains('lm-CommandPalette-input') && el.offsetParent !== null;
}"""
OPEN_PALETTE = """async () => {
  await window.jupyterapp.commands.execute('apputils:activate-command-palette');
  await new Promise(r => setTimeout(r, 300));
  const el = document.activeElement;
  return !!el && el.classList.contains('lm-CommandPalette-input') && el.offsetParent !== null;
}"""


def test_the_command_palette_opens_video(page, lab):
    open_lab(page, lab)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    # the palette (Ctrl+Shift+C, View > Activate Command Palette); typing goes to its search box.
    # While the lab settles, the launcher may take the focus back (closing the palette): then again.
    item = ".lm-CommandPalette-item:has-text('Open Video') >> visible=true"

    def search() -> bool:
        if not page.evaluate(PALETTE_FOCUSED) and not page.evaluate(OPEN_PALETTE):
            return False
        page.keyboard.press("Control+A")
        page.keyboard.type("Open Video")
        try:
            page.wait_for_selector(item, timeout=3_000)
        except PlaywrightTimeout:
            return False
        return page.evaluate(PALETTE_FOCUSED)

    def open_video() -> bool:
        # a restored panel that takes the focus closes the palette: then search and pick again
        if not search():
            return False
        shot(page, "shell-palette")
        try:
            page.click(item, timeout=3_000)
            page.wait_for_selector(f"{panel('video')} {tid('video-panel')}", timeout=15_000)
        except PlaywrightTimeout:
            return False
        return True

    _wait(open_video, 120, "the command palette opening Video")
    shot(page, "shell-video")
    assert not page.errors, page.errors


def test_the_settings_editor_lists_the_preferences_and_a_change_applies(page, lab):
    open_lab(page, lab)
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('tab-running')}")
    running = f"{SIDEBAR} {tid('running-panel')}"
    page.wait_for_selector(f"{running}[data-refresh-ms='3000']", timeout=30_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('settingeditor:open', {query: 'Model Studio'}); }")
    entry = ".jp-PluginList-entry:has-text('Model Studio')"
    page.wait_for_selector(entry, timeout=30_000)
    page.click(entry)
    form = ".jp-SettingsPanel"
    for title in ("Default chat model", "Temperature", "Top p", "Max tokens", "Refresh interval (ms)", "Byte units"):
        page.wait_for_selector(f"{form} :text-is('{title}')", timeout=30_000)
    field = page.locator(f"{form} input[id$='refreshInterval']")
    field.fill("1500")
    field.press("Tab")
    # applied at once: the Running view now refreshes every 1.5 s
    page.wait_for_selector(f"{running}[data-refresh-ms='1500']", state="attached", timeout=30_000)
    page.select_option(f"{form} select[id$='byteUnits']", "binary")
    show_sidebar(page)
    page.click(f"{SIDEBAR} {tid('tab-system')}")
    page.wait_for_function(
        f"() => /[KMGT]iB/.test(document.querySelector(`{SIDEBAR} {tid('system-panel')}`)?.textContent || '')",
        timeout=30_000)
    saved = json.loads(json.dumps(_settings(lab)))
    assert saved.get("refreshInterval") == 1500 and saved.get("byteUnits") == "binary", saved
    shot(page, "shell-settings")
    assert not page.errors, page.errors


def _settings(lab) -> dict:
    r = httpx.get(f"{lab.url}/lab/api/settings/jupyter-model-studio:plugin",
                  headers={"Authorization": f"token {lab.token}"}, timeout=10)
    r.raise_for_status()
    return r.json().get("settings") or {}
