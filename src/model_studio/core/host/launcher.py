"""Starting and stopping the one model host of a studio home.

Any engine (server, kernel, CLI) calls ``ensure_host(settings)`` on first need. Under the home's
``host.lock`` (a ``filelock``, so it holds across processes) it reuses a host that answers
``/health``, or records the crash of one that died, and starts a new one detached
(``start_new_session``, no inherited stdin or descriptors, output to ``host.log``), so it
outlives the kernel that started it. The new host writes ``host.json`` once it listens; the
launcher waits for that, still under the lock, so a second engine starting at the same moment
finds the first one's host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from filelock import FileLock

from ...config import Settings
from ...errors import HostCrashedError
from .files import HostFiles, pid_alive

START_TIMEOUT = 120.0  # seconds; importing torch and the backends takes a while on a cold disk
_children: dict[int, subprocess.Popen] = {}  # hosts this process started, so their exit status is known
_children_lock = threading.Lock()


@dataclass(frozen=True)
class HostAddress:
    url: str  # http://127.0.0.1:PORT
    secret: str
    pid: int
    created: float | None


def child_exit_code(pid: int) -> int | None:
    """The exit status of a host this process started (negative: the signal), None if unknown."""
    with _children_lock:
        proc = _children.get(pid)
    if proc is None:
        return None
    try:
        return proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        return None


def _host_env(settings: Settings) -> dict[str, str]:
    """This engine's settings as the host's environment (the host reads them as any engine does)."""
    env = dict(os.environ)
    env.update(MODEL_STUDIO_HOME=str(settings.home_path), HF_HUB_CACHE=str(settings.cache_path),
               HF_ENDPOINT=settings.hf_endpoint, MODEL_STUDIO_MODEL_HOST="in_process",
               MODEL_STUDIO_MODEL_DIRS=os.pathsep.join(settings.extra_model_dirs),
               MODEL_STUDIO_SHARED_MODEL_DIRS=os.pathsep.join(settings.shared_model_dirs))
    # Other tools' stores: the host lists and loads the same lmstudio/ and ollama/ models
    env.update(MODEL_STUDIO_LMSTUDIO_MODELS=settings.lmstudio_models_dir, OLLAMA_MODELS=settings.ollama_models_dir,
               MODEL_STUDIO_SCAN_LMSTUDIO=str(int(settings.scan_lmstudio)),
               MODEL_STUDIO_SCAN_OLLAMA=str(int(settings.scan_ollama)))
    if settings.offline:
        env["HF_HUB_OFFLINE"] = "1"
    if settings.hf_token:
        env["HF_TOKEN"] = settings.hf_token
    # The package this engine runs from, first: a host started from a source checkout runs it too.
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def healthy(state: dict[str, Any], secret: str, timeout: float = 3.0) -> bool:
    """True when the host ``state`` describes is up and answers ``/health`` with our secret."""
    if state.get("state") != "up" or not state.get("port"):
        return False
    if not pid_alive(state.get("pid"), state.get("create_time")):
        return False
    try:
        r = httpx.get(f"http://127.0.0.1:{state['port']}/health", timeout=timeout,
                      headers={"Authorization": f"Bearer {secret}"})
        return r.status_code == 200 and r.json().get("pid") == state.get("pid")
    except (httpx.HTTPError, ValueError):
        return False


def _address(state: dict[str, Any], secret: str) -> HostAddress:
    return HostAddress(f"http://127.0.0.1:{state['port']}", secret, int(state["pid"]), state.get("create_time"))


def find_host(settings: Settings) -> HostAddress | None:
    """The running host of this home, or None (starts nothing)."""
    files = HostFiles(settings.home_path)
    state = files.read_state()
    if state.get("state") != "up" or not files.secret_file.exists():
        return None
    secret = files.secret()
    return _address(state, secret) if healthy(state, secret) else None


def ensure_host(settings: Settings) -> HostAddress:
    """The running host of this home, started if there is none (one per home, whoever asks)."""
    files = HostFiles(settings.home_path)
    secret = files.secret()
    state = files.read_state()
    if healthy(state, secret):
        return _address(state, secret)
    files.make_dir()
    with FileLock(str(files.lock), timeout=START_TIMEOUT + 30):
        state = files.read_state()
        if healthy(state, secret):  # another engine started it while we waited for the lock
            return _address(state, secret)
        pid = state.get("pid")
        if state.get("state") == "up" and pid and not pid_alive(pid, state.get("create_time")):
            files.record_crash(int(pid), "the host process was found dead", child_exit_code(int(pid)))
        return _start(settings, files, secret)


def _start(settings: Settings, files: HostFiles, secret: str) -> HostAddress:
    log = open(files.log, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "model_studio.core.host", "--home", str(settings.home_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True,
            start_new_session=True, env=_host_env(settings), cwd=str(settings.home_path))
    finally:
        log.close()
    with _children_lock:
        _children[proc.pid] = proc
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            crash = files.record_crash(proc.pid, "the host exited while starting", code)
            raise HostCrashedError.from_crash("The model host failed to start", crash)
        state = files.read_state()
        if state.get("pid") == proc.pid and healthy(state, secret, timeout=2.0):
            return _address(state, secret)
        time.sleep(0.05)
    proc.kill()
    crash = files.record_crash(proc.pid, f"the host did not answer within {START_TIMEOUT:.0f} s", proc.wait())
    raise HostCrashedError.from_crash("The model host did not start", crash)


def stop_host(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the home's host (``POST /shutdown``, then SIGTERM, then SIGKILL); False if none ran."""
    files = HostFiles(settings.home_path)
    state = files.read_state()
    pid = int(state.get("pid") or 0)
    if state.get("state") != "up" or not pid_alive(pid, state.get("create_time")):
        return False
    try:
        httpx.post(f"http://127.0.0.1:{state['port']}/shutdown", timeout=5.0,
                   headers={"Authorization": f"Bearer {files.secret()}"})
    except httpx.HTTPError:
        pass
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
        deadline = time.monotonic() + timeout / 2
        while time.monotonic() < deadline and pid_alive(pid, state.get("create_time")):
            time.sleep(0.05)
            _reap(pid)
        if not pid_alive(pid, state.get("create_time")):
            break
    _reap(pid)
    with _children_lock:
        _children.pop(pid, None)
    now = files.read_state()
    if now.get("pid") == pid and now.get("state") == "up":  # killed before it could say so
        files.write_state({**now, "state": "down", "stopped_at": time.time()})
    return True


def _reap(pid: int) -> None:
    with _children_lock:
        proc = _children.get(pid)
    if proc is not None:
        proc.poll()
