"""A download's progress: bytes per file and per job, with a rate over the last few seconds."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from ..hub import RemoteFile
from ..jobs import Progress


class ProgressTracker:
    """Bytes per file and per job, with a rate over the last few seconds."""

    def __init__(self, files: list[RemoteFile], publish: Callable[[Progress], None]) -> None:
        self._lock = threading.Lock()
        self._publish = publish
        self.files: dict[str, dict[str, Any]] = {
            f.path: {"done": 0, "total": f.size, "state": "pending"} for f in files}
        self.total = sum(f.size for f in files)
        self.done = 0
        self.transferred = 0  # bytes that came over the network in this run
        self.reused = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)
        self._last_publish = 0.0
        self.message = ""

    def set_file(self, path: str, *, done: int | None = None, state: str | None = None) -> None:
        with self._lock:
            entry = self.files[path]
            if done is not None:
                self.done += done - entry["done"]
                entry["done"] = done
            if state is not None:
                entry["state"] = state
                if state == "downloading":  # per-file rate counts from here
                    entry["_t0"], entry["_d0"] = time.monotonic(), entry["done"]
        self.publish(force=state is not None)

    def add(self, path: str, n: int) -> None:
        with self._lock:
            self.files[path]["done"] += n
            self.done += n
            self.transferred += n
        self.publish()

    def snapshot(self) -> Progress:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, self.transferred))
            while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
                self._samples.popleft()
            t0, b0 = self._samples[0]
            rate = (self.transferred - b0) / (now - t0) if now - t0 > 0.2 else None
            remaining = max(0, self.total - self.done)
            active = {p: self._file_view(e, now) for p, e in self.files.items()
                      if e["state"] not in ("pending", "done")}
            counts = collections.Counter(e["state"] for e in self.files.values())
            return Progress(
                done=self.done,
                total=self.total,
                unit="bytes",
                rate=rate,
                eta=(remaining / rate) if rate else None,
                message=self.message,
                detail={"files": active, "file_counts": dict(counts), "files_total": len(self.files),
                        "transferred": self.transferred, "reused": self.reused},
            )

    @staticmethod
    def _file_view(entry: dict[str, Any], now: float) -> dict[str, Any]:
        """A file's bytes, state, rate (bytes/s) and ETA (seconds) since it started downloading."""
        view = {k: v for k, v in entry.items() if not k.startswith("_")}
        rate = None
        if "_t0" in entry and now - entry["_t0"] > 0.2:
            rate = (entry["done"] - entry["_d0"]) / (now - entry["_t0"])
        view["rate"] = rate
        view["eta"] = (entry["total"] - entry["done"]) / rate if rate else None
        return view

    def publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < 0.1:
            return
        self._last_publish = now
        self._publish(self.snapshot())


__all__ = ["ProgressTracker"]
