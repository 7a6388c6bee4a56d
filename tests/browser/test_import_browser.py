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


def test_ollama_store_set_in_settings_is_listed_read_only(page, lab, tmp_path):
    # Given an Ollama store under the server's root holding a small GGUF under its digest
    from tests.browser.shell import open_from_sidebar
    from tests.engine.test_imports import sha256_of
    from tests.engine.test_stores import make_ollama_store

    blob = write_gguf(tmp_path / "blob.gguf")
    root = make_ollama_store(lab.root / "ollama-models", blob, sha256_of(blob), model="tinyllm", tag="1b")
    open_lab(page, lab)
    # When its folder is saved in the Settings panel
    panel = open_from_sidebar(page, "settings")
    page.fill(f"{panel} {tid('setting-ollama_models_dir')}", str(root))
    page.click(f"{panel} {tid('settings-save')}")
    page.wait_for_selector(f"{panel} {tid('settings-saved')}", timeout=30_000)
    assert str(root) in page.inner_text(f"{panel} {tid('setting-applied-ollama_models_dir')}")
    # Then the library lists ollama/tinyllm:1b with the Ollama read-only badge and no Delete or Download
    page.click(f"#model-studio-sidebar {tid('tab-library')}")
    page.wait_for_selector(tid("library-panel"), timeout=30_000)
    page.click(tid("library-refresh"))  # the panel was listed before the setting changed
    page.select_option(tid("library-filter-store"), "ollama")
    badge = page.wait_for_selector(tid("model-store-ollama/tinyllm_1b"), timeout=30_000)
    assert badge.inner_text().strip() == "Ollama · read-only"
    assert page.query_selector(tid("delete-button-ollama/tinyllm_1b")) is None
    assert page.query_selector(tid("download-button-ollama/tinyllm_1b")) is None
    shot(page, "library-ollama-store")
    assert not page.errors
