"""The chat notebook runs top to bottom (nbval, in a real kernel) with the starter model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.notebooks._nbval import run_nbval

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "chat.ipynb"


def test_chat_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    sources = "\n".join("".join(c["source"]) for c in code)
    for needed in ("eng.chat.complete", "eng.chat.stream", "%%chat", "{topic}", "ms.ChatPlayground", "eng.chat.loaded()"):
        assert needed in sources


@pytest.mark.slow
def test_chat_notebook_runs_with_the_starter_model(fake_hub, tmp_path):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    run_nbval(NOTEBOOK, fake_hub.url, tmp_path, cell_timeout=180, timeout=400)
