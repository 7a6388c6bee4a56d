"""GPU energy for training runs and video generations (NVML, optional)."""

from __future__ import annotations

import time
from typing import Any


class GpuEnergy:
    """Energy used on the current CUDA device since creation, in Wh: NVML's energy counter, or integrated
    power samples where the counter is missing; ``wh()`` is None without a GPU (or pynvml)."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.start_mj: float | None = None
        self.samples_wh = 0.0
        self.last = time.monotonic()
        try:
            import torch

            if not torch.cuda.is_available():
                return
            import pynvml

            pynvml.nvmlInit()
            self.pynvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
            try:
                self.start_mj = float(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
            except Exception:
                self.start_mj = None
        except Exception:
            self.handle = None

    def wh(self) -> float | None:
        if self.handle is None:
            return None
        try:
            if self.start_mj is not None:
                now = float(self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
                return (now - self.start_mj) / 3.6e6
            watts = self.pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
            t = time.monotonic()
            self.samples_wh += watts * (t - self.last) / 3600.0
            self.last = t
            return self.samples_wh
        except Exception:
            return None
