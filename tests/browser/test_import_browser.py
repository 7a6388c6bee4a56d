"""The Library's Import button in Chromium: a GGUF under the server root, picked through the path
box's completion over Jupyter's contents API, becomes local/<name> in place, with its store badge,
and the store filter shows it alone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot
from tests.browser.test_studio_browser import open_lab, open_sidebar, tid
from tests.engine.test_imports import write_gguf

pytestmark = pytest.mark.slow


def test_import_button_imports_a_gguf_in_place(page, lab):
    # Given a GGUF file in a folder under the server's root
    gguf = write_gguf(lab.root / "my-models" / "picked.Q8_0.gguf")
    open_lab(page, lab)
    open_sidebar(page)
    # When Import is clicked, the folder typed, and the file offered by the completion chosen
    page.click(tid("library-import"))
    page.fill(tid("import-path"), "my-models/")
    page.wait_for_selector(f'{tid("import-suggestions")} option[value="my-models/picked.Q8_0.gguf"]',
                           state="attached", timeout=30_000)
    page.fill(tid("import-path"), "my-models/picked.Q8_0.gguf")
    shot(page, "library-import-form")
    page.click(tid("import-submit"))
    # Then the notice names the new model, used in place, and its card carries the store badge
    notice = page.wait_for_selector(tid("library-notice"), timeout=30_000)
    assert "Imported local/picked" in notice.inner_text() and "nothing copied" in notice.inner_text()
    badge = page.wait_for_selector(tid("model-store-local/picked"), timeout=30_000)
    assert badge.inner_text().strip() == "imported"
    local = {m["id"]: m for m in lab.api("GET", "/library/local").json()["models"]}
    assert local["local/picked"]["local_path"] == str(gguf.resolve())
    # and the store filter shows imports only
    page.select_option(tid("library-filter-store"), "import")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"library-count\"]').innerText.trim() === '1 model'",
        timeout=30_000)
    shot(page, "library-imported")
    # A path outside the server's root is refused with the typed error shown
    page.click(tid("library-import"))
    page.fill(tid("import-path"), "/etc/hostname.gguf")
    page.click(tid("import-submit"))
    error = page.wait_for_selector(tid("import-error"), timeout=30_000)
    assert "must name a path inside" in error.inner_text()
    assert not page.errors
