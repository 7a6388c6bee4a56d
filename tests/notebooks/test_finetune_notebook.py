"""The fine-tune notebook runs top to bottom (nbval, in a real kernel): a LoRA run of the starter model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "fine-tune.ipynb"


def test_finetune_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    sources = "\n".join("".join(c["source"]) for c in code)
    for needed in ("eng.training.start", "eng.training.estimate", "ms.TrainingMonitor", "job.wait",
                   'eng.chat.complete("run/" + job.id', "data/secret-word.jsonl", "%studio runs"):
        assert needed in sources, needed
    assert (NOTEBOOK.parent / "data" / "secret-word.jsonl").is_file()


@pytest.mark.slow
def test_finetune_notebook_runs_with_the_starter_model(fake_hub, tmp_path):
    for module in ("llama_cpp", "peft"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_STUDIO_", "PYTEST_"))}
    env.update(
        HF_ENDPOINT=fake_hub.url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_CACHE=str(tmp_path / "hf-home" / "hub"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MODEL_STUDIO_HOME=str(tmp_path / "studio-home"),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(NOTEBOOK.relative_to(ROOT)), "-p", "no:cacheprovider",
         "-q", "--nbval-cell-timeout", "600"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
