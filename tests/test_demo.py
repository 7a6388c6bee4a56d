"""`make demo` (scripts/demo.py) picks its Hub: the real one when it answers, the local test Hub when not.

No internet is needed: a started fake Hub stands in for a reachable huggingface.co, and a closed
port for an unreachable one.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("studio_demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["studio_demo"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("studio_demo", None)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the socket is: nothing listens there


def test_the_demo_probes_huggingface_co_with_a_short_timeout(demo):
    assert demo.REAL_HUB == "https://huggingface.co"
    assert demo.PROBE_TIMEOUT <= 3.0


def test_a_hub_that_answers_is_used_directly(demo, fake_hub, tmp_path):
    # Given a Hub that answers /api/models?limit=1 (the fake Hub standing in for huggingface.co)
    assert demo.hub_reachable(fake_hub.url)
    env: dict[str, str] = {}
    # When the demo chooses its Hub
    kind, url, proc = demo.choose_hub(env, "auto", endpoint=fake_hub.url, hub_root=tmp_path / "hub")
    # Then it is that Hub: no local Hub is started and the studio is pointed at it
    assert (kind, url, proc) == ("real", fake_hub.url, None)
    assert env["HF_ENDPOINT"] == fake_hub.url
    assert not (tmp_path / "hub").exists()
    assert "the real Hugging Face Hub" in demo.banner(kind, url)


def test_an_unreachable_hub_falls_back_to_the_local_test_hub(demo, tmp_path):
    dead = f"http://127.0.0.1:{_closed_port()}"
    assert not demo.hub_reachable(dead, timeout=3.0)
    env = {"PYTHONPATH": str(ROOT)}
    kind, url, proc = demo.choose_hub(env, "auto", endpoint=dead, hub_root=tmp_path / "hub")
    try:
        # Then a local fake Hub serves the tiny models, and the studio is pointed at it
        assert kind == "local" and proc is not None and url.startswith("http://127.0.0.1:") and url != dead
        assert env["HF_ENDPOINT"] == url and env["HF_HUB_DISABLE_XET"] == "1"
        listed = httpx.get(f"{url}/api/models", params={"search": "tiny-llama"}, timeout=30).json()
        assert "tiny-org/tiny-llama-GGUF" in {m["id"] for m in listed}
        assert "local test Hub at " + url in demo.banner(kind, url)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


def test_a_hub_that_answers_with_an_error_counts_as_unreachable(demo, fake_hub):
    # a 404 (no such route) is not a working Hub
    assert not demo.hub_reachable(f"{fake_hub.url}/no-such-prefix")
