"""The Fine-tune panel's distributed fields and "Export for a cluster" in a real JupyterLab: two CPU
processes show in the estimate; the export shows the torchrun command with the multi-node answers,
offers the zip, and saves the bundle into a folder under the server root (files checked on disk).
Screenshot: artifacts/panel-training-export.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import shot
from tests.browser.shell import open_from_sidebar
from tests.browser.test_studio_browser import open_lab, tid

pytestmark = pytest.mark.slow

LAB_ENV_DROP = ("MODEL_STUDIO_NO_STARTER",)
MODEL = "local/SmolLM2-135M-Instruct"


def test_export_for_a_cluster_from_the_training_form(page, lab):
    data = (lab.root / "data" / "secret-word.jsonl").read_text()
    r = lab.api("POST", "/datasets", json={"filename": "secret-word.jsonl", "content": data, "overwrite": True})
    assert r.status_code == 201, r.text
    open_lab(page, lab)
    side = f"{open_from_sidebar(page, 'training')} {tid('training-panel')}"
    if not page.locator(f"{side} {tid('training-form')}").count():
        page.click(f"{side} {tid('training-new')}")
    page.wait_for_selector(f"{side} {tid('training-base')} option[value='{MODEL}']", state="attached",
                           timeout=60_000)
    page.wait_for_selector(f"{side} {tid('training-dataset')} option[value='secret-word']", state="attached",
                           timeout=30_000)
    page.select_option(f"{side} {tid('training-base')}", MODEL)
    page.select_option(f"{side} {tid('training-dataset')}", "secret-word")
    page.fill(f"{side} {tid('training-steps')}", "6")
    page.fill(f"{side} {tid('training-devices')}", "cpu")
    page.fill(f"{side} {tid('training-processes')}", "2")
    page.wait_for_function(
        f"() => (document.querySelector(`{side} {tid('training-estimate')}`)?.textContent || '')"
        ".includes('2 processes (ddp) · per device: cpu')", timeout=60_000)

    page.click(f"{side} {tid('training-export')}")
    box = f"{side} {tid('cluster-export')}"
    page.fill(f"{box} {tid('export-nnodes')}", "2")
    page.fill(f"{box} {tid('export-master-addr')}", "node0.cluster")
    page.click(f"{box} {tid('export-show')}")
    command = page.wait_for_selector(f"{box} {tid('export-command')}", timeout=60_000).inner_text()
    assert ("--nnodes 2 --node_rank 0 --nproc_per_node 2 --master_addr node0.cluster --master_port 29500"
            in command), command
    page.click(f"{box} {tid('export-file-slurm.sbatch')} summary")
    assert "#SBATCH --nodes=2" in page.inner_text(f"{box} {tid('export-file-slurm.sbatch')}")
    with page.expect_download() as info:
        page.click(f"{box} {tid('export-download')}")
    assert info.value.suggested_filename == "bundle.zip"

    page.fill(f"{box} {tid('export-out-dir')}", "cluster/run1")
    page.click(f"{box} {tid('export-save')}")
    page.wait_for_selector(f"{box} {tid('export-saved')}", timeout=60_000)
    folder = Path(lab.root, "cluster", "run1")
    config = json.loads((folder / "config.json").read_text())
    assert (config["steps"], config["num_processes"], config["devices"]) == (6, 2, "cpu")
    assert '--nnodes "${NNODES:-2}"' in (folder / "launch.sh").read_text()
    assert (folder / "data.jsonl").read_text().strip() and Path(str(folder) + ".zip").is_file()
    shot(page, "panel-training-export")
    assert not page.errors, page.errors
