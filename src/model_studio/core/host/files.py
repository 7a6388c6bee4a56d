"""The model host's files in the studio home (``<home>/host/``), and its process's state.

- ``secret``: the bearer token every request to the host carries; 0600, created once.
- ``host.json``: written atomically by the host once it listens (``state: "up"``, pid, port,
  since, version, restarts, last crash), rewritten ``state: "down"`` when it stops cleanly and
  ``state: "crashed"`` (with ``last_crash``) by the client that found it dead.
- ``host.lock``: held while a host is started, so two engines starting at once get one host.
- ``host.log``: the host's log (and faulthandler's traceback when it crashes natively).
- ``crashes.jsonl``: one line per crash, newest last.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class HostFiles:
    home: Path

    @property
    def dir(self) -> Path:
        return self.home / "host"

    @property
    def state(self) -> Path:
        return self.dir / "host.json"

    @property
    def secret_file(self) -> Path:
        return self.dir / "secret"

    @property
    def lock(self) -> Path:
        return self.dir / "host.lock"

    @property
    def log(self) -> Path:
        return self.dir / "host.log"

    @property
    def crashes(self) -> Path:
        return self.dir / "crashes.jsonl"

    def make_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.dir, 0o700)
        except OSError:
            pass

    def secret(self) -> str:
        """The host's secret, created (0600, readable by this user only) on first use."""
        self.make_dir()
        try:
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            os.chmod(self.secret_file, 0o600)  # never left readable by others
            return self.secret_file.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        return self.secret_file.read_text().strip()

    def read_state(self) -> dict[str, Any]:
        """``host.json`` as a dict ({} when absent or unreadable)."""
        try:
            data = json.loads(self.state.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, data: dict[str, Any]) -> None:
        """Replace ``host.json`` atomically (a reader never sees half a file)."""
        self.make_dir()
        fd, tmp = tempfile.mkstemp(prefix=".host.", suffix=".json.tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2, default=str)
            os.replace(tmp, self.state)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of ``host.log`` ("" when there is none)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 256 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def crash_tail(self) -> str:
        """The log's tail for a crash report: from faulthandler's "Fatal Python error" line when
        it is near the end (its thread dumps are long), else the last ``LOG_TAIL_LINES`` lines."""
        lines = self.log_tail(400).splitlines()
        fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error")]
        start = fatal[-1] if fatal else len(lines) - LOG_TAIL_LINES
        return "\n".join(lines[max(start, len(lines) - 200, 0):])

    def record_crash(self, pid: int, reason: str, exit_code: int | None = None) -> dict[str, Any]:
        """Mark the host ``pid`` as crashed in ``host.json`` and ``crashes.jsonl``; returns the crash.

        Idempotent: a crash already recorded for ``pid`` is returned as it is."""
        state = self.read_state()
        last = state.get("last_crash") or {}
        if state.get("state") == "crashed" and last.get("pid") == pid:
            return last
        if exit_code is None:
            exit_code = _exit_from_log(self.log_tail(200))
        crash: dict[str, Any] = {"at": time.time(), "pid": pid, "reason": reason, "exit_code": exit_code,
                                 "signal": _signal_name(exit_code), "log_tail": self.crash_tail()}
        if state.get("pid") in (pid, None):
            self.write_state({**state, "state": "crashed", "pid": pid, "last_crash": crash})
        with open(self.crashes, "a") as f:
            f.write(json.dumps(crash) + "\n")
        return crash


def _signal_name(exit_code: int | None) -> str | None:
    if exit_code is None or exit_code >= 0:
        return None
    try:
        return signal.Signals(-exit_code).name
    except ValueError:
        return f"signal {-exit_code}"


def _exit_from_log(tail: str) -> int | None:
    """A native crash's signal from faulthandler's report, when the host was not our child."""
    for text, sig in (("Segmentation fault", signal.SIGSEGV), ("Aborted", signal.SIGABRT),
                      ("Bus error", signal.SIGBUS), ("Floating-point exception", signal.SIGFPE)):
        if f"Fatal Python error: {text}" in tail:
            return -int(sig)
    return None


def pid_alive(pid: int | None, created: float | None = None) -> bool:
    """True when ``pid`` runs (a zombie, dead but not yet reaped, counts as gone); with ``created``
    (its ``psutil`` create time) a reused pid counts as gone too."""
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        if created is not None and abs(proc.create_time() - float(created)) > 1.0:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
