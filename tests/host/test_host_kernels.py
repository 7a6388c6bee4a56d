"""Three engines, one copy: two real IPython kernels and this process chat with the starter model
through the model host, which holds it once; a kernel restart does not unload it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import LOAD, QUESTION, STARTER, starter_dir

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

CHAT = ("import json, psutil, model_studio as ms\n"
        "eng = ms.engine()\n"
        f"out = eng.chat.complete({STARTER!r}, {QUESTION!r}, temperature=0, max_tokens=8, load_options={LOAD!r})\n"
        "print(json.dumps({'text': out['text'], 'model': out['model'], 'enabled': eng.host.enabled, "
        "'rss': psutil.Process().memory_info().rss}))")
READY = ("import json, psutil, model_studio as ms\n"
         "eng = ms.engine(); eng.library.list_local()\n"
         "print(json.dumps({'rss': psutil.Process().memory_info().rss, 'enabled': eng.host.enabled}))")


def run(kc, code: str, timeout: float = 180) -> dict:
    """Execute ``code`` in the kernel; its last printed line as JSON."""
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture
def kernels(settings_host):
    jupyter_client = pytest.importorskip("jupyter_client")
    env = {**os.environ, "MODEL_STUDIO_HOME": str(settings_host.home_path),
           "HF_HUB_CACHE": str(settings_host.cache_path), "HF_HUB_OFFLINE": "1",
           "MODEL_STUDIO_MODEL_DIRS": str(starter_dir()), "MODEL_STUDIO_MODEL_HOST": "auto",
           "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    managers = []
    try:
        for _ in range(2):
            km = jupyter_client.KernelManager(kernel_name="python3")
            km.start_kernel(env=env)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            managers.append((km, kc))
        yield managers
    finally:
        for km, kc in managers:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def test_two_kernels_and_this_engine_share_one_copy(kernels, eng):
    (km_a, a), (km_b, b) = kernels
    # Given two kernels whose engines are up (auto mode: a kernel uses the host)
    ready = [run(kc, READY) for kc in (a, b)]
    assert all(r["enabled"] for r in ready)
    # When both kernels and this process chat with the starter model
    answers = [run(kc, CHAT) for kc in (a, b)]
    mine = eng.chat.complete(STARTER, QUESTION, temperature=0, max_tokens=8, load_options=LOAD)
    # Then they all got the same greedy answer from one copy in the host
    assert {x["text"] for x in answers} == {mine["text"]} and mine["text"]
    status = eng.host.status()
    assert len(status["models"]) == 1, status["models"]
    model = status["models"][0]
    assert model["model"] == f"{STARTER}:Q4_1" and model["memory_bytes"] > 50_000_000
    # And no kernel grew by anything near the model's size
    for before, after in zip(ready, answers, strict=True):
        assert after["rss"] - before["rss"] < model["memory_bytes"] / 2, (before, after, model["memory_bytes"])
    loads = status["loads"]
    assert loads >= 1

    # When kernel A restarts and chats again
    km_a.restart_kernel(now=True)
    a.wait_for_ready(timeout=120)
    again = run(a, CHAT)
    # Then the model was still loaded: the host loaded nothing, and the same host answered
    after = eng.host.status()
    assert again["text"] == mine["text"]
    assert after["loads"] == loads and after["pid"] == status["pid"]
    assert after["models"][0]["loaded_at"] == model["loaded_at"]
    assert after["models"][0]["last_used_by"].startswith("kernel ")
