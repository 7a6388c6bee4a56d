"""The held diffusers pipelines: one per device, reused by the next generation, freed when idle.

A pipeline is loaded with the plan's dtype, offload and VAE tiling/slicing, and stays loaded for the
next generation with the same key until ``idle_ttl`` passes without use. The image-to-video sibling
of a text-to-video pipeline is built over the same components (``from_pipe``: no second copy). A
generation's LoRA is loaded for that generation only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...config import Settings
from ...errors import BackendUnavailableError, ConflictError
from .profiles import PipelineProfile

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    key: tuple[Any, ...]
    pipe: Any
    model: str = ""
    memory_bytes: int = 0
    loaded_at: float = 0.0
    last_used: float = 0.0
    i2v: Any = None
    devices: dict[str, int] | None = None  # split across GPUs: bytes held on each


class PipelineCache:
    """The pipelines held in memory, one per device at most, and the devices generating now."""

    def __init__(self, settings: Settings, profile: Callable[[str], PipelineProfile],
                 cached_profile: Callable[[str, str | None], PipelineProfile | None]) -> None:
        self.settings = settings
        self._profile = profile  # the profile of a model (for its image-to-video sibling)
        self._cached_profile = cached_profile  # the profile read from a folder at a revision, if any
        self._lock = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}
        self._busy: set[str] = set()  # devices generating now
        self._idle_timers: dict[str, threading.Timer] = {}
        self.closed = False
        self.arbiter: Any = None  # core.arbiter.Arbiter (set by Arbiter.attach): admits each load

    def begin(self, device: str) -> None:
        """A generation starts on ``device``: its pipeline is not unloaded while it runs."""
        self._busy.add(device)
        timer = self._idle_timers.pop(device, None)
        if timer is not None:
            timer.cancel()

    def end(self, device: str) -> None:
        """The generation on ``device`` ended: its pipeline is freed after ``idle_ttl`` without use."""
        self._busy.discard(device)
        held = self._loaded.get(device)
        if held is not None:
            held.last_used = time.time()
            self._unload_when_idle(device)

    def _unload_when_idle(self, device: str) -> None:
        """Free the pipeline on ``device`` once ``idle_ttl`` seconds pass with no generation there."""
        ttl = float(self.settings.idle_ttl or 0)
        if ttl <= 0 or self.closed:
            return

        def unload_if_idle() -> None:
            held = self._loaded.get(device)
            if held is not None and device not in self._busy and time.time() - held.last_used >= ttl * 0.99:
                log.info("unloading the idle video pipeline on %s", device)
                self._unload(device)

        timer = threading.Timer(ttl, unload_if_idle)
        timer.daemon = True
        old = self._idle_timers.pop(device, None)
        if old is not None:
            old.cancel()
        self._idle_timers[device] = timer
        timer.start()

    def held_on(self, device: str) -> int:
        """Bytes the pipeline held on ``device`` occupies (freed before another one loads there)."""
        held = self._loaded.get(device)
        if held is None:
            return 0
        if device.startswith("cuda"):
            try:
                import torch

                return int(torch.cuda.memory_reserved(device))
            except Exception:
                pass
        return held.memory_bytes

    def pipeline(self, p: dict[str, Any], device: str) -> Any:
        """The pipeline for a generation's parameters ``p`` on ``device``: the held one, or loaded now."""
        plan_ = p["plan"]
        key = (p["path"], p.get("revision"), plan_["dtype"], plan_["offload"], plan_["vae_tiling"], plan_["vae_slicing"])
        with self._lock:
            held = self._loaded.get(device)
        if held is not None and held.key == key:
            return held.pipe
        self._unload(device)
        needs = plan_.get("device_peaks") or {device: int(plan_.get("peak_bytes") or 0)}
        if self.arbiter is not None:  # room on the device(s): idle chat models are evicted, or ResourceError
            self.arbiter.admit(dict(needs), what=f"The video pipeline {p['model']}",
                               exclude=f"video:{device}", details={"model": p["model"], "plan": plan_},
                               steps=["Or use a smaller size or fewer frames, or offload 'model' or 'sequential'"])
        try:
            import torch
            from diffusers import DiffusionPipeline
        except ImportError as exc:
            raise BackendUnavailableError("Video generation needs diffusers, torch and imageio",
                                          details={"missing": str(exc)},
                                          resolution_steps=["pip install 'jupyter-model-studio[video]'"]) from None
        dtype = getattr(torch, plan_["dtype"])
        profile = self._cached_profile(p["path"], p.get("revision"))
        torch_dtype: Any = dtype
        if profile is not None and profile.vae_dtype and device != "cpu":
            torch_dtype = {"default": dtype, "vae": getattr(torch, profile.vae_dtype)}
        offload = plan_["offload"]
        load: dict[str, Any] = {_dtype_keyword(): torch_dtype}
        if offload == "balanced":  # split across GPUs: each component whole on the GPU the plan gives it
            from .split import max_memory

            load.update(device_map="balanced", max_memory=max_memory(plan_.get("split_free") or needs))
        with _quiet_loading():
            pipe = DiffusionPipeline.from_pretrained(p["path"], **load)
        pipe.set_progress_bar_config(disable=True)
        if offload == "balanced":
            pass  # placed by from_pretrained; .to() and CPU offload are refused on a device-mapped pipeline
        elif offload in ("none", "cpu"):
            pipe.to(device)
        elif offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        vae: Any = getattr(pipe, "vae", None)
        if plan_["vae_tiling"] and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if plan_["vae_slicing"] and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
        now = time.time()
        with self._lock:
            self._loaded[device] = _Loaded(key, pipe, model=p["model"], memory_bytes=_module_bytes(pipe),
                                           loaded_at=now, last_used=now,
                                           devices=_split_bytes(pipe) if offload == "balanced" else None)
        return pipe

    def i2v(self, p: dict[str, Any], device: str, pipe: Any) -> Any:
        """The image-to-video pipeline over the same components (``from_pipe``: no second copy)."""
        profile = self._profile(p["model"]) if p["model"] else None
        name = profile.i2v_pipeline if profile is not None else None
        if name is None or type(pipe).__name__ == name:
            return pipe
        held = self._loaded.get(device)
        if held is not None and held.i2v is not None and type(held.i2v).__name__ == name:
            return held.i2v
        import diffusers

        cls = getattr(diffusers, name, None)
        if cls is None:
            raise BackendUnavailableError(f"This diffusers has no {name}", details={"pipeline": name},
                                          resolution_steps=["pip install -U diffusers"])
        i2v = cls.from_pipe(pipe)
        i2v.set_progress_bar_config(disable=True)
        if held is not None:
            held.i2v = i2v
        return i2v

    @contextmanager
    def lora(self, pipe: Any, p: dict[str, Any], device: str) -> Iterator[None]:
        """The generation's LoRA (if any) on ``pipe`` for the block, unloaded afterwards."""
        lora_loaded = False
        try:
            if p.get("lora"):
                pipe.load_lora_weights(p["lora"], adapter_name="studio")
                lora_loaded = True
                pipe.set_adapters(["studio"], [float(p.get("lora_scale", 1.0))])
            yield
        finally:
            if lora_loaded:
                try:
                    pipe.unload_lora_weights()
                except Exception:
                    log.warning("could not unload the LoRA; dropping the pipeline", exc_info=True)
                    self._loaded.pop(device, None)

    def _unload(self, device: str) -> None:
        with self._lock:
            held = self._loaded.pop(device, None)
        if held is None:
            return
        del held
        import gc

        gc.collect()
        if device.startswith("cuda"):
            try:
                import torch

                torch.cuda.empty_cache()
            except Exception:
                pass

    def loaded(self) -> list[dict[str, Any]]:
        """Pipelines held in memory (one per device at most), with their weights' bytes and idle time."""
        now = time.time()
        with self._lock:
            return [{"device": d, "model": h.model, "path": h.key[0], "revision": h.key[1], "dtype": h.key[2],
                     "offload": h.key[3], "memory_bytes": h.memory_bytes, "busy": d in self._busy,
                     "idle_seconds": 0.0 if d in self._busy else round(now - h.last_used, 1)}
                    for d, h in self._loaded.items()]

    def holdings(self) -> list[dict[str, Any]]:
        """Each held pipeline for the arbiter: ``device``, ``model``, ``path``, ``offload``,
        ``memory_bytes``, ``loaded_at``, ``last_used`` and ``busy``."""
        with self._lock:
            return [{"device": d, "model": h.model, "path": h.key[0], "offload": h.key[3],
                     "memory_bytes": h.memory_bytes, "loaded_at": h.loaded_at, "last_used": h.last_used,
                     "busy": d in self._busy, "devices": h.devices} for d, h in self._loaded.items()]

    def unload(self, device: str | None = None) -> dict[str, Any]:
        """Free the pipeline held on ``device`` (all devices when None); not while it generates."""
        devices = [device] if device else list(self._loaded)
        busy = [d for d in devices if d in self._busy]
        if busy:
            raise ConflictError(f"A generation is running on {', '.join(busy)}; cancel it or wait",
                                details={"devices": busy})
        freed = 0
        done = []
        for d in devices:
            held = self._loaded.get(d)
            if held is not None:
                freed += held.memory_bytes
                done.append(held.model or d)
                self._unload(d)
        return {"unloaded": done, "freed_bytes": freed}

    def close(self) -> None:
        """Stop the idle timers and free every pipeline (the engine is closing)."""
        self.closed = True
        for timer in list(self._idle_timers.values()):
            timer.cancel()
        for device in list(self._loaded):
            self._unload(device)


def _module_bytes(pipe: Any) -> int:
    """Bytes of the weights of a pipeline's torch components (parameters and buffers)."""
    total = 0
    for component in getattr(pipe, "components", {}).values():
        for tensors in (getattr(component, "parameters", None), getattr(component, "buffers", None)):
            if callable(tensors):
                total += sum(t.numel() * t.element_size() for t in tensors())
    return total


def _split_bytes(pipe: Any) -> dict[str, int]:
    """Bytes per GPU of a pipeline loaded with ``device_map`` (its ``hf_device_map``: component -> GPU index)."""
    out: dict[str, int] = {}
    components: dict[str, Any] = getattr(pipe, "components", {})
    for name, where in (getattr(pipe, "hf_device_map", None) or {}).items():
        device = f"cuda:{where}" if isinstance(where, int) else str(where)
        params = getattr(components.get(name), "parameters", None)
        size = sum(t.numel() * t.element_size() for t in params()) if callable(params) else 0
        out[device] = out.get(device, 0) + size
    return out


def _dtype_keyword() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (the old name warns); use what this one reads."""
    from diffusers.pipelines import pipeline_utils

    return "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No "Loading pipeline components" / "Loading weights" bars in the user's cell or the server log.

    The switches are process-wide (diffusers and transformers have no per-call option), so the
    previous state is put back afterwards.
    """
    from diffusers.utils import logging as dlog

    tlog: Any = None
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        pass
    was = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled() if tlog else False)
    dlog.disable_progress_bar()
    if tlog is not None:
        tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            dlog.enable_progress_bar()
        if tlog is not None and was[1]:
            tlog.enable_progress_bar()
