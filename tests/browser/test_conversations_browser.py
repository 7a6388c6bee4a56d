"""Conversations in a real JupyterLab: chat in the Chat panel with the starter model, reload the page
and find the conversation again, rename it, branch from an earlier message, switch branches, export.

Screenshots: artifacts/conversation-restored.png, conversation-list.png, conversation-branch.png.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.shell import panel as panel_of
from tests.browser.test_studio_browser import open_lab, tid

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"


def open_chat(page, restored: bool = False) -> str:
    """A Chat panel in the main area (opened with the sidebar's button, or the one the lab restored
    after a reload); returns its chat panel's selector."""
    if restored:
        page.evaluate("async () => { await window.jupyterapp.restored; }")
        page.wait_for_selector(f"{panel_of('chat')} {tid('chat-panel')}", timeout=30_000)
        return f"{panel_of('chat')} {tid('chat-panel')}"
    return f"{open_from_sidebar(page, 'chat')} {tid('chat-panel')}"


def ask(page, panel: str, text: str, answers: int) -> None:
    """Send ``text`` and wait until ``answers`` answers have ended (each shows its stats)."""
    page.fill(f"{panel} {tid('chat-input')}", text)
    page.click(f"{panel} {tid('chat-send')}")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n",
        arg=[f"{panel} {tid('chat-stats')}", answers], timeout=90_000)


def saved(lab, count: int) -> dict:
    """The one saved conversation once it holds ``count`` messages (the panel saves as answers end)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = lab.api("GET", "/conversations").json()["conversations"]
        if listed and listed[0]["message_count"] >= count:
            return lab.api("GET", f"/conversations/{listed[0]['id']}").json()
        time.sleep(0.2)
    raise AssertionError(f"the conversation never held {count} messages: {listed}")


def test_conversation_survives_reload_rename_branch_export(page, lab, tmp_path: Path):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    # Given a chat of two exchanges with the starter model
    open_lab(page, lab)
    panel = open_chat(page)
    page.wait_for_selector(f"{panel} {tid('chat-model')} option[value='{MODEL}']", state="attached", timeout=30_000)
    page.select_option(f"{panel} {tid('chat-model')}", MODEL)
    page.click(f"{panel} {tid('chat-settings')} summary")
    page.fill(f"{panel} {tid('chat-max-tokens')}", "16")
    page.fill(f"{panel} {tid('chat-temperature')}", "0")
    ask(page, panel, "Name a colour.", 1)
    ask(page, panel, "Name another colour.", 2)
    conv = saved(lab, 4)
    msgs = conv["lanes"][0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert conv["title"] == "Name a colour." and conv["models"] == [MODEL]
    assert msgs[1]["stats"]["completion_tokens"] > 0 and msgs[1]["model"] == MODEL
    answer = page.inner_text(f"{panel} {tid('chat-message-0-3')} {tid('chat-answer')}")
    assert msgs[3]["content"].strip()[:10] in answer

    # When the page is reloaded, the Chat panel shows the same conversation
    page.reload()  # the lab restores the Chat panel on its conversation
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    panel = open_chat(page, restored=True)
    page.wait_for_selector(f"{panel} {tid('chat-message-0-3')}", timeout=30_000)
    assert page.inner_text(f"{panel} {tid('chat-message-0-0')}").startswith("Name a colour.")
    assert page.get_attribute(f"{panel} {tid('conversation-current')}", "data-id") == conv["id"]
    assert page.input_value(f"{panel} {tid('chat-max-tokens')}") == "16"
    shot(page, "conversation-restored")

    # Rename from the list
    page.click(f"{panel} {tid('conversations-toggle')}")
    item = f"{panel} {tid('conversation-' + conv['id'])}"
    page.wait_for_selector(f"{item}[data-current='true']", timeout=30_000)
    page.click(f"{item} {tid('conversation-rename')}")
    page.fill(f"{item} {tid('conversation-rename-input')}", "Colours")
    page.press(f"{item} {tid('conversation-rename-input')}", "Enter")
    page.wait_for_function("([sel, t]) => document.querySelector(sel)?.textContent === t",
                           arg=[f"{item} {tid('conversation-title')}", "Colours"], timeout=30_000)
    assert page.inner_text(f"{panel} {tid('conversation-current')}") == "Colours"
    assert lab.api("GET", f"/conversations/{conv['id']}").json()["title"] == "Colours"
    shot(page, "conversation-list")

    # Branch: edit the first prompt and resend; the new branch is shown, the old one kept
    first = f"{panel} {tid('chat-message-0-0')}"
    page.click(f"{first} {tid('chat-edit')}")
    page.fill(f"{first} {tid('chat-edit-input')}", "Name a fruit.")
    page.click(f"{first} {tid('chat-edit-resend')}")
    page.wait_for_function(
        "sel => { const m = document.querySelectorAll(sel); return m.length === 2 && "
        "m[1].dataset.streaming === 'false' && !!m[1].querySelector('[data-testid=chat-stats]'); }",
        arg=f"{panel} [data-testid^='chat-message-0-']", timeout=90_000)
    page.wait_for_function("sel => document.querySelector(sel)?.textContent === '2/2'",
                           arg=f"{first} {tid('chat-branch-position')}", timeout=30_000)
    branched = saved(lab, 6)
    assert [m["content"] for m in branched["lanes"][0]["messages"]][0] == "Name a fruit."
    assert len(branched["lanes"][0]["messages"]) == 2 and branched["message_count"] == 6
    shot(page, "conversation-branch")
    # switch back to the first branch: its four messages return
    page.click(f"{first} {tid('chat-branch-prev')}")
    page.wait_for_selector(f"{panel} {tid('chat-message-0-3')}", timeout=30_000)
    assert page.inner_text(f"{first} {tid('chat-branch-position')}") == "1/2"
    assert page.inner_text(first).startswith("Name a colour.")

    # Export: Markdown (the branch shown) and JSON (every branch, importable)
    with page.expect_download(timeout=30_000) as dl:
        page.click(f"{item} {tid('conversation-export-markdown')}")
    md = Path(dl.value.path()).read_text()
    assert dl.value.suggested_filename == "colours.md" and md.startswith("# Colours\n")
    assert "Name another colour." in md
    with page.expect_download(timeout=30_000) as dl:
        page.click(f"{item} {tid('conversation-export-json')}")
    data = json.loads(Path(dl.value.path()).read_text())
    assert data["title"] == "Colours" and len(data["messages"]) == 6
    assert not page.errors, page.errors
