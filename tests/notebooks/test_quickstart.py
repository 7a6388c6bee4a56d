"""The quickstart notebook runs top to bottom (nbval, in a real kernel) against the fake Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def test_quickstart_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_quickstart_runs_against_the_fake_hub(fake_hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_STUDIO_", "PYTEST_"))}
    env.update(
        HF_ENDPOINT=fake_hub.url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_CACHE=str(tmp_path / "hf-home" / "hub"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MODEL_STUDIO_HOME=str(tmp_path / "studio-home"),
        MODEL_STUDIO_NO_STARTER="1",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(NOTEBOOK.relative_to(ROOT)), "-p", "no:cacheprovider",
         "-q", "--nbval-cell-timeout", "120"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
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
