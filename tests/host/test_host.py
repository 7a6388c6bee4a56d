"""The model host with the real starter model: one copy for every engine, stop across the hop,
crash isolation, the secret, and one host when two engines start it at once."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from model_studio.core.chat import LoadOptions
from model_studio.core.host import HostFiles, ensure_host
from model_studio.core.host.files import pid_alive
from model_studio.errors import HostCrashedError, NotFoundError, ValidationError

from .conftest import LOAD, QUESTION, STARTER, STORY, host_settings, stop_and_check

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_chat_through_the_host_keeps_the_python_api_and_its_figures(eng):
    # Given an engine in host mode; when it streams a greedy answer
    stream = eng.chat.stream(STARTER, QUESTION, temperature=0, seed=0, max_tokens=32, load_options=LOAD)
    text = "".join(chunk.text for chunk in stream)
    # Then the answer is real, and the figures came back across the hop
    assert "Paris" in text, text
    assert stream.model.model_id == f"{STARTER}:Q4_1"
    stats = stream.stats
    assert stats is not None and stats.finish_reason in ("stop", "length")
    assert stats.prompt_tokens > 5 and 0 < stats.completion_tokens <= 32
    assert stats.ttft is not None and stats.ttft > 0 and stats.tokens_per_second and stats.tokens_per_second > 0
    # And the host holds the model, this engine holds none
    assert eng.chat.manager.keys() == []
    status = eng.host.status()
    assert status["state"] == "up" and status["mode"] == "host"
    assert [m["model"] for m in status["models"]] == [f"{STARTER}:Q4_1"]
    assert status["models"][0]["memory_bytes"] > 50_000_000
    assert status["models"][0]["last_used_by"] == f"python {os.getpid()}"
    # complete() and loaded() go there too
    out = eng.chat.complete(STARTER, QUESTION, temperature=0, max_tokens=8)
    assert out["model"] == f"{STARTER}:Q4_1" and out["stats"]["completion_tokens"] > 0
    assert [m["model"] for m in eng.chat.loaded()] == [f"{STARTER}:Q4_1"]
    assert [m["id"] for m in eng.chat.models() if m["loaded"]] == [STARTER]


def test_host_errors_come_back_typed(eng):
    with pytest.raises(NotFoundError) as err:
        eng.chat.complete("local/no-such-model", QUESTION)
    assert err.value.details["model"] == "local/no-such-model"
    with pytest.raises(ValidationError):
        eng.chat.load(STARTER, context_length=3)
    with pytest.raises(ValidationError):
        eng.chat.complete(STARTER, QUESTION, temperature=99)


def test_stop_event_ends_the_answer_in_the_host(eng):
    # Given a long answer; when the stop event is set after a few chunks
    stop = threading.Event()
    stream = eng.chat.stream(STARTER, STORY, stop=stop, temperature=0, max_tokens=400,
                             load_options=LoadOptions(**LOAD))  # a LoadOptions, as in process
    chunks = 0
    for _chunk in stream:
        chunks += 1
        if chunks == 5:
            stop.set()
    # Then the host ended it as cancelled, well before max_tokens
    assert stream.finish_reason == "cancelled"
    assert stream.stats.completion_tokens < 400


def test_closing_the_stream_stops_the_host(eng):
    # When the caller closes a long answer after a few chunks
    stream = eng.chat.stream(STARTER, STORY, temperature=0, max_tokens=1500, load_options=LOAD)
    for i, _ in enumerate(stream):
        if i == 4:
            break
    stream.close()
    # Then the model is soon free again (its answer was stopped, not run to 1500 tokens)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        loaded = eng.chat.loaded()
        if loaded and not loaded[0]["in_use"]:
            break
        time.sleep(0.05)
    assert loaded and not loaded[0]["in_use"]
    out = eng.chat.complete(STARTER, QUESTION, temperature=0, max_tokens=4)
    assert out["stats"]["completion_tokens"] > 0


def test_the_secret_is_private_and_required(eng, settings_host):
    files = HostFiles(settings_host.home_path)
    assert stat.S_IMODE(files.secret_file.stat().st_mode) == 0o600
    url = eng.host.status()["url"]
    assert httpx.get(url + "/health").status_code == 401
    assert httpx.get(url + "/health", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.post(url + "/v1/chat/completions", json={}, headers={"Authorization": "Bearer x"}).status_code == 403
    ok = httpx.get(url + "/health", headers={"Authorization": f"Bearer {files.secret()}"})
    assert ok.status_code == 200 and ok.json()["pid"] == eng.host.status()["pid"]
    assert url.startswith("http://127.0.0.1:")


def test_a_segfault_mid_answer_is_a_typed_error_and_the_next_chat_starts_a_new_host(eng, settings_host):
    # Given a host streaming an answer
    before = eng.host.start()
    stream = eng.chat.stream(STARTER, STORY, temperature=0, max_tokens=1500, load_options=LOAD)
    # When the host segfaults mid-answer
    with pytest.raises(HostCrashedError) as err:
        for i, _ in enumerate(stream):
            if i == 3:
                os.kill(before["pid"], signal.SIGSEGV)
    # Then the caller gets the typed error with the signal and the host's log tail
    crash = err.value.details
    assert crash["signal"] == "SIGSEGV" and crash["exit_code"] == -signal.SIGSEGV
    assert "Segmentation fault" in crash["log_tail"]
    assert err.value.http_status == 503
    status = eng.host.status()
    assert status["state"] == "crashed" and status["last_crash"]["signal"] == "SIGSEGV"
    # And the next chat starts a new host and answers
    out = eng.chat.complete(STARTER, QUESTION, temperature=0, max_tokens=8, load_options=LOAD)
    assert out["stats"]["completion_tokens"] > 0
    after = eng.host.status()
    assert after["state"] == "up" and after["pid"] != before["pid"]
    assert after["restarts"] == before["restarts"] + 1 == 1
    assert after["last_crash"]["signal"] == "SIGSEGV"
    assert not pid_alive(before["pid"])


def test_host_cli_and_stop(eng, settings_host):
    eng.chat.load(STARTER, **LOAD)
    env = {**os.environ, "MODEL_STUDIO_HOME": str(settings_host.home_path),
           "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    out = subprocess.run([sys.executable, "-m", "model_studio", "host", "status"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "model host: up" in out.stdout and f"{STARTER}:Q4_1" in out.stdout
    logs = subprocess.run([sys.executable, "-m", "model_studio", "host", "logs", "--lines", "5"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert logs.returncode == 0 and len(logs.stdout.strip().splitlines()) <= 5
    # A setting saved by an engine (the sidebar's idle time-to-live) applies to the host's models too
    assert eng.host.status()["models"]
    eng.update_settings({"idle_ttl": 1.0})
    deadline = time.monotonic() + 60
    while eng.host.status()["models"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert eng.host.status()["models"] == []
    pid = eng.host.start()["pid"]
    assert eng.host.stop() == {"stopped": True}
    assert not pid_alive(pid) and eng.host.status()["state"] == "down"
    assert eng.chat.loaded() == []  # asking what is loaded starts no host
    assert eng.host.status()["state"] == "down"


def test_two_engines_starting_at_once_get_one_host(tmp_path):
    settings = host_settings(tmp_path)
    script = ("import sys; from model_studio.config import Settings; from model_studio.core.host import ensure_host; "
              f"print(ensure_host(Settings(home={str(settings.home_path)!r}, model_host='host')).pid)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    try:
        procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
        pids = {int(p.communicate(timeout=180)[0].strip()) for p in procs}
        assert len(pids) == 1
        assert ensure_host(settings).pid in pids
    finally:
        stop_and_check(settings)
