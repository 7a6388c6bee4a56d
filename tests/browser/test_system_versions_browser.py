"""In Chromium: the System tab's collapsible Versions section, and the sidebar's event streams
asking the server for only what their views follow (``?topics=…&kinds=…``)."""

from __future__ import annotations

import platform
import urllib.parse

import pytest

from tests.browser.conftest import shot
from tests.browser.test_studio_browser import open_lab, open_sidebar, tid

pytestmark = pytest.mark.slow


def test_system_versions_section_and_filtered_event_streams(page, lab):
    streams: list[dict[str, list[str]]] = []

    def on_request(request) -> None:
        url = urllib.parse.urlsplit(request.url)
        if url.path.endswith("/model-studio/api/events"):
            streams.append(urllib.parse.parse_qs(url.query))

    page.on("request", on_request)
    open_lab(page, lab)
    open_sidebar(page)
    page.click(tid("tab-system"))
    page.wait_for_selector(tid("system-cpu-value"), timeout=30_000)
    # The Versions section is closed until opened, then lists what the server reports
    section = tid("system-versions")
    assert page.get_attribute(section, "open") is None
    page.click(f"{section} summary")
    page.wait_for_selector(tid("version-Python"), timeout=30_000)
    versions = lab.api("GET", "/system/versions").json()
    python = page.get_attribute(f'{tid("version-Python")} td', "data-value")
    assert python == versions["python"]["version"] == platform.python_version()
    torch = page.get_attribute(f'{tid("version-torch")} td', "data-value")
    assert torch == (versions["packages"]["torch"] or "")
    assert page.is_visible(tid("version-llama.cpp")) and page.is_visible(tid("version-NVIDIA driver"))
    shot(page, "system-versions")
    # Every stream the sidebar opened carried a filter (each view follows one kind of job, or
    # the system snapshots); the Library's download list asked for download jobs
    assert streams, "no event stream was opened"
    assert all(q.get("topics") or q.get("kinds") for q in streams), streams
    assert any("download" in q.get("kinds", [""])[0].split(",") for q in streams), streams
    assert not page.errors, page.errors
