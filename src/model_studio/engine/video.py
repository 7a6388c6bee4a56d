"""``engine.video``: text-to-video and image-to-video generation with diffusers pipelines.

A generation is a Job of kind ``video``. ``generate()`` checks everything before it queues: the
model is local (``NotFoundError`` offers the download otherwise), sizes, frames, steps and guidance
suit the pipeline (``ValidationError`` names the constraint and the nearest valid value, see
``video_plan.validate``), the input image decodes, the LoRA file exists, and the memory planner
finds a strategy that fits the device (``ResourceError`` with the numbers otherwise), all before a
single weight is loaded.

The engine's job runner queues generations in one lane per device (one generation at a time
each); the last pipeline stays loaded for the next one, until ``idle_ttl`` passes without use.
Progress comes from ``callback_on_step_end``; a cancel request (from any process, through the job
store) raises out of that callback (``Control.check``), so the job ends between two steps and no
video is written. Output: ``<home>/outputs/<job_id>/`` holds ``video.mp4``
(diffusers' ``export_to_video``; written to a temporary name and renamed, so a file called
``video.mp4`` is always whole), ``thumbnail.jpg``, ``params.json`` (every parameter, the model
revision, the seed and the memory plan) and ``input.png`` for image-to-video.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import io
import json
import logging
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import (
    BackendUnavailableError,
    ConflictError,
    NotFoundError,
    ResourceError,
    StudioError,
    ValidationError,
)
from .energy import GpuEnergy
from .jobs import Control, Job, JobRunner, JobState, JobStore, Progress, Stopped
from .local import LocalModel
from .refs import ModelRef, ensure_within
from .video_plan import PipelineProfile, Plan, device_memory, plan, validate

if TYPE_CHECKING:
    from .library import Library

log = logging.getLogger(__name__)

KIND = "video"
OFFLOAD_CHOICES = ("auto", "none", "model", "sequential", "cpu")
MAX_PROMPT_CHARS = 10_000
MAX_IMAGE_BYTES = 32 << 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # text ending so is a path (base64 never does)
#: Largest file ``media()`` sends as base64 (a widget message); bigger ones are read from the path.
MAX_MEDIA_BYTES = 64 << 20
MEDIA = {"video": ("video.mp4", "video/mp4"), "thumbnail": ("thumbnail.jpg", "image/jpeg"),
         "image": ("input.png", "image/png")}
#: Pipeline classes (model_index.json ``_class_name``) that make videos; anything matching is listed.
VIDEO_PIPELINE = re.compile(r"(Video|^Wan|CogVideoX|^LTX|Mochi|Hunyuan|Allegro|Latte|SkyReels|EasyAnimate)")


@dataclass
class _Loaded:
    key: tuple[Any, ...]
    pipe: Any
    model: str = ""
    memory_bytes: int = 0
    loaded_at: float = 0.0
    last_used: float = 0.0
    i2v: Any = None


class VideoService:
    """Generate videos, plan their memory, and keep a gallery of past generations."""

    def __init__(self, settings: Settings, jobs: JobStore, library: Library, runner: JobRunner) -> None:
        self.settings = settings
        self.store = jobs
        self.library = library
        self.runner = runner
        self.outputs_dir = settings.home_path / "outputs"
        self._lock = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}
        self._busy: set[str] = set()  # devices generating now
        self._idle_timers: dict[str, threading.Timer] = {}
        self._profiles: dict[tuple[str, str | None], PipelineProfile] = {}
        self._closed = False
        # A pause cannot keep a half-denoised clip: it cancels; closing the engine interrupts (resumable).
        runner.register(KIND, self._run, lane=_lane, concurrency=1, pausable=False,
                        close_state=JobState.INTERRUPTED, on_stop=self._on_stop,
                        error_for=lambda exc, job: _typed_error(exc, job.params))
        jobs.register_resumer(KIND, self.resume)

    # Models ------------------------------------------------------------------------------------

    def _catalog_entries(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.library.catalog().items() if v.get("video")}

    def _local(self, model_id: str) -> LocalModel | None:
        local = self.library.local.get(model_id)
        if local is None or local.model_index is None or not local.files:
            return None
        return local

    def profile(self, model: str) -> PipelineProfile:
        """The pipeline profile of ``model``: from its files when local, else from the catalog."""
        repo_id = ModelRef.parse(model).repo_id
        local = self._local(repo_id)
        entry = self._catalog_entries().get(repo_id)
        if local is not None:
            folder = local.snapshot if local.source == "cache" else local.path
            assert folder is not None
            key = (str(folder), local.commit)
            with self._lock:
                hit = self._profiles.get(key)
            if hit is None:
                hit = PipelineProfile.from_folder(Path(folder), entry)
                with self._lock:
                    self._profiles[key] = hit
            return hit
        if entry is not None:
            return PipelineProfile.from_catalog(entry)
        self._resolve(repo_id)  # not local: NotFoundError that offers the download
        raise NotFoundError(f"{repo_id} is not a diffusers video pipeline", details={"model": repo_id},
                            resolution_steps=["Pick one of engine.video.models()"])

    def models(self) -> list[dict[str, Any]]:
        """Video models: every local diffusers video pipeline, then the catalog's, local first."""
        out: dict[str, dict[str, Any]] = {}
        entries = self._catalog_entries()
        for m in self.library.local.models():
            cls = (m.model_index or {}).get("_class_name") or ""
            if m.model_index is None or not VIDEO_PIPELINE.search(str(cls)):
                continue
            try:
                out[m.id] = self._describe(m.id, self.profile(m.id), local=m, entry=entries.get(m.id))
            except StudioError as exc:
                log.warning("skipping video model %s: %s", m.id, exc)
        for repo_id, entry in entries.items():
            if repo_id not in out:
                out[repo_id] = self._describe(repo_id, PipelineProfile.from_catalog(entry), local=None, entry=entry)
        return sorted(out.values(), key=lambda d: (not d["local"], d["name"].lower()))

    def _describe(self, repo_id: str, profile: PipelineProfile, *, local: LocalModel | None,
                  entry: dict[str, Any] | None) -> dict[str, Any]:
        size = local.size_on_disk if local is not None else (entry or {}).get("size")
        if size is None and local is None:
            size = sum(int(n) * 2 for n in profile.params.values()) or None  # bf16 weights
        return {
            "id": repo_id, "name": (entry or {}).get("name") or repo_id.split("/")[-1], "local": local is not None,
            "pipeline": profile.pipeline, "family": profile.family,
            "task": "text-to-video" if profile.text_to_video else "image-to-video",
            "text_to_video": profile.text_to_video, "image_to_video": profile.image_to_video,
            "size": size, "defaults": dict(profile.defaults), "rules": profile.rules(),
            "presets": profile.presets(), "lora": profile.family in ("wan", "ltx", "cogvideox"),
            "revision": local.commit if local is not None else None,
            "description": (entry or {}).get("description") or "",
        }

    def _resolve(self, model: str) -> tuple[str, LocalModel, Path]:
        ref = ModelRef.parse(model)
        local = self._local(ref.repo_id)
        other = self.library.local.get(ref.repo_id) if local is None else None
        if other is not None and other.files:
            raise ValidationError(f"{ref.repo_id} is not a diffusers pipeline (no model_index.json)",
                                  details={"model": ref.repo_id, "formats": other.formats},
                                  resolution_steps=["Pick a video model: engine.video.models()"])
        if local is None:
            entry = self._catalog_entries().get(ref.repo_id)
            size = (entry or {}).get("size")
            raise NotFoundError(
                f"{ref.repo_id} is not on this machine", details={
                    "model": ref.repo_id, "download": {"model": ref.repo_id, "size": size, "in_catalog": entry is not None}},
                resolution_steps=[f"Download it first: engine.downloads.start({ref.repo_id!r}).wait()",
                                  f"Or: %studio pull {ref.repo_id}"])
        folder = local.snapshot if local.source == "cache" else local.path
        assert folder is not None
        return ref.repo_id, local, Path(folder)

    # Planning ----------------------------------------------------------------------------------

    def plan(self, model: str, *, width: int | None = None, height: int | None = None, num_frames: int | None = None,
             steps: int | None = None, guidance: float | None = None, fps: int | None = None,
             offload: str = "auto", has_image: bool = False) -> dict[str, Any]:
        """Validate a request and plan its memory on this machine's device (nothing is loaded).

        Works for catalog models that are not downloaded yet (from the catalog's profile), so a
        user learns whether a model fits before fetching it.
        """
        profile = self.profile(model)
        values = validate(profile, width=width, height=height, num_frames=num_frames, steps=steps,
                          guidance=guidance, fps=fps, has_image=has_image)
        chosen = self._plan(profile, values, offload)
        out = chosen.to_dict()
        out["request"] = values
        out["local"] = self._local(ModelRef.parse(model).repo_id) is not None
        return out

    def _plan(self, profile: PipelineProfile, values: dict[str, Any], offload: str) -> Plan:
        if offload not in OFFLOAD_CHOICES:
            raise ValidationError(f"offload must be one of {', '.join(OFFLOAD_CHOICES)}",
                                  details={"field": "offload", "value": offload, "choices": list(OFFLOAD_CHOICES)})
        import psutil

        ram = psutil.virtual_memory()
        device, name, free, total = device_memory()
        if offload == "cpu":
            device, name, free, total = "cpu", "CPU", int(ram.available), int(ram.total)
        # The pipeline held there (the weights the peak already counts) is freed before another loads.
        free += self._held_on(device)
        ram_free = int(ram.available)
        return plan(profile, width=values["width"], height=values["height"], num_frames=values["num_frames"],
                    guidance=values["guidance"], device=device, free_bytes=free, total_bytes=total,
                    device_name=name, offload="auto" if offload == "cpu" else offload, ram_free=ram_free)

    def _held_on(self, device: str) -> int:
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

    # Generating --------------------------------------------------------------------------------

    def generate(self, model: str, prompt: str, *, negative_prompt: str = "", image: Any = None,
                 width: int | None = None, height: int | None = None, num_frames: int | None = None,
                 fps: int | None = None, steps: int | None = None, guidance: float | None = None,
                 seed: int | None = None, lora: str | None = None, lora_scale: float = 1.0,
                 offload: str = "auto") -> Job:
        """Queue a generation; returns its Job at once (``job.wait()`` for the result).

        ``image`` (image-to-video): a path, bytes, base64 text (a ``data:`` URL too) or a PIL image.
        ``seed`` None picks one (saved with the video, so it can be reproduced). ``offload``:
        ``auto`` (the planner's choice), ``none``, ``model``, ``sequential`` or ``cpu``.
        """
        if self._closed:
            raise ConflictError("The engine is closing")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValidationError("Give a prompt", details={"field": "prompt"})
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise ValidationError("negative_prompt must be text", details={"field": "negative_prompt"})
        if len(prompt) > MAX_PROMPT_CHARS or len(negative_prompt or "") > MAX_PROMPT_CHARS:
            raise ValidationError(f"Prompts are limited to {MAX_PROMPT_CHARS} characters",
                                  details={"field": "prompt", "max": MAX_PROMPT_CHARS})
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
            raise ValidationError("seed must be an integer from 0 to 4294967295", details={"field": "seed", "value": seed})
        if isinstance(lora_scale, bool) or not isinstance(lora_scale, int | float) or not -2.0 <= lora_scale <= 4.0:
            raise ValidationError("lora_scale must be a number from -2 to 4",
                                  details={"field": "lora_scale", "value": lora_scale, "nearest": 1.0})
        profile = self.profile(model)
        pil = _decode_image(image) if image is not None else None
        values = validate(profile, width=width, height=height, num_frames=num_frames, steps=steps,
                          guidance=guidance, fps=fps, has_image=pil is not None)
        lora_path = _check_lora(lora) if lora else None
        repo_id, local, folder = self._resolve(model)
        chosen = self._plan(profile, values, offload)
        if seed is None:
            seed = random.SystemRandom().randrange(2**32)
        task = "image-to-video" if pil is not None or not profile.text_to_video else "text-to-video"
        params = {
            "model": repo_id, "revision": local.commit, "path": str(folder), "pipeline": profile.pipeline,
            "family": profile.family, "task": task, "prompt": prompt, "negative_prompt": negative_prompt or "",
            **values, "seed": seed, "lora": str(lora_path) if lora_path else None,
            "lora_scale": float(lora_scale), "offload": offload, "image": None,
            "plan": {"device": chosen.device, "device_name": chosen.device_name, "strategy": chosen.strategy.name,
                     "offload": chosen.strategy.offload, "vae_tiling": chosen.strategy.vae_tiling,
                     "vae_slicing": chosen.strategy.vae_slicing, "peak_bytes": chosen.strategy.peak_bytes,
                     "free_bytes": chosen.free_bytes, "dtype": chosen.dtype},
        }
        title = f"{repo_id.split('/')[-1]}: {prompt.strip()[:60]}"
        job = self.store.create(KIND, params, title=title)
        try:
            if pil is not None:
                out_dir = self.outputs_dir / job.id
                out_dir.mkdir(parents=True, exist_ok=True)
                image_path = out_dir / "input.png"
                _atomic_save(image_path, lambda p: pil.save(p, format="PNG"))
                params["image"] = str(image_path)
            job = self.store.set_state(job.id, JobState.QUEUED, params=params,
                                       progress=Progress(total=values["steps"], unit="steps", message="queued"))
            self.runner.submit(job)
        except BaseException as exc:  # e.g. a full disk: the job must not stay queued forever
            self._discard(job.id)
            self.store.set_state(job.id, JobState.FAILED, error=_error_for(exc, params))
            raise
        return job

    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        """One generation on the runner's lane of its device: frames, MP4, thumbnail, params.json."""
        p = job.params
        device = _device(job)
        total = int(p["steps"])
        out_dir = self.outputs_dir / job.id
        control.progress(Progress(done=0, total=total, unit="steps", message="loading pipeline",
                                  detail={"phase": "loading pipeline"}), force=True)
        self._busy.add(device)
        timer = self._idle_timers.pop(device, None)
        if timer is not None:
            timer.cancel()
        energy = GpuEnergy() if device != "cpu" else None
        started = time.monotonic()
        try:
            frames = self._generate_frames(job, device, energy, control)
            self._progress(control, total, total, "writing mp4", None)
            result = self._write_outputs(job, frames, out_dir)
            result["elapsed"] = round(time.monotonic() - started, 3)
            result["energy_wh"] = energy.wh() if energy is not None else None
            self._write_params(job, out_dir, result)
            control.last_progress = Progress(done=total, total=total, unit="steps", message="done",
                                             detail={"phase": "done"})
            return result
        except Stopped:
            raise  # _on_stop removes the outputs
        except BaseException:
            self._discard(job.id, keep_input=True)
            raise
        finally:
            self._busy.discard(device)
            held = self._loaded.get(device)
            if held is not None:
                held.last_used = time.time()
                self._unload_when_idle(device)

    def _on_stop(self, job: Job, state: JobState) -> None:
        # No video of a stopped generation; an interrupted one keeps its input image to run again.
        self._discard(job.id, keep_input=state == JobState.INTERRUPTED)

    def _unload_when_idle(self, device: str) -> None:
        """Free the pipeline on ``device`` once ``idle_ttl`` seconds pass with no generation there."""
        ttl = float(self.settings.idle_ttl or 0)
        if ttl <= 0 or self._closed:
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

    def _progress(self, control: Control, done: int, total: int, phase: str, rate: float | None) -> None:
        eta = (total - done) / rate if rate else None
        control.progress(Progress(done=done, total=total, unit="steps", rate=rate, eta=eta, message=phase,
                                  detail={"phase": phase, "step": done}))

    def _generate_frames(self, job: Job, device: str, energy: GpuEnergy | None, control: Control) -> Any:
        import torch

        p = job.params
        total = int(p["steps"])
        control.check()
        pipe = self._pipeline(p, device)
        if p.get("image"):
            pipe = self._i2v(p, device, pipe)
        control.check()
        kwargs = self._call_kwargs(pipe, p)
        first: list[tuple[float, int]] = []  # (time, steps done) at the first callback

        def on_step_end(_pipe: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            now, done = time.monotonic(), step + 1
            if not first:
                first.append((now, done))
            t_first, d_first = first[0]
            rate = (done - d_first) / (now - t_first) if done > d_first and now > t_first else None
            self._progress(control, done, total, "denoising" if done < total else "decoding", rate)
            control.check()  # reads the store too: a cancel from another process ends it at this step
            return callback_kwargs

        # The first step includes warm-up, so the rate counts from the first callback on.
        kwargs["callback_on_step_end"] = on_step_end
        self._progress(control, 0, total, "denoising", None)
        lora_loaded = False
        try:
            if p.get("lora"):
                pipe.load_lora_weights(p["lora"], adapter_name="studio")
                lora_loaded = True
                pipe.set_adapters(["studio"], [float(p.get("lora_scale", 1.0))])
            with torch.inference_mode():
                out = pipe(**kwargs)
        finally:
            if lora_loaded:
                try:
                    pipe.unload_lora_weights()
                except Exception:
                    log.warning("could not unload the LoRA; dropping the pipeline", exc_info=True)
                    self._loaded.pop(device, None)
        frames = out.frames[0]
        return frames

    def _call_kwargs(self, pipe: Any, p: dict[str, Any]) -> dict[str, Any]:
        import torch

        accepted = set(inspect.signature(pipe.__call__).parameters)
        kwargs: dict[str, Any] = {
            "prompt": p["prompt"], "height": int(p["height"]), "width": int(p["width"]),
            "num_frames": int(p["num_frames"]), "num_inference_steps": int(p["steps"]),
            "guidance_scale": float(p["guidance"]), "output_type": "np",
            # A CPU generator gives the same noise on every device, so a seed reproduces anywhere.
            "generator": torch.Generator(device="cpu").manual_seed(int(p["seed"])),
        }
        if p.get("negative_prompt"):
            kwargs["negative_prompt"] = p["negative_prompt"]
        if p.get("image"):
            from PIL import Image

            with Image.open(p["image"]) as im:
                kwargs["image"] = im.convert("RGB")
        if "frame_rate" in accepted and p.get("fps"):
            kwargs["frame_rate"] = int(p["fps"])  # LTX conditions on the frame rate
        return {k: v for k, v in kwargs.items() if k in accepted or k == "callback_on_step_end"}

    # Pipelines ---------------------------------------------------------------------------------

    def _pipeline(self, p: dict[str, Any], device: str) -> Any:
        plan_ = p["plan"]
        key = (p["path"], p.get("revision"), plan_["dtype"], plan_["offload"], plan_["vae_tiling"], plan_["vae_slicing"])
        with self._lock:
            held = self._loaded.get(device)
        if held is not None and held.key == key:
            return held.pipe
        self._unload(device)
        try:
            import torch
            from diffusers import DiffusionPipeline
        except ImportError as exc:
            raise BackendUnavailableError("Video generation needs diffusers, torch and imageio",
                                          details={"missing": str(exc)},
                                          resolution_steps=["pip install 'jupyter-model-studio[video]'"]) from None
        dtype = getattr(torch, plan_["dtype"])
        profile = self._profiles.get((p["path"], p.get("revision")))
        torch_dtype: Any = dtype
        if profile is not None and profile.vae_dtype and device != "cpu":
            torch_dtype = {"default": dtype, "vae": getattr(torch, profile.vae_dtype)}
        with _quiet_loading():
            pipe = DiffusionPipeline.from_pretrained(p["path"], **{_dtype_keyword(): torch_dtype})
        pipe.set_progress_bar_config(disable=True)
        offload = plan_["offload"]
        if offload in ("none", "cpu"):
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
                                           loaded_at=now, last_used=now)
        return pipe

    def _i2v(self, p: dict[str, Any], device: str, pipe: Any) -> Any:
        """The image-to-video pipeline over the same components (``from_pipe``: no second copy)."""
        profile = self.profile(p["model"]) if p["model"] else None
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

    # Outputs -----------------------------------------------------------------------------------

    def _write_outputs(self, job: Job, frames: Any, out_dir: Path) -> dict[str, Any]:
        import numpy as np
        from diffusers.utils import export_to_video
        from PIL import Image

        p = job.params
        frames = np.asarray(frames)
        if frames.dtype == np.uint8:  # a pipeline that returned bytes: export_to_video wants [0, 1]
            frames = frames.astype(np.float32) / 255.0
        # export_to_video scales numpy frames by 255 itself (bytes would wrap around); diffusers'
        # video processor already clamps to [0, 1], so the frames go as they are (no copy).
        out_dir.mkdir(parents=True, exist_ok=True)
        video = out_dir / "video.mp4"
        fps = int(p["fps"])
        # imageio picks the writer from the extension, so the temporary name ends in .mp4 too.
        _atomic_save(video, lambda tmp: export_to_video(list(frames), str(tmp), fps=fps), suffix=".mp4")
        thumb = out_dir / "thumbnail.jpg"
        middle = Image.fromarray((np.clip(frames[len(frames) // 2], 0.0, 1.0) * 255).round().astype(np.uint8))
        middle.thumbnail((320, 320))
        _atomic_save(thumb, lambda tmp: middle.save(tmp, format="JPEG", quality=85))
        n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
        return {"video": str(video), "thumbnail": str(thumb), "params_file": str(out_dir / "params.json"),
                "frames": n, "width": w, "height": h, "fps": fps, "duration": round(n / fps, 3),
                "bytes": video.stat().st_size, "seed": int(p["seed"])}

    def _write_params(self, job: Job, out_dir: Path, result: dict[str, Any]) -> None:
        versions: dict[str, str] = {}
        for mod in ("diffusers", "torch", "transformers"):
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:
                pass
        record = {"job_id": job.id, "created_at": job.created_at, **{k: v for k, v in job.params.items()},
                  "result": {k: v for k, v in result.items() if k not in ("video", "thumbnail", "params_file")},
                  "versions": versions}
        _atomic_save(out_dir / "params.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2)))

    def _discard(self, job_id: str, *, keep_input: bool = False) -> None:
        """Remove a stopped generation's outputs (and leftovers of a write cut short)."""
        out_dir = self.outputs_dir / job_id
        if not out_dir.is_dir():
            return
        for child in out_dir.iterdir():
            if keep_input and child.name == "input.png":
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        if not any(out_dir.iterdir()):
            out_dir.rmdir()

    # Jobs --------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise NotFoundError(f"No video generation {job_id!r}", details={"job_id": job_id})
        return job

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Generations, newest first (the gallery is the completed ones)."""
        states = [JobState(state)] if state else None
        return self.store.list(KIND, states, limit=limit)

    def cancel(self, job_id: str) -> Job:
        """Stop a generation between two steps (a queued one never starts); no video is written."""
        job = self.get(job_id)
        if job.done or job.state in (JobState.PAUSED, JobState.INTERRUPTED):
            return job
        return self.runner.cancel(job_id)

    def resume(self, job_id: str) -> Job:
        """Run a cancelled, failed or interrupted generation again with the same parameters and seed."""
        job = self.get(job_id)
        p = job.params
        if p.get("image") and not Path(p["image"]).is_file():
            raise NotFoundError("The input image of this generation is gone", details={"job_id": job_id})
        self._resolve(p["model"])
        return self.runner.resume(job_id)

    def delete(self, job_id: str) -> dict[str, Any]:
        """Delete a finished generation and its files."""
        job = self.get(job_id)
        if job.active:
            raise ConflictError(f"Generation {job_id} is {job.state.value}; cancel it first",
                                details={"job_id": job_id, "state": job.state.value})
        out_dir = self.outputs_dir / job_id
        size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) if out_dir.is_dir() else 0
        shutil.rmtree(out_dir, ignore_errors=True)
        self.store.delete(job_id)
        return {"deleted": job_id, "bytes": size}

    def media_path(self, job_id: str, what: str = "video") -> Path:
        """The file of a generation: ``video`` (MP4), ``thumbnail`` (JPEG) or ``image`` (the input)."""
        if what not in MEDIA:
            raise ValidationError(f"what must be one of {', '.join(MEDIA)}",
                                  details={"field": "what", "value": what, "choices": list(MEDIA)})
        job = self.get(job_id)
        path = ensure_within(self.outputs_dir, self.outputs_dir / job_id / MEDIA[what][0])
        if not path.is_file():
            raise NotFoundError(f"Generation {job_id} has no {what} ({job.state.value})",
                                details={"job_id": job_id, "what": what, "state": job.state.value})
        return path

    def media(self, job_id: str, what: str = "video") -> dict[str, Any]:
        """A generation's file as base64 (for widgets, which have no file route)."""
        path = self.media_path(job_id, what)
        size = path.stat().st_size
        if size > MAX_MEDIA_BYTES:
            raise ValidationError(f"The {what} is {size} bytes, over the {MAX_MEDIA_BYTES}-byte limit of a widget message",
                                  details={"job_id": job_id, "what": what, "bytes": size, "path": str(path)},
                                  resolution_steps=[f"Open it from {path}",
                                                    f"Or fetch /model-studio/api/video/{job_id}/video.mp4"])
        data = path.read_bytes()
        return {"mime": MEDIA[what][1], "base64": base64.b64encode(data).decode("ascii"), "bytes": len(data)}

    def close(self) -> None:
        """Stop this process's generations: they end as ``interrupted`` (a running one at its next step)."""
        self._closed = True
        self.runner.close([KIND], timeout=10)
        for timer in list(self._idle_timers.values()):
            timer.cancel()
        for device in list(self._loaded):
            self._unload(device)


# --- helpers ----------------------------------------------------------------------------------


def _atomic_save(path: Path, write: Any, *, suffix: str = "") -> None:
    """Write through ``write(tmp_path)`` then rename, so ``path`` is whole or absent."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{suffix or path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _module_bytes(pipe: Any) -> int:
    """Bytes of the weights of a pipeline's torch components (parameters and buffers)."""
    total = 0
    for component in getattr(pipe, "components", {}).values():
        for tensors in (getattr(component, "parameters", None), getattr(component, "buffers", None)):
            if callable(tensors):
                total += sum(t.numel() * t.element_size() for t in tensors())
    return total


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


def decode_base64(text: Any, field: str = "image") -> bytes:
    """The bytes of an image given as base64 text (a ``data:`` URL too); never read as a file path."""
    if not isinstance(text, str):
        raise ValidationError(f"{field} must be base64 text", details={"field": field})
    text = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 8:
        raise ValidationError("The image is too large", details={"field": field, "max_bytes": MAX_IMAGE_BYTES})
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{field} must be a file path, PNG/JPEG bytes or base64 text" if field == "image"
                              else f"{field} must be base64 text (PNG, JPEG or WebP)",
                              details={"field": field}) from None


def _decode_image(image: Any) -> Any:
    """A PIL RGB image from a path, bytes, base64 (or data: URL) text or a PIL image."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise BackendUnavailableError("Image-to-video needs Pillow", resolution_steps=["pip install pillow"]) from None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    data: bytes
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
    elif isinstance(image, Path) or (isinstance(image, str) and len(image) < 4096 and (
            image.lower().endswith(IMAGE_SUFFIXES) or Path(image).expanduser().is_file())):
        path = Path(image).expanduser()
        if not path.is_file():
            raise NotFoundError(f"No image file at {image}", details={"field": "image", "image": str(image)},
                                resolution_steps=["Give the path of a PNG, JPEG or WebP file"])
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ValidationError("The image is too large", details={"field": "image", "max_bytes": MAX_IMAGE_BYTES})
        data = path.read_bytes()
    elif isinstance(image, str):
        data = decode_base64(image)
    else:
        raise ValidationError(f"image must be a path, bytes, base64 text or a PIL image, not {type(image).__name__}",
                              details={"field": "image"})
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValidationError("The image could not be read (PNG, JPEG or WebP expected)",
                              details={"field": "image", "bytes": len(data)}) from None


def _check_lora(lora: str) -> Path:
    if not isinstance(lora, str):
        raise ValidationError("lora must be the path of a .safetensors file or a folder", details={"field": "lora"})
    path = Path(lora).expanduser()
    if not path.exists():
        raise NotFoundError(f"No LoRA weights at {lora}", details={"field": "lora", "lora": lora},
                            resolution_steps=["Give the path of a .safetensors LoRA file or of a folder that holds one"])
    if path.is_file() and path.suffix != ".safetensors":
        raise ValidationError("LoRA weights must be a .safetensors file", details={"field": "lora", "lora": lora})
    if path.is_dir() and not any(path.glob("*.safetensors")):
        raise ValidationError("The LoRA folder holds no .safetensors file", details={"field": "lora", "lora": lora})
    return path.resolve()


def _device(job: Job) -> str:
    return (job.params.get("plan") or {}).get("device") or "cpu"


def _lane(job: Job) -> str:
    """One queue per device: generations on the same device run one at a time, in order."""
    return f"{KIND}:{_device(job)}"


def _error_for(exc: BaseException, params: dict[str, Any]) -> dict[str, Any]:
    """The job's error (the one shape) for an exception while queueing or generating."""
    return JobRunner.error_shape(_typed_error(exc, params))


def _typed_error(exc: BaseException, params: dict[str, Any]) -> StudioError:
    """The typed error for an exception from diffusers/torch: out-of-memory is a ResourceError."""
    if isinstance(exc, StudioError):
        return exc
    name = type(exc).__name__
    text = str(exc)
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        plan_ = params.get("plan") or {}
        err: StudioError = ResourceError(
            f"Out of memory while generating on {plan_.get('device', 'the device')}: {text[:300]}",
            details={"plan": plan_},
            resolution_steps=["Use a smaller size or fewer frames", "Choose offload 'model' or 'sequential'"])
    elif isinstance(exc, NameError) and "ftfy" in text:
        err = BackendUnavailableError("This pipeline cleans prompts with ftfy, which is not installed",
                                      details={"missing": "ftfy"},
                                      resolution_steps=["pip install ftfy (part of jupyter-model-studio[video])"])
    else:
        err = StudioError(f"Generation failed: {name}: {text[:500]}", details={"exception": name})
    return err


__all__ = ["KIND", "VideoService", "OFFLOAD_CHOICES"]
