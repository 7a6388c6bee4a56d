"""The model host loads other tools' store models too: an engine in host mode chats with
``ollama/...`` and ``lmstudio/...`` (the host learns the stores' folders from the engine)."""

from __future__ import annotations

import pytest

from model_studio.core import Engine
from tests.engine.test_stores import LMSTUDIO_ID, OLLAMA_ID, STARTER_FILE, link, make_ollama_store, sha256_of
from tests.host.conftest import host_settings, stop_and_check

pytestmark = pytest.mark.slow


def test_host_answers_with_store_models(tmp_path):
    settings = host_settings(tmp_path)
    starter = settings.model_dirs()[0] / STARTER_FILE
    ollama = make_ollama_store(tmp_path / "ollama", starter, sha256_of(starter))
    lmstudio = tmp_path / "lmstudio"
    link(starter, lmstudio / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / STARTER_FILE)
    settings.ollama_models_dir, settings.lmstudio_models_dir = str(ollama), str(lmstudio)
    eng = Engine(settings)
    try:
        assert eng.host.enabled
        for model_id in (OLLAMA_ID, LMSTUDIO_ID):
            out = eng.chat.complete(model_id, [{"role": "user", "content": "Say hello."}], temperature=0,
                                    max_tokens=8, load_options={"threads": 2, "context_length": 512})
            assert out["model"] == f"{model_id}:Q4_1" and out["stats"]["completion_tokens"] > 0
        loaded = {m["model"] for m in eng.chat.loaded()}
        assert {f"{OLLAMA_ID}:Q4_1", f"{LMSTUDIO_ID}:Q4_1"} <= loaded
    finally:
        eng.close()
        stop_and_check(settings)
