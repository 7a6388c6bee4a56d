"""The fine-tune notebook runs top to bottom (nbval, in a real kernel): a LoRA run of the starter model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.notebooks._nbval import run_nbval

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
    run_nbval(NOTEBOOK, fake_hub.url, tmp_path, cell_timeout=600, timeout=900)
