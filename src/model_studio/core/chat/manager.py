"""Loaded models under a memory budget: reuse, least-recently-used eviction and an idle time-to-live.

Models are keyed by ``(model, backend, adapter)``. Before anything is allocated, a load's bytes per
device (its placement) go through the arbiter (``core.arbiter``): the budget (``Settings.memory_budget``;
0 means 80% of total RAM), free RAM and GPU memory, and every other holder; least-recently-used
idle models are evicted to make room. Idle models are unloaded
after ``Settings.idle_ttl`` seconds (0: never) by a daemon timer thread, which runs only while
something is loaded; the same check also runs on every access. A model that is generating is
never evicted; unloading it closes it once its answer ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

from ...config import Settings
from ..arbiter import Arbiter
from ..fit import FitResult
from ..units import human_size
from .base import LoadedModel

log = logging.getLogger(__name__)

Key = tuple[str, str, str | None]  # (model id with quantization, backend, adapter)


@dataclass
class _Entry:
    key: Key
    model: LoadedModel | None = None  # None while loading (``reserved`` holds the estimate)
    reserved: int = 0
    last_used: float = field(default_factory=time.time)
    users: int = 0
    closing: bool = False
    devices: dict[str, int] = field(default_factory=dict)  # bytes per device (its placement)
    since: float = field(default_factory=time.time)

    @property
    def bytes(self) -> int:
        return (self.model.memory_bytes if self.model is not None else 0) or self.reserved


class ModelManager:
    """Thread-safe registry of loaded models (one lock for the table, one per key for loading)."""

    def __init__(self, settings: Settings, total_ram: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self._total_ram = total_ram or (lambda: int(psutil.virtual_memory().total))
        self._lock = threading.RLock()
        self._key_locks: dict[Key, threading.Lock] = {}
        self._entries: dict[Key, _Entry] = {}
        self._wake = threading.Event()
        self._timer: threading.Thread | None = None
        self._closed = False
        self.arbiter = Arbiter(settings, self)

    # Budget ------------------------------------------------------------------------------------

    @property
    def budget(self) -> int:
        """Bytes loaded models may hold: ``Settings.memory_budget`` or 80% of total RAM."""
        return int(self.settings.memory_budget or 0.8 * self._total_ram())

    def used(self) -> int:
        with self._lock:
            return sum(e.bytes for e in self._entries.values())

    # Loading -----------------------------------------------------------------------------------

    def get(self, key: Key) -> LoadedModel | None:
        self.expire_idle()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.model is None:
                return None
            entry.last_used = time.time()
            return entry.model

    def load(self, key: Key, loader: Callable[[], LoadedModel], *, need_bytes: int,
             fit: FitResult | None = None, replace: Callable[[LoadedModel], bool] | None = None,
             devices: dict[str, int] | None = None) -> LoadedModel:
        """The model for ``key``: the loaded one, or ``loader()`` after checking memory and evicting.

        ``need_bytes`` is the estimate the checks use, ``devices`` its split per device (default:
        all in RAM); ``replace(loaded)`` True reloads a model loaded with other options. Raises
        ``ResourceError`` (nothing allocated) when it cannot fit.
        """
        self.expire_idle()
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # two loads of one model: the second waits and reuses the first
            current = self.get(key)
            if current is not None and (replace is None or not replace(current)):
                return current
            if current is not None:
                self.unload_key(key)
            needs = dict(devices or {"cpu": need_bytes})
            with self._lock:
                self._make_room(key, need_bytes, fit, needs)
                entry = _Entry(key, reserved=need_bytes, devices=needs)
                self._entries[key] = entry
            try:
                model = loader()
            except BaseException:
                with self._lock:
                    self._entries.pop(key, None)
                raise
            with self._lock:
                entry.model = model
                entry.last_used = time.time()
                placed = (getattr(model, "placement", None) or {}).get("devices")
                entry.devices = dict(placed) if placed else needs
            self._ensure_timer()
            log.info("loaded %s (%s)", key, human_size(entry.bytes))
            return model

    def _make_room(self, key: Key, need: int, fit: FitResult | None, needs: dict[str, int]) -> None:
        """Evict least-recently-used idle models (and pipelines) until ``needs`` fit; the arbiter
        decides (``Arbiter.admit``). Called with the lock held."""
        details: dict[str, Any] = {"model": key[0], "backend": key[1], "need_bytes": need}
        if fit is not None:
            details.update(ram_free_bytes=fit.ram_free, fit=fit.message)
        self.arbiter.admit(needs, what=key[0], details=details,
                           steps=["Or pick a smaller quantization or a shorter context_length"])

    # Use ---------------------------------------------------------------------------------------

    @contextmanager
    def using(self, key: Key) -> Iterator[None]:
        """Mark a model busy while it generates (never evicted then); refreshes its last use."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users += 1
                entry.last_used = time.time()
        try:
            yield
        finally:
            close = None
            with self._lock:
                if entry is not None:
                    entry.users -= 1
                    entry.last_used = time.time()
                    if entry.closing and entry.users == 0:
                        close = entry.model
            if close is not None:
                _close(close)

    # Unloading ---------------------------------------------------------------------------------

    def _drop(self, entry: _Entry) -> None:
        """Remove ``entry``; close it now if idle, else when its answer ends. Lock held."""
        self._entries.pop(entry.key, None)
        if entry.users > 0:
            entry.closing = True
        elif entry.model is not None:
            _close(entry.model)

    def unload_key(self, key: Key) -> int:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.model is None:
                return 0
            freed = entry.bytes
            self._drop(entry)
            return freed

    def unload(self, match: Callable[[Key], bool]) -> dict[str, Any]:
        """Unload every model whose key ``match``es; returns ``{"unloaded": [...], "freed_bytes"}``."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if match(k) and e.model is not None]
        freed = sum(self.unload_key(k) for k in keys)
        return {"unloaded": [{"model": k[0], "backend": k[1], "adapter": k[2]} for k in keys],
                "freed_bytes": freed}

    def expire_idle(self) -> list[Key]:
        """Unload models idle for longer than ``Settings.idle_ttl`` seconds (0: never)."""
        ttl = float(self.settings.idle_ttl or 0)
        if ttl <= 0:
            return []
        now = time.time()
        with self._lock:
            stale = [e for e in self._entries.values()
                     if e.model is not None and e.users == 0 and now - e.last_used > ttl]
            for entry in stale:
                log.info("unloading %s: idle for %.0f s", entry.key, now - entry.last_used)
                self._drop(entry)
        return [e.key for e in stale]

    def loaded(self) -> list[dict[str, Any]]:
        """Each loaded model's ``describe()`` with ``id`` (without ``:QUANT``), ``last_used`` (epoch s),
        ``idle_seconds`` and ``in_use``."""
        self.expire_idle()
        now = time.time()
        with self._lock:
            entries = [e for e in self._entries.values() if e.model is not None]
            out = []
            for e in sorted(entries, key=lambda e: -e.last_used):
                assert e.model is not None
                desc = e.model.describe()
                # ``model`` names the exact file (org/name:QUANT); ``id`` is the name a user picks
                desc["id"] = str(desc["model"]).split(":", 1)[0]
                out.append({**desc, "adapter": e.key[2], "last_used": e.last_used,
                            "idle_seconds": 0.0 if e.users else round(now - e.last_used, 3),
                            "in_use": e.users > 0})
            return out

    def holdings(self) -> list[dict[str, Any]]:
        """Each model held (loaded, or loading: its estimate): ``key``, ``devices`` (bytes per
        device), ``since``, ``last_used``, ``users`` and ``loaded``; for the arbiter."""
        with self._lock:
            return [{"key": e.key, "devices": dict(e.devices or {"cpu": e.bytes}), "since": e.since,
                     "last_used": e.last_used, "users": e.users, "loaded": e.model is not None}
                    for e in self._entries.values()]

    def keys(self) -> list[Key]:
        with self._lock:
            return [k for k, e in self._entries.items() if e.model is not None]

    # Idle timer --------------------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        with self._lock:
            if self._closed or self._timer is not None:  # the timer clears this, under the lock, as it ends
                return
            self._timer = threading.Thread(target=self._run_timer, name="model-studio-idle", daemon=True)
            self._timer.start()

    def _run_timer(self) -> None:
        while not self._closed:
            ttl = float(self.settings.idle_ttl or 0)
            self._wake.wait(min(max(ttl / 4, 0.05), 30.0) if ttl > 0 else 30.0)
            if self._closed:
                return
            self.expire_idle()
            with self._lock:
                if not self._entries:
                    self._timer = None
                    return

    def close(self) -> None:
        """Unload everything (models still generating close when their answer ends)."""
        self._closed = True
        self._wake.set()
        with self._lock:
            for entry in list(self._entries.values()):
                self._drop(entry)


def _close(model: LoadedModel) -> None:
    try:
        model.close()
    except Exception:  # releasing memory must never fail the caller
        log.exception("closing %s failed", getattr(model, "model_id", model))
