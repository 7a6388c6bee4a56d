"""The GPU and RAM arbiter: who holds how much memory on each device, and room for the next load.

Devices are ``cpu`` (RAM) and ``cuda:N`` (GPUs, read through NVML). Holders are this process's
loaded chat models (``ModelManager`` entries, bytes per device from their placement), its video
pipelines (``PipelineCache``), and **reservations** any process registers in ``<home>/state.sqlite``
(a training worker with its estimate, before it starts). A reservation whose process is gone (its
pid dead, or reused by another process: the create time is kept) is dropped when read.

Before a load, ``admit()`` checks the bytes needed per device against the room there (GPU: NVML's
free memory, and its total less what holders account for; RAM: the model manager's budget less
what holders account for, and the free RAM), evicts idle models and pipelines least recently used
until it fits, and otherwise raises ``ResourceError`` naming each holder, with the call that frees it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from ..config import Settings
from ..errors import ResourceError, ValidationError
from .fit import GPU_HEADROOM, RAM_HEADROOM, FitResult, GpuFree, ModelShape, estimate
from .jobs.store import connect, owner_alive
from .system import _Nvml
from .units import human_size

if TYPE_CHECKING:
    from .chat.manager import ModelManager
    from .video.pipelines import PipelineCache

log = logging.getLogger(__name__)

DEVICE_RE = re.compile(r"cpu|cuda:\d{1,3}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_started REAL,
    job_id TEXT,
    since REAL NOT NULL
);
"""
_COLUMNS = "id, device, bytes, owner, kind, pid, pid_started, job_id, since"


@dataclass
class Reservation:
    """Bytes a process holds (or will hold) on a device; ``with arbiter.reserve(...):`` releases it on exit."""

    id: str
    device: str
    bytes: int
    owner: str
    kind: str
    pid: int
    since: float
    job_id: str | None = None
    pid_started: float | None = field(default=None, repr=False)
    _store: Reservations | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        if self._store is not None:
            self._store.remove(self.id)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Reservations:
    """The ``reservations`` table of ``state.sqlite`` (WAL), shared by every process of a studio home."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def add(self, device: str, nbytes: int, owner: str, kind: str, *, pid: int | None = None,
            job_id: str | None = None) -> Reservation:
        pid = int(pid or os.getpid())
        started = _create_time(pid)
        rid = f"res-{uuid.uuid4().hex[:12]}"
        now = time.time()
        self._conn().execute(f"INSERT INTO reservations ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                             (rid, device, int(nbytes), owner, kind, pid, started, job_id, now))
        return Reservation(rid, device, int(nbytes), owner, kind, pid, now, job_id, started, self)

    def set_pid(self, rid: str, pid: int) -> None:
        """Hand a reservation to another process (a worker just started): it lives as long as that one."""
        self._conn().execute("UPDATE reservations SET pid=?, pid_started=? WHERE id=?", (int(pid), _create_time(pid), rid))

    def remove(self, rid: str) -> bool:
        return self._conn().execute("DELETE FROM reservations WHERE id=?", (rid,)).rowcount > 0

    def live(self) -> list[Reservation]:
        """Reservations whose process still runs, oldest first; those of dead processes are deleted."""
        rows = self._conn().execute(f"SELECT {_COLUMNS} FROM reservations ORDER BY since").fetchall()
        out, dead = [], []
        for rid, device, nbytes, owner, kind, pid, started, job_id, since in rows:
            if owner_alive(pid, started):
                out.append(Reservation(rid, device, int(nbytes), owner, kind, int(pid), since, job_id, started, self))
            else:
                dead.append(rid)
        if dead:
            log.info("dropping %d reservations of exited processes", len(dead))
            self._conn().executemany("DELETE FROM reservations WHERE id=?", [(d,) for d in dead])
        return out


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


@dataclass
class Holder:
    """One holder's bytes on one device (a model split over two devices is two holders with one id)."""

    id: str
    device: str
    bytes: int
    owner: str
    kind: str  # chat, video, training, or a reservation's own kind
    pid: int | None
    since: float
    evictable: bool = False  # idle: the arbiter may unload it to make room
    in_use: bool = False
    last_used: float | None = None
    unload: dict[str, Any] | None = None  # the operation that frees it: {"operation", "params"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Unit:
    """A holder over all its devices, and how to evict it."""

    id: str
    kind: str
    owner: str
    pid: int | None
    since: float
    devices: dict[str, int]
    evictable: bool = False
    in_use: bool = False
    last_used: float | None = None
    unload: dict[str, Any] | None = None
    evict: Callable[[], Any] | None = None

    def rows(self) -> list[Holder]:
        return [Holder(self.id, d, int(b), self.owner, self.kind, self.pid, self.since, self.evictable, self.in_use,
                       self.last_used, self.unload) for d, b in self.devices.items() if b > 0]


class Arbiter:
    """Accounts every holder of RAM and GPU memory and admits loads; one per engine (``engine.arbiter``)."""

    def __init__(self, settings: Settings, manager: ModelManager, *, reservations: Reservations | None = None,
                 nvml: _Nvml | None = None) -> None:
        self.settings = settings
        self.manager = manager
        self.reservations = reservations or Reservations(settings.state_db)
        self._nvml = nvml or _Nvml()
        self.video: PipelineCache | None = None
        # The manager's (reentrant) lock: a chat load admits while holding it, a video load takes it
        # here, so the two never wait on each other in opposite orders.
        self._lock = manager._lock

    def attach(self, *, video: PipelineCache | None = None) -> Arbiter:
        """Account (and evict) the video pipelines too; they ask ``admit`` before loading."""
        self.video = video
        if video is not None:
            video.arbiter = self
        return self

    # Devices -----------------------------------------------------------------------------------

    def gpus(self) -> list[dict[str, Any]]:
        """Each GPU NVML sees: ``device`` (cuda:N), ``name``, ``total`` and ``free`` bytes."""
        if not self._nvml.ready():
            return []
        nv = self._nvml.nvml
        out = []
        try:
            for i in range(int(nv.nvmlDeviceGetCount())):
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(handle)
                name = nv.nvmlDeviceGetName(handle)
                out.append({"device": f"cuda:{i}", "index": i, "total": int(mem.total), "free": int(mem.free),
                            "name": name.decode() if isinstance(name, bytes) else str(name)})
        except Exception as exc:  # a driver error: no GPUs rather than a failed load
            log.debug("NVML unreadable: %s", exc)
        return out

    def devices(self) -> list[str]:
        return ["cpu", *(g["device"] for g in self.gpus())]

    def capacity(self, device: str, *, exclude: str | None = None) -> dict[str, Any]:
        """``total``, ``free`` (NVML / psutil), ``held`` (by holders), ``budget`` (RAM: the model
        manager's) and ``available``: what a load may take there now, headroom kept."""
        return _shown(self._capacity(device, self._units(), exclude))

    def _capacity(self, device: str, units: list[_Unit], exclude: str | None = None) -> dict[str, Any]:
        """As ``capacity``, with ``available`` below 0 when holders account for more than there is."""
        held = sum(u.devices.get(device, 0) for u in units if u.id != exclude)
        if device == "cpu":
            vm = psutil.virtual_memory()
            budget = self.manager.budget
            available = min(budget - held, int(vm.available * RAM_HEADROOM))
            return {"device": "cpu", "name": "RAM", "total": int(vm.total), "free": int(vm.available),
                    "budget": budget, "held": held, "available": available}
        gpu = next((g for g in self.gpus() if g["device"] == device), None)
        total, free, name = (gpu["total"], gpu["free"], gpu["name"]) if gpu else (0, 0, device)
        available = int(min(free, total - held) * GPU_HEADROOM)
        return {"device": device, "name": name, "total": total, "free": free, "budget": None, "held": held,
                "available": available}

    # Holders -----------------------------------------------------------------------------------

    def _units(self) -> list[_Unit]:
        units: list[_Unit] = []
        me = os.getpid()
        for h in self.manager.holdings():
            model, backend, adapter = h["key"]
            owner = model + (f" + adapter {adapter}" if adapter else "")
            units.append(_Unit(
                chat_holder_id(h["key"]), "chat", owner, me, h["since"],
                dict(h["devices"]), evictable=h["loaded"] and h["users"] == 0, in_use=h["users"] > 0,
                last_used=h["last_used"], unload={"operation": "chat.unload", "params": {"model": model, "backend": backend}},
                evict=functools.partial(self.manager.unload_key, h["key"])))
        if self.video is not None:
            for p in self.video.holdings():
                device = p["device"]
                where = device if p["offload"] in ("none", "cpu") else "cpu"  # offloaded weights live in RAM
                held = p.get("devices") or {where: p["memory_bytes"]}  # a split pipeline: bytes per GPU
                units.append(_Unit(
                    f"video:{device}", "video", p["model"] or p["path"], me, p["loaded_at"], dict(held),
                    evictable=not p["busy"], in_use=p["busy"], last_used=p["last_used"],
                    unload={"operation": "video.unload", "params": {"device": device}},
                    evict=functools.partial(self.video.unload, device)))
        for r in self.reservations.live():
            unload = ({"operation": "training.cancel", "params": {"job_id": r.job_id}}
                      if r.kind == "training" and r.job_id else None)
            units.append(_Unit(r.id, r.kind, r.owner, r.pid, r.since, {r.device: r.bytes}, unload=unload))
        return units

    def holders(self, device: str | None = None) -> list[Holder]:
        """Every live holder's bytes per device (only ``device``'s when given), biggest first."""
        rows = [row for u in self._units() for row in u.rows() if device is None or row.device == device]
        return sorted(rows, key=lambda r: (r.device, -r.bytes))

    def snapshot(self) -> dict[str, Any]:
        """``{"devices": [capacity per device], "holders": [...]}`` (the ``memory.holders`` operation)."""
        units = self._units()
        devices = ["cpu", *(g["device"] for g in self.gpus())]
        rows = sorted((row for u in units for row in u.rows()), key=lambda r: (r.device, -r.bytes))
        return {"devices": [_shown(self._capacity(d, units)) for d in devices], "holders": [r.to_dict() for r in rows]}

    # Reservations ------------------------------------------------------------------------------

    def reserve(self, device: str, nbytes: int, owner: str, kind: str = "reservation", pid: int | None = None,
                job_id: str | None = None) -> Reservation:
        """Register ``nbytes`` on ``device`` for ``owner`` (this process, or ``pid``) until released or
        that process ends. Usable as a context manager."""
        if not isinstance(device, str) or not DEVICE_RE.fullmatch(device):
            raise ValidationError("device must be 'cpu' or 'cuda:N'", details={"device": device})
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise ValidationError("bytes must be a non-negative integer", details={"bytes": nbytes})
        if not isinstance(owner, str) or not owner.strip():
            raise ValidationError("owner must name who holds the memory", details={"owner": owner})
        return self.reservations.add(device, nbytes, owner.strip(), kind, pid=pid, job_id=job_id)

    def release(self, reservation_id: str) -> bool:
        return self.reservations.remove(reservation_id)

    # Admission ---------------------------------------------------------------------------------

    def rooms(self, exclude: str | None = None) -> dict[str, int]:
        """Bytes a load could have per device: available now plus what idle holders would free."""
        units = self._units()
        out = {}
        for device in ["cpu", *(g["device"] for g in self.gpus())]:
            idle = sum(u.devices.get(device, 0) for u in units if u.evictable and u.id != exclude)
            out[device] = max(0, self._capacity(device, units, exclude)["available"] + idle)
        return out

    def fit(self, model: str, shape: ModelShape, *, context: int | None, exclude: str | None = None) -> FitResult:
        """The fit verdict against the rooms (``rooms()``) rather than the bare free memory."""
        rooms = self.rooms(exclude)
        gpus = [GpuFree(g["index"], g["name"], int(rooms[g["device"]] / GPU_HEADROOM), g["total"])
                for g in self.gpus()]
        return estimate(model, shape, context=context, ram_free=int(rooms["cpu"] / RAM_HEADROOM), gpus=gpus)

    def admit(self, needs: dict[str, int], *, what: str, exclude: str | None = None,
              details: dict[str, Any] | None = None, steps: list[str] | None = None) -> list[str]:
        """Make room for ``needs`` (bytes per device) before a load; returns the ids of the holders
        evicted (idle ones, least recently used first). Raises ``ResourceError`` (nothing evicted)
        naming each holder of the short devices when evicting every idle one is not enough.
        ``exclude``: a holder being replaced by this load (not counted)."""
        with self._lock:
            known = self.devices()  # a GPU NVML cannot see (no driver library) has no numbers to check
            needs = {d: n for d, n in needs.items() if d in known}
            units = [u for u in self._units() if u.id != exclude]
            caps = {d: self._capacity(d, units) for d in needs}
            short = {d: n - caps[d]["available"] for d, n in needs.items() if n > 0 and n > caps[d]["available"]}
            if not short:
                return []
            freed = dict.fromkeys(short, 0)
            victims: list[_Unit] = []
            for unit in sorted((u for u in units if u.evictable), key=lambda u: u.last_used or 0):
                if all(freed[d] >= s for d, s in short.items()):
                    break
                if any(unit.devices.get(d, 0) > 0 and freed[d] < s for d, s in short.items()):
                    victims.append(unit)
                    for d in short:
                        freed[d] += unit.devices.get(d, 0)
            if any(freed[d] < s for d, s in short.items()):
                raise self._refusal(needs, short, caps, units, what, details or {}, steps or [])
            for unit in victims:
                log.info("evicting %s (least recently used) to make room for %s", unit.id, what)
                if unit.evict is not None:
                    unit.evict()
            return [u.id for u in victims]

    def _refusal(self, needs: dict[str, int], short: dict[str, int], caps: dict[str, dict[str, Any]],
                 units: list[_Unit], what: str, details: dict[str, Any], steps: list[str]) -> ResourceError:
        rows = [r for u in units for r in u.rows() if r.device in short]
        rows.sort(key=lambda r: -r.bytes)
        device = max(short, key=lambda d: short[d])
        cap = caps[device]
        where = "RAM" if device == "cpu" else device
        budget = cap.get("budget")
        if device == "cpu" and budget is not None and needs[device] > budget:
            message = f"{what} needs about {human_size(needs[device])}, more than the memory budget of {human_size(budget)}"
            steps = ["Raise the budget: engine.update_settings({'memory_budget': BYTES})", *steps]
        else:
            message = (f"{what} needs about {human_size(needs[device])} of {where}; "
                       f"{human_size(max(0, cap['available']))} is free")
            if rows:
                message += ": " + ", ".join(f"{r.owner} ({r.kind}) holds {human_size(r.bytes)}"
                                               for r in rows if r.device == device)
        resolution = [_step(r) for r in rows if not r.evictable] + [_step(r) for r in rows if r.evictable]
        out = {**details, "device": device, "needs": needs, "short": short,
               "capacity": {d: _shown(c) for d, c in caps.items() if d in short},
               "holders": [r.to_dict() for r in rows], "evictable": sorted({r.id for r in rows if r.evictable})}
        if device == "cpu":
            out.setdefault("budget_bytes", budget)
            out.setdefault("used_bytes", cap["held"])
        return ResourceError(message, details=out, resolution_steps=list(dict.fromkeys(resolution + steps)))


def _shown(cap: dict[str, Any]) -> dict[str, Any]:
    return {**cap, "available": max(0, int(cap["available"]))}


def chat_holder_id(key: tuple[str, str, str | None]) -> str:
    """The holder id of a chat model keyed ``(model, backend, adapter)``."""
    model, backend, adapter = key
    return f"chat:{backend}:{model}" + (f":{adapter}" if adapter else "")


def _step(r: Holder) -> str:
    """What frees a holder, in the Python API's words."""
    size = f"{human_size(r.bytes)} on {r.device}"
    if r.kind == "chat" and r.unload:
        return f"Unload {r.owner} ({size}): engine.chat.unload({r.unload['params']['model']!r})"
    if r.kind == "video":
        return f"Unload the video pipeline {r.owner} ({size}): engine.video.unload({r.unload['params']['device']!r})" \
            if r.unload else f"Wait for the video generation ({size})"
    if r.kind == "training" and r.unload:
        job = r.unload["params"]["job_id"]
        return f"Stop {r.owner} ({size}): engine.training.cancel({job!r})"
    return f"End process {r.pid}, which holds {size} for {r.owner}"


__all__ = ["Arbiter", "Holder", "Reservation", "Reservations", "chat_holder_id"]
