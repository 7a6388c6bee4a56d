"""Where a chat model goes: the fit verdict (``fit.FitResult``) turned into how a backend loads it.

``place()`` decides once, in ``ChatService``, from the fit estimate made against the arbiter's room
per device (free memory minus what other holders hold, plus what idle models would free):

- ``gpu``: every layer on the GPU (llama.cpp ``n_gpu_layers=-1``; transformers moves the model there);
- ``partial``: the fit's N layers on the GPU (llama.cpp ``n_gpu_layers=N``; transformers
  ``device_map="auto"`` with ``max_memory`` from the arbiter's room per device);
- ``cpu``: nothing on a GPU (``n_gpu_layers=0``; transformers on the CPU).

The user's explicit ``gpu_layers`` (``LoadOptions``) wins over the verdict: ``0`` CPU, ``-1`` all
layers, ``N`` that many. A backend that cannot use a GPU (a CPU-only llama.cpp build, torch without
CUDA) always gets ``cpu``. ``devices`` is the planned bytes per device, what the arbiter admits and
accounts; the loaded model reports it in ``describe()["placement"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fit import CPU_OVERHEAD, GPU_OVERHEAD, FitResult

VERDICTS = ("gpu", "partial", "cpu")


@dataclass
class Placement:
    """Where a model's weights go. ``device``: the GPU it runs on (``cuda:N``), or ``cpu``."""

    verdict: str
    gpu_layers: int  # llama.cpp n_gpu_layers: -1 every layer, 0 none, N the first N
    device: str
    devices: dict[str, int]  # planned bytes per device ("cpu" is RAM)
    max_memory: dict[str, int] = field(default_factory=dict)  # room per device (device_map="auto")
    explicit: bool = False  # the user's gpu_layers decided, not the fit verdict
    total_layers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "gpu_layers": self.gpu_layers, "device": self.device,
                "devices": dict(self.devices), "explicit": self.explicit, "total_layers": self.total_layers}

    def scaled(self, total: int) -> Placement:
        """The same split over ``total`` bytes (what the loaded model reports it holds)."""
        planned = sum(self.devices.values())
        if total <= 0 or planned <= 0 or total == planned:
            return self
        devices = {d: int(b * total / planned) for d, b in self.devices.items()}
        first = next(iter(devices))
        devices[first] += total - sum(devices.values())
        return Placement(self.verdict, self.gpu_layers, self.device, devices, dict(self.max_memory), self.explicit,
                         self.total_layers)


def on_device(device: str, need: int, *, explicit: bool = False) -> Placement:
    """Everything on one device (``cpu`` or ``cuda:N``)."""
    if device == "cpu":
        return Placement("cpu", 0, "cpu", {"cpu": need}, explicit=explicit)
    return Placement("gpu", -1, device, {device: need}, explicit=explicit)


def place(fit: FitResult | None, need: int, *, gpu_ok: bool, requested_layers: int | None = None,
          rooms: dict[str, int] | None = None) -> Placement:
    """The placement of a model needing ``need`` bytes in all, from its ``fit`` and the user's choice.

    ``gpu_ok``: the backend can put layers on a GPU. ``requested_layers``: ``LoadOptions.gpu_layers``
    (None: follow the fit). ``rooms``: bytes the arbiter can give per device, for ``max_memory``.
    """
    rooms = dict(rooms or {})
    layers = fit.total_layers if fit is not None else None
    gpu = _gpu_of(fit, rooms)
    if requested_layers is not None:
        if requested_layers == 0 or not gpu_ok or gpu is None:
            placement = on_device("cpu", need, explicit=True)
            placement.gpu_layers = requested_layers  # a CPU-only build ignores it; the user asked
            return _with_layers(placement, layers)
        if requested_layers < 0 or (layers and requested_layers >= layers):
            return _with_layers(on_device(gpu, need, explicit=True), layers, requested_layers)
        return _partial(gpu, requested_layers, layers or 32, need, rooms, explicit=True)
    if fit is None or not gpu_ok or gpu is None or fit.verdict not in ("gpu", "partial"):
        return _with_layers(on_device("cpu", need), layers)
    if fit.verdict == "gpu":
        return _with_layers(on_device(gpu, need), layers)
    return _partial(gpu, fit.gpu_layers, layers or 32, need, rooms)


def _gpu_of(fit: FitResult | None, rooms: dict[str, int]) -> str | None:
    if fit is not None and fit.gpu_index is not None:
        return f"cuda:{fit.gpu_index}"
    if fit is not None and fit.gpus:
        best = max(fit.gpus, key=lambda g: g.get("free") or 0)
        return f"cuda:{best['index']}"
    return next((d for d in sorted(rooms) if d.startswith("cuda")), None)


def _with_layers(p: Placement, layers: int | None, gpu_layers: int | None = None) -> Placement:
    p.total_layers = layers
    if gpu_layers is not None:
        p.gpu_layers = gpu_layers
    return p


def _partial(gpu: str, on_gpu: int, layers: int, need: int, rooms: dict[str, int], *,
             explicit: bool = False) -> Placement:
    """``on_gpu`` of ``layers`` layers on ``gpu``, the rest in RAM: the bytes split by layers."""
    body = max(need - GPU_OVERHEAD - CPU_OVERHEAD, 0)
    gpu_bytes = min(need, int(body * on_gpu / layers) + GPU_OVERHEAD)
    devices = {gpu: gpu_bytes, "cpu": need - gpu_bytes}
    max_memory = {d: int(rooms[d]) for d in (gpu, "cpu") if d in rooms}
    return Placement("partial", on_gpu, gpu, devices, max_memory, explicit, layers)


__all__ = ["Placement", "place", "on_device", "VERDICTS"]
