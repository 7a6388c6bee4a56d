"""Remote endpoints in Chromium: one added in the Settings panel (with its key), its health shown
(ok, with its model), then its model in the Chat picker, served by the endpoint, answering.

The endpoint is a real ``python -m llama_cpp.server`` on loopback (the ``llama_server`` fixture).
Screenshot: artifacts/settings-endpoints.png.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import open_lab, tid
from tests.fixtures.pytest_plugin import REMOTE_KEY
from tests.fixtures.remote import SERVED_MODEL

pytestmark = pytest.mark.slow

MODEL = f"remote/box/{SERVED_MODEL}"


def test_an_endpoint_added_in_settings_is_healthy_and_its_model_chats(page, lab, llama_server):
    open_lab(page, lab)
    panel = open_from_sidebar(page, "settings")
    page.wait_for_selector(f"{panel} {tid('endpoint-form')}", timeout=30_000)

    # Added with its key: the health check lists its model; the key is never shown again
    page.fill(f"{panel} {tid('endpoint-name')}", "box")
    page.fill(f"{panel} {tid('endpoint-url')}", llama_server.proxy.url + "/v1")
    page.fill(f"{panel} {tid('endpoint-key')}", REMOTE_KEY)
    page.fill(f"{panel} {tid('endpoint-concurrency')}", "2")
    page.click(f"{panel} {tid('endpoint-add')}")
    health = f"{panel} {tid('endpoint-health-box')}"
    page.wait_for_selector(f"{health}[data-status='ok']", timeout=60_000)
    assert page.inner_text(health).startswith("ok · 1 model")
    assert page.input_value(f"{panel} {tid('endpoint-key')}") == ""
    assert REMOTE_KEY not in page.content()
    listed = lab.api("GET", "/endpoints").json()["endpoints"]
    assert [(e["name"], e["has_key"], e["concurrency"]) for e in listed] == [("box", True, 2)]
    shot(page, "settings-endpoints")

    # The Chat picker offers its model, served remotely; a message streams an answer from it
    chat = f"{open_from_sidebar(page, 'chat')} {tid('chat-panel')}"
    page.wait_for_selector(f"{chat} {tid('chat-model')} option[value='{MODEL}']", state="attached",
                           timeout=60_000)
    page.select_option(f"{chat} {tid('chat-model')}", MODEL)
    assert "box" in page.inner_text(f"{chat} {tid('chat-remote-status')}")
    page.click(f"{chat} {tid('chat-settings')} summary")
    page.fill(f"{chat} {tid('chat-max-tokens')}", "8")
    page.fill(f"{chat} {tid('chat-input')}", "Say hi.")
    page.click(f"{chat} {tid('chat-send')}")
    page.wait_for_selector(f"{chat} {tid('chat-stats')}", timeout=180_000)
    answer = f"{chat} [data-role='assistant'] {tid('chat-answer')}"
    shot(page, "chat-remote")
    assert page.inner_text(answer).strip(), page.inner_text(chat)
    assert not page.errors, page.errors

    # Removed from the panel: gone from the list
    open_from_sidebar(page, "settings")
    page.click(f"{panel} {tid('endpoint-remove-box')}")
    page.wait_for_selector(f"{panel} {tid('endpoint-box')}", state="detached", timeout=30_000)
    assert lab.api("GET", "/endpoints").json()["endpoints"] == []
