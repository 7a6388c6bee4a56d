"""In Chromium: the System tab's "Disk use" section (stores as bars, a copy in two stores listed, Free
deleting only the studio's copy) and its "Energy & carbon" section (totals, per kind, the grid
intensity's source, a CSV export that parses back to the server's rows)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core.carbon import EnergyAccounts, parse_csv
from model_studio.core.energy import EnergyReading
from tests.browser.conftest import shot
from tests.browser.test_studio_browser import open_lab, open_sidebar, tid

pytestmark = pytest.mark.slow
SIZE = (1 << 20) + 99


def test_disk_use_and_energy_sections(page, lab):
    # Given the same file as an HF cache blob (read-only to the studio) and in the studio's models folder
    blob = os.urandom(SIZE)
    digest = hashlib.sha256(blob).hexdigest()
    hf = Path(lab.env["HF_HUB_CACHE"]) / "models--org--dup" / "blobs" / digest
    owned = Path(lab.env["MODEL_STUDIO_HOME"]) / "models" / "dup.gguf"
    for p in (hf, owned):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
    # And energy rows: a training run and a model's chat answers
    accounts = EnergyAccounts(Settings(home=lab.env["MODEL_STUDIO_HOME"]))
    measured = EnergyReading(wh=2.5, gpu_wh=1.5, cpu_wh=1.0, method="nvml+rapl", cpu_method="rapl",
                             gpu_method="nvml", estimated=False, seconds=60.0)
    estimate = EnergyReading(wh=0.125, gpu_wh=None, cpu_wh=0.125, method="estimate", cpu_method="estimate",
                             gpu_method=None, estimated=True, seconds=3.0)
    import time

    accounts.record("tra-browser", "train", "org/base", measured, started=time.time() - 60)
    accounts.add_chat("local/m", estimate, started=time.time())

    open_lab(page, lab)
    open_sidebar(page)
    page.click(tid("tab-system"))
    page.wait_for_selector(tid("system-cpu-value"), timeout=30_000)

    # When the Disk use section opens, Then the stores show with bars and the copy is listed
    page.click(f'{tid("system-disk-use")} summary')
    page.wait_for_selector(tid("disk-duplicate"), timeout=60_000)
    assert page.get_attribute(tid("disk-duplicate"), "data-sha256") == digest
    assert int(page.get_attribute(tid("disk-store-hf_cache"), "data-bytes") or 0) >= SIZE
    paths = [page.get_attribute(el, "data-path") for el in [tid("disk-copy")]]
    copies = page.locator(tid("disk-copy"))
    assert sorted(copies.nth(i).get_attribute("data-path") for i in range(copies.count())) == sorted(
        [str(hf), str(owned)]), paths
    shot(page, "system-disk-use")
    # When Free is clicked (and confirmed) on the studio's copy, Then only that copy is deleted
    assert page.locator(tid("disk-copy-free")).count() == 1
    page.click(tid("disk-copy-free"))
    page.click(tid("disk-copy-free"))  # "Delete?"
    page.wait_for_selector(tid("disk-use-note"), timeout=60_000)
    page.wait_for_selector(tid("disk-no-duplicates"), timeout=60_000)
    assert not owned.exists() and hf.read_bytes() == blob

    # When the Energy section opens on all time, Then totals and groups are the server's
    page.click(f'{tid("system-energy")} summary')
    page.select_option(tid("energy-period"), "all")
    page.wait_for_selector(tid("energy-by-kind"), timeout=30_000)
    page.wait_for_function(
        "el => Math.abs(Number(el.dataset.wh) - 2.625) < 1e-9",
        arg=page.query_selector(tid("energy-total")), timeout=30_000)
    kinds = page.inner_text(tid("energy-by-kind"))
    assert "Training runs" in kinds and "Chat answers" in kinds and "(est.)" in kinds
    assert "IEA" in page.inner_text(tid("energy-intensity"))
    shot(page, "system-energy")
    # And Export CSV downloads the rows the server holds
    with page.expect_download() as info:
        page.click(tid("energy-export"))
    rows = parse_csv(Path(info.value.path()).read_text())
    assert rows == lab.api("GET", "/energy/jobs").json()["rows"]
    assert {r["id"] for r in rows} >= {"tra-browser"}
    assert not page.errors, page.errors
