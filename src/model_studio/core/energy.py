"""Energy a job uses, in Wh, and how it was measured.

Three sources, each saying what it is:

- ``nvml``: the GPUs' own energy counters (``nvmlDeviceGetTotalEnergyConsumption``, millijoules),
  or integrated power samples where a board lacks the counter (method ``nvml-power``).
- ``rapl``: CPU package energy through Linux powercap (``<root>/intel-rapl:N/energy_uj``,
  microjoules), where readable. The counter wraps at ``max_energy_range_uj``: a sampler thread
  reads it every ``interval`` seconds so a wrap between two readings is counted once.
- ``estimate``: where no CPU counter is readable, this process's CPU time (with its children)
  times the CPU's TDP divided by its logical cores: a stated estimate, never a measurement.

The counters are machine-wide: while two jobs run at once, each is charged with what the devices
used meanwhile (as CodeCarbon does). The estimate is per process.

Why not CodeCarbon (which measures exactly this): its tracker is process-global (one scheduler
thread and output per ``EmissionsTracker``, writing its own CSV and logs), it looks up the
country's grid intensity over the network unless told not to, and it brings pandas, requests,
prometheus and click with it; a job here needs three numbers read from two counters and a
setting, in a training worker process and in the model host alike, offline.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages only: subzones (intel-rapl:0:0) are inside them
UJ_PER_WH = 3.6e9
MJ_PER_WH = 3.6e6


@dataclass
class EnergyReading:
    """Energy since a meter started: ``wh`` = ``gpu_wh`` + ``cpu_wh``; ``method`` names the sources
    (``nvml+rapl``, ``rapl``, ``nvml+estimate``, ``estimate``), ``estimated`` whether any part is an estimate."""

    wh: float
    gpu_wh: float | None
    cpu_wh: float
    method: str
    cpu_method: str
    gpu_method: str | None
    estimated: bool
    seconds: float
    counters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RaplCounter:
    """One powercap zone's counter, wrap-aware: ``advance()`` adds what it rose since the last read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.max_uj = int((folder / "max_energy_range_uj").read_text().strip() or 0)
        self.start_uj = self.last_uj = self._read()
        self.total_uj = 0
        self.wraps = 0

    def _read(self) -> int:
        return int((self.folder / "energy_uj").read_text().strip())

    def advance(self) -> None:
        now = self._read()
        if now >= self.last_uj:
            self.total_uj += now - self.last_uj
        else:  # wrapped through max_energy_range_uj (a counter reset with no range is counted from 0)
            self.wraps += 1
            self.total_uj += (self.max_uj - self.last_uj + now) if self.max_uj else now
        self.last_uj = now

    def state(self) -> dict[str, Any]:
        return {"start_uj": self.start_uj, "end_uj": self.last_uj, "max_energy_range_uj": self.max_uj,
                "wraps": self.wraps, "energy_uj": self.total_uj}


def rapl_counters(root: str | Path) -> list[RaplCounter]:
    """The readable package counters under a powercap root (``/sys/class/powercap``); [] where none."""
    out = []
    try:
        zones = sorted(p for p in Path(root).iterdir() if _ZONE.match(p.name))
    except OSError:
        return []
    for zone in zones:
        try:
            out.append(RaplCounter(zone))
        except (OSError, ValueError):  # unreadable (root-only on recent kernels) or malformed
            continue
    return out


#: id(module) -> (module, initialised?): ``nvmlInit`` once per NVML module, failures included.
_NVML_INIT: dict[int, tuple[Any, bool]] = {}


def load_nvml(module: str = "") -> Any:
    """``pynvml`` (or the module named by the ``nvml_module`` setting, for tests), initialised; None without.

    ``nvmlInit`` runs once per module object: every chat answer starts a meter, and where there is no
    driver a failed ``nvmlInit`` (a ``dlopen`` attempt) need not be repeated each time."""
    try:
        nv = importlib.import_module(module or "pynvml")
    except Exception:  # no library
        return None
    known = _NVML_INIT.get(id(nv))
    if known is None or known[0] is not nv:
        try:
            nv.nvmlInit()
            ok = True
        except Exception:  # no driver, no GPU
            ok = False
        _NVML_INIT[id(nv)] = (nv, ok)
        known = (nv, ok)
    return nv if known[1] else None


class NvmlEnergy:
    """Energy of the GPUs NVML reports since creation (counter, else integrated power samples)."""

    def __init__(self, nv: Any, indices: list[int] | None = None) -> None:
        self.nv = nv
        count = int(nv.nvmlDeviceGetCount())
        self.handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in (indices if indices is not None else range(count))
                        if 0 <= i < count]
        self.start_mj: list[float | None] = [self._counter(h) for h in self.handles]
        self.last_mj = list(self.start_mj)
        self.sampled_wh = [0.0] * len(self.handles)
        self.last_t = time.monotonic()

    def _counter(self, handle: Any) -> float | None:
        try:
            return float(self.nv.nvmlDeviceGetTotalEnergyConsumption(handle))
        except Exception:
            return None

    @property
    def method(self) -> str:
        return "nvml" if all(s is not None for s in self.start_mj) else "nvml-power"

    def advance(self) -> None:
        t = time.monotonic()
        for i, h in enumerate(self.handles):
            if self.start_mj[i] is not None:
                now = self._counter(h)
                if now is not None:
                    self.last_mj[i] = now
                continue
            try:
                watts = float(self.nv.nvmlDeviceGetPowerUsage(h)) / 1000.0
                self.sampled_wh[i] += watts * (t - self.last_t) / 3600.0
            except Exception:
                pass
        self.last_t = t

    def wh(self) -> float:
        total = 0.0
        for i in range(len(self.handles)):
            start, last = self.start_mj[i], self.last_mj[i]
            total += (last - start) / MJ_PER_WH if start is not None and last is not None else self.sampled_wh[i]
        return total

    def state(self) -> list[dict[str, Any]]:
        return [{"start_mj": s, "end_mj": e} for s, e in zip(self.start_mj, self.last_mj, strict=True)]


class EnergyMeter:
    """Measures from ``start()`` until ``stop()``; ``read()`` any time in between (thread-safe).

    ``powercap_root``: where RAPL zones live; ``nvml_module``: the NVML module to import ("" for
    pynvml); ``cpu_tdp``: watts for the estimate; ``interval``: seconds between counter samples.
    """

    def __init__(self, *, powercap_root: str | Path = "/sys/class/powercap", nvml_module: str = "",
                 cpu_tdp: float = 65.0, interval: float = 5.0, gpus: list[int] | None = None) -> None:
        self.powercap_root = powercap_root
        self.nvml_module = nvml_module
        self.cpu_tdp = float(cpu_tdp)
        self.interval = max(0.01, float(interval))
        self.gpu_indices = gpus
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rapl: list[RaplCounter] = []
        self.nvml: NvmlEnergy | None = None
        self.t0 = 0.0
        self.cpu0 = 0.0
        self.final: EnergyReading | None = None

    def start(self) -> EnergyMeter:
        self.rapl = rapl_counters(self.powercap_root)
        nv = load_nvml(self.nvml_module)
        if nv is not None:
            try:
                self.nvml = NvmlEnergy(nv, self.gpu_indices)
                if not self.nvml.handles:
                    self.nvml = None
            except Exception:
                self.nvml = None
        self.t0 = time.monotonic()
        self.cpu0 = _cpu_seconds()
        self._thread = threading.Thread(target=self._sample, name="energy-meter", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._advance()

    def _advance(self) -> None:
        with self._lock:
            for counter in self.rapl:
                try:
                    counter.advance()
                except (OSError, ValueError):
                    pass
            if self.nvml is not None:
                self.nvml.advance()

    def read(self) -> EnergyReading:
        """Energy so far (the final reading after ``stop()``)."""
        if self.final is not None:
            return self.final
        self._advance()
        with self._lock:
            seconds = time.monotonic() - self.t0
            if self.rapl:
                cpu_wh = sum(c.total_uj for c in self.rapl) / UJ_PER_WH
                cpu_method = "rapl"
            else:
                cores = psutil.cpu_count() or 1
                cpu_wh = self.cpu_tdp * max(0.0, _cpu_seconds() - self.cpu0) / cores / 3600.0
                cpu_method = "estimate"
            gpu_wh = self.nvml.wh() if self.nvml is not None else None
            gpu_method = self.nvml.method if self.nvml is not None else None
            counters: dict[str, Any] = {"rapl": {c.folder.name: c.state() for c in self.rapl}}
            if self.nvml is not None:
                counters["nvml"] = self.nvml.state()
            if cpu_method == "estimate":
                counters["estimate"] = {"cpu_tdp_w": self.cpu_tdp, "logical_cores": psutil.cpu_count() or 1,
                                        "cpu_seconds": round(_cpu_seconds() - self.cpu0, 3)}
        method = "+".join(m for m in (gpu_method, cpu_method) if m)
        return EnergyReading(wh=cpu_wh + (gpu_wh or 0.0), gpu_wh=gpu_wh, cpu_wh=cpu_wh, method=method,
                             cpu_method=cpu_method, gpu_method=gpu_method, estimated=cpu_method == "estimate",
                             seconds=seconds, counters=counters)

    def stop(self) -> EnergyReading:
        """The final reading; the sampler thread ends."""
        if self.final is None:
            self._stop.set()
            reading = self.read()
            self.final = reading
        return self.final

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    t = psutil.Process().cpu_times()
    return float(t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0))


def meter_from(settings: Any) -> EnergyMeter:
    """A meter configured by the studio's settings (``powercap_root``, ``nvml_module``, ``cpu_tdp``,
    ``energy_interval``), over every GPU NVML reports."""
    return EnergyMeter(**meter_options(settings))


def meter_options(settings: Any) -> dict[str, Any]:
    """The meter's settings as JSON (handed to a training worker process in its run folder)."""
    return {"powercap_root": str(settings.powercap_root), "nvml_module": settings.nvml_module,
            "cpu_tdp": settings.cpu_tdp, "interval": settings.energy_interval}


class GpuEnergy:
    """GPU Wh since creation for a training worker's per-step metrics; ``wh()`` is None without NVML GPUs.
    (The job's whole energy, CPU included, is measured by the runner: see ``core/carbon.py``.)"""

    def __init__(self, nvml_module: str = "") -> None:
        nv = load_nvml(nvml_module)
        try:
            self.nvml = NvmlEnergy(nv) if nv is not None else None
        except Exception:
            self.nvml = None
        if self.nvml is not None and not self.nvml.handles:
            self.nvml = None

    def wh(self) -> float | None:
        if self.nvml is None:
            return None
        self.nvml.advance()
        return self.nvml.wh()
