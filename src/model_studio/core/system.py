"""CPU, RAM, swap, disk and GPUs (pynvml, optional), including which process holds GPU memory."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass
class GpuProcess:
    pid: int
    used_memory: int | None  # bytes
    name: str = ""
    kernel_id: str | None = None  # Jupyter kernel id when the process is a kernel


@dataclass
class GpuStats:
    index: int
    name: str
    uuid: str
    memory_total: int  # bytes
    memory_used: int
    memory_free: int
    utilization: float | None  # percent
    memory_utilization: float | None
    temperature: float | None  # degrees C
    power: float | None  # watts
    power_limit: float | None
    processes: list[GpuProcess] = field(default_factory=list)


@dataclass
class SystemSnapshot:
    time: float
    cpu_percent: float
    cpu_per_core: list[float]
    cpu_count: int
    load_average: list[float] | None
    memory_total: int
    memory_available: int
    memory_used: int
    memory_percent: float
    swap_total: int
    swap_used: int
    disks: list[dict[str, Any]]
    gpus: list[GpuStats]
    gpu_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_KERNEL_RE = re.compile(r"kernel-([0-9a-f-]{8,})\.json")


class _Nvml:
    """pynvml, initialised once; absent GPUs or drivers give no GPUs, never an error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self.error: str | None = None
        self.nvml: Any = None

    def ready(self) -> bool:
        with self._lock:
            if self._ready is None:
                try:
                    import pynvml

                    pynvml.nvmlInit()
                    self.nvml = pynvml
                    self._ready = True
                except Exception as exc:  # no driver, no library, no GPU
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._ready = False
            return bool(self._ready)

    def gpus(self) -> list[GpuStats]:
        if not self.ready():
            return []
        nv = self.nvml
        out = []
        try:
            count = nv.nvmlDeviceGetCount()
        except Exception as exc:
            self.error = str(exc)
            return []
        for i in range(count):
            try:
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                name = nv.nvmlDeviceGetName(h)
                name = name.decode() if isinstance(name, bytes) else str(name)
                uuid = nv.nvmlDeviceGetUUID(h)
                uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
                util = _try(lambda h=h: nv.nvmlDeviceGetUtilizationRates(h))
                temp = _try(lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
                power = _try(lambda h=h: nv.nvmlDeviceGetPowerUsage(h))
                limit = _try(lambda h=h: nv.nvmlDeviceGetEnforcedPowerLimit(h))
                out.append(GpuStats(
                    index=i, name=name, uuid=uuid,
                    memory_total=int(mem.total), memory_used=int(mem.used), memory_free=int(mem.free),
                    utilization=float(util.gpu) if util is not None else None,
                    memory_utilization=float(util.memory) if util is not None else None,
                    temperature=float(temp) if temp is not None else None,
                    power=power / 1000.0 if power is not None else None,
                    power_limit=limit / 1000.0 if limit is not None else None,
                    processes=self._processes(h),
                ))
            except Exception as exc:
                log.debug("GPU %d unreadable: %s", i, exc)
        return out

    def _processes(self, handle: Any) -> list[GpuProcess]:
        nv = self.nvml
        procs: dict[int, GpuProcess] = {}
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            for p in _try(lambda g=getter: getattr(nv, g)(handle)) or []:
                used = getattr(p, "usedGpuMemory", None)
                procs[p.pid] = _describe_process(p.pid, int(used) if used is not None else None)
        return list(procs.values())


def _describe_process(pid: int, used: int | None) -> GpuProcess:
    name, kernel = "", None
    try:
        proc = psutil.Process(pid)
        name = proc.name()
        match = _KERNEL_RE.search(" ".join(proc.cmdline()))
        kernel = match.group(1) if match else None
    except (psutil.Error, OSError):
        pass
    return GpuProcess(pid=pid, used_memory=used, name=name, kernel_id=kernel)


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


class SystemMonitor:
    """Snapshots of the machine's resources."""

    def __init__(self, paths: list[Path] | None = None) -> None:
        self.paths = [Path(p) for p in (paths or [])]
        self._nvml = _Nvml()
        psutil.cpu_percent(percpu=True)  # prime: the first reading is otherwise 0.0
        self._primed = time.monotonic()

    def gpus(self) -> list[GpuStats]:
        return self._nvml.gpus()

    def gpu_available(self) -> bool:
        return bool(self.gpus())

    def versions(self, refresh: bool = False) -> dict[str, Any]:
        """OS, Python, library versions, CUDA, cuDNN, the NVIDIA driver, llama.cpp's build (cached)."""
        from .versions import versions

        return versions(self._nvml, refresh=refresh)

    def free_ram(self) -> int:
        return int(psutil.virtual_memory().available)

    def snapshot(self) -> SystemSnapshot:
        if time.monotonic() - self._primed < 0.1:
            time.sleep(0.1)
        per_core = psutil.cpu_percent(percpu=True)
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        try:
            load = list(psutil.getloadavg())
        except (AttributeError, OSError):
            load = None
        disks, seen = [], set()
        for path in self.paths:
            probe = path
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            usage = shutil.disk_usage(probe)
            key = (usage.total, usage.free)
            if key in seen:
                continue
            seen.add(key)
            disks.append({"path": str(path), "total": usage.total, "used": usage.used, "free": usage.free})
        gpus = self.gpus()
        return SystemSnapshot(
            time=time.time(),
            cpu_percent=sum(per_core) / len(per_core) if per_core else 0.0,
            cpu_per_core=per_core,
            cpu_count=psutil.cpu_count() or 1,
            load_average=load,
            memory_total=vm.total,
            memory_available=vm.available,
            memory_used=vm.total - vm.available,
            memory_percent=vm.percent,
            swap_total=sw.total,
            swap_used=sw.used,
            disks=disks,
            gpus=gpus,
            gpu_error=None if gpus else self._nvml.error,
        )
