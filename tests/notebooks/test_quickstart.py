"""The quickstart notebook runs top to bottom (nbval, in a real kernel) against the fake Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.notebooks._nbval import run_nbval

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def test_quickstart_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_quickstart_runs_against_the_fake_hub(fake_hub, tmp_path):
    run_nbval(NOTEBOOK, fake_hub.url, tmp_path, cell_timeout=120, timeout=280, MODEL_STUDIO_NO_STARTER="1")
    assert (tmp_path / "hf-home" / "hub" / "models--tiny-org--tiny-llama-GGUF").is_dir()


@pytest.mark.slow
def test_quickstart_cells_show_widgets_and_no_errors(fake_hub, tmp_path, monkeypatch):
    """nbval passes a magic that printed its error on stderr; this looks at every output."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    errors, widgets = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "error" or (out["output_type"] == "stream" and out["name"] == "stderr"
                                                 and "Error" in out["text"]):
                errors.append((cell.source, out))
            widgets += "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    assert errors == []
    # %studio pull, ModelLibrary, Downloads, SystemMonitor, %studio system, Studio
    assert widgets == 6
