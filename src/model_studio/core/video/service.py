"""The video service: checks a request, queues it on the job runner, runs it, and keeps the gallery.

A generation is a Job of kind ``video``. ``generate()`` checks everything before it queues: the
model is local (``NotFoundError`` offers the download otherwise), sizes, frames, steps and guidance
suit the pipeline (``ValidationError`` names the constraint and the nearest valid value, see
``rules.validate``), the input images decode (a last frame only for a model that takes one:
``_check_last_image``), the LoRA file exists, and the memory planner finds a
strategy that fits the device (``ResourceError`` with the numbers otherwise), all before a single
weight is loaded.

The engine's job runner queues generations in one lane per device (one generation at a time each);
the last pipeline stays loaded for the next one (``pipelines.PipelineCache``). A stopped generation
writes no video (``outputs.Outputs.discard``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import (
    BackendUnavailableError,
    ConflictError,
    NotFoundError,
    ResourceError,
    StudioError,
    ValidationError,
)
from ..jobs import RESUMABLE, Control, Job, JobRunner, JobState, JobStore, Progress, Stopped
from ..refs import ModelRef
from .denoise import generate_frames
from .inputs import _check_lora, _decode_image
from .models import VideoModels
from .outputs import MEDIA, Outputs
from .pipelines import PipelineCache
from .planner import Plan, device_memory, plan, torch_gpus
from .profiles import PipelineProfile
from .readiness import readiness
from .rules import validate

if TYPE_CHECKING:
    from ..library import Library

KIND = "video"
OFFLOAD_CHOICES = ("auto", "none", "model", "sequential", "cpu")
MAX_PROMPT_CHARS = 10_000


class VideoService:
    """Generate videos, plan their memory, and keep a gallery of past generations."""

    def __init__(self, settings: Settings, jobs: JobStore, library: Library, runner: JobRunner) -> None:
        self.settings = settings
        self.store = jobs
        self.library = library
        self.runner = runner
        self.outputs_dir = settings.home_path / "outputs"
        self.outputs = Outputs(self.outputs_dir)
        self.catalog = VideoModels(library)
        self.pipelines = PipelineCache(settings, self.catalog.profile, self.catalog.cached_profile)
        self._closed = False
        #: In host mode (``engine.host``), the ``HostVideo`` that runs generations in the model host.
        self.remote: Any = None
        # A pause cannot keep a half-denoised clip: it cancels; closing the engine interrupts (resumable).
        runner.register(KIND, self._run, lane=_lane, concurrency=1, pausable=False,
                        close_state=JobState.INTERRUPTED, on_stop=self._on_stop,
                        error_for=lambda exc, job: _typed_error(exc, job.params))
        jobs.register_resumer(KIND, self.resume)

    # Models ------------------------------------------------------------------------------------

    def profile(self, model: str) -> PipelineProfile:
        """The pipeline profile of ``model``: from its files when local, else from the catalog."""
        return self.catalog.profile(model)

    def models(self) -> list[dict[str, Any]]:
        """Video models: every local diffusers video pipeline, then the catalog's, local first."""
        return self.catalog.models()

    def model(self, model: str) -> dict[str, Any]:
        """Is ``model`` ready here: downloaded, verified, fits (with which strategy), loaded (``readiness``)."""
        return readiness(self, model)

    # Planning ----------------------------------------------------------------------------------

    def plan(self, model: str, *, width: int | None = None, height: int | None = None, num_frames: int | None = None,
             steps: int | None = None, guidance: float | None = None, fps: int | None = None,
             offload: str = "auto", has_image: bool = False, has_last_image: bool = False,
             device: str = "auto") -> dict[str, Any]:
        """Validate a request and plan its memory on ``device`` (nothing is loaded).

        Works for catalog models that are not downloaded yet (from the catalog's profile), so a
        user learns whether a model fits before fetching it.
        """
        profile = self.profile(model)
        self._check_last_image(model, profile, has_image, has_last_image)
        values = validate(profile, width=width, height=height, num_frames=num_frames, steps=steps,
                          guidance=guidance, fps=fps, has_image=has_image)
        chosen = self._plan(profile, values, offload, images=2 if has_last_image else 1, device=device)
        out = chosen.to_dict()
        out["request"] = values
        out["local"] = self.catalog.local(ModelRef.coerce(model).repo_id) is not None
        return out

    def _check_last_image(self, model: str, profile: PipelineProfile, has_image: bool, has_last_image: bool) -> None:
        """A last frame needs a model made for first-last-frame, and a first image; an FLF2V model needs both."""
        repo_id = ModelRef.coerce(model).repo_id
        if not has_last_image:
            if has_image and profile.last_image_required:
                raise ValidationError(
                    f"{repo_id} is a first-last-frame model: give the last frame too (last_image=...)",
                    details={"field": "last_image", "model": repo_id, "constraint": "last image required"},
                    resolution_steps=["Give the last frame as last_image"])
            return
        if not profile.last_image:
            takers = self.catalog.last_image_models()
            raise ValidationError(
                f"{repo_id} ({profile.pipeline}) cannot take a last image: first-last-frame needs a model made "
                f"for it. Models that accept one: {', '.join(takers) or 'none known'}",
                details={"field": "last_image", "model": repo_id, "pipeline": profile.pipeline,
                         "constraint": "first-last-frame model", "models": takers},
                resolution_steps=["Remove the last image", *[f"Or use {m}" for m in takers[:3]]])
        if not has_image:
            raise ValidationError("A last image needs a first image too (image=...)",
                                  details={"field": "last_image", "model": repo_id, "constraint": "image required"},
                                  resolution_steps=["Give the first frame as image"])

    def devices(self) -> list[dict[str, Any]]:
        """The devices a generation may pick: ``auto``, each GPU (``cuda:N`` with its name, free and
        total bytes, counting what this studio's own pipeline there holds as free) and ``cpu``."""
        gpus = self._gpus()
        best = max(gpus, key=lambda g: g["free"])["device"] if gpus else "cpu"
        out: list[dict[str, Any]] = [{"device": "auto", "name": f"Auto (now {best})", "picks": best}]
        out += gpus
        import psutil

        ram = psutil.virtual_memory()
        out.append({"device": "cpu", "name": "CPU", "free": int(ram.available), "total": int(ram.total)})
        return out

    def _gpus(self) -> list[dict[str, Any]]:
        """Each GPU with ``device``, ``name``, ``free`` and ``total`` bytes (NVML through the arbiter, else torch)."""
        arbiter = self.pipelines.arbiter
        if arbiter is not None:
            gpus = [dict(g) for g in arbiter.gpus()]
        else:  # no arbiter attached (yet): read NVML here
            from ..system import _Nvml

            self._nvml = getattr(self, "_nvml", None) or _Nvml()
            gpus = [{"device": f"cuda:{g.index}", "name": g.name, "free": g.memory_free, "total": g.memory_total}
                    for g in self._nvml.gpus()]
        if not gpus:  # no NVML (pynvml missing): torch's view, else the planner's first-GPU probe
            dev, name, free, total = device_memory()
            gpus = torch_gpus() or ([{"device": dev, "name": name, "free": free, "total": total}]
                                    if dev != "cpu" else [])
        for g in gpus:  # the pipeline held there (the weights the peak already counts) is freed before another loads
            g["free"] = int(g["free"]) + self.pipelines.held_on(g["device"])
        return [{k: g[k] for k in ("device", "name", "free", "total")} for g in gpus]

    def _pick_device(self, device: Any, gpus: list[dict[str, Any]]) -> str:
        """``cuda:N``, ``cpu``, or for ``auto`` the GPU with the most free memory (the CPU without a GPU)."""
        names = ["auto", "cpu", *(g["device"] for g in gpus)]
        if not isinstance(device, str) or device not in names:
            raise ValidationError(
                f"device must be one of {', '.join(names)}; got {device!r}",
                details={"field": "device", "value": device if isinstance(device, str) else repr(device),
                         "choices": names, "nearest": "auto"},
                resolution_steps=["Use device='auto' (the GPU with the most free memory)",
                                  "See engine.video.devices() for this machine's devices"])
        if device == "auto":
            return max(gpus, key=lambda g: g["free"])["device"] if gpus else "cpu"
        return device

    def _plan(self, profile: PipelineProfile, values: dict[str, Any], offload: str, *, images: int = 1,
              device: str = "auto") -> Plan:
        if offload not in OFFLOAD_CHOICES:
            raise ValidationError(f"offload must be one of {', '.join(OFFLOAD_CHOICES)}",
                                  details={"field": "offload", "value": offload, "choices": list(OFFLOAD_CHOICES)})
        import psutil

        ram = psutil.virtual_memory()
        gpus = self._gpus()
        picked = self._pick_device(device, gpus)
        if offload == "cpu" or picked == "cpu":
            where, name, free, total = "cpu", "CPU", int(ram.available), int(ram.total)
        else:
            gpu = next(g for g in gpus if g["device"] == picked)
            where, name, free, total = gpu["device"], gpu["name"], gpu["free"], gpu["total"]
        # "auto" may split a pipeline across every GPU when no single one holds it without offload.
        split = gpus if device == "auto" and where != "cpu" and len(gpus) > 1 else None
        return plan(profile, width=values["width"], height=values["height"], num_frames=values["num_frames"],
                    guidance=values["guidance"], device=where, free_bytes=free, total_bytes=total,
                    device_name=name, offload="auto" if offload == "cpu" else offload, ram_free=int(ram.available),
                    images=images, gpus=split)

    # Generating --------------------------------------------------------------------------------

    def generate(self, model: str, prompt: str, *, negative_prompt: str = "", image: Any = None,
                 last_image: Any = None, width: int | None = None, height: int | None = None, num_frames: int | None = None,
                 fps: int | None = None, steps: int | None = None, guidance: float | None = None,
                 seed: int | None = None, lora: str | None = None, lora_scale: float = 1.0,
                 offload: str = "auto", device: str = "auto") -> Job:
        """Queue a generation; returns its Job at once (``job.wait()`` for the result).

        ``image`` (image-to-video): a path, bytes, base64 text (a ``data:`` URL too) or a PIL image.
        ``last_image`` (first-last-frame, models made for it: ``last_image`` in ``models()``): the
        last frame, given like ``image``; needs ``image`` too.
        ``seed`` None picks one (saved with the video, so it can be reproduced). ``offload``:
        ``auto`` (the planner's choice), ``none``, ``model``, ``sequential`` or ``cpu``. ``device``:
        ``cuda:N``, ``cpu`` or ``auto`` (the GPU with the most free memory; with several GPUs, a pipeline
        no single one holds without offload may be split across them: ``device_map="balanced"``).
        Generations queue per device: one at a time on each.
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
        self._check_last_image(model, profile, image is not None, last_image is not None)
        pil = _decode_image(image) if image is not None else None
        last = _decode_image(last_image, "last_image") if last_image is not None else None
        values = validate(profile, width=width, height=height, num_frames=num_frames, steps=steps,
                          guidance=guidance, fps=fps, has_image=pil is not None)
        lora_path = _check_lora(lora) if lora else None
        repo_id, local, folder = self.catalog.resolve(model)
        chosen = self._plan(profile, values, offload, images=2 if last is not None else 1, device=device)
        if seed is None:
            seed = random.SystemRandom().randrange(2**32)
        task = ("first-last-frame-to-video" if last is not None else
                "image-to-video" if pil is not None or not profile.text_to_video else "text-to-video")
        params = {
            "model": repo_id, "revision": local.commit, "path": str(folder), "pipeline": profile.pipeline,
            "family": profile.family, "task": task, "prompt": prompt, "negative_prompt": negative_prompt or "",
            **values, "seed": seed, "lora": str(lora_path) if lora_path else None,
            "lora_scale": float(lora_scale), "offload": offload, "device": device, "image": None, "last_image": None,
            "plan": {"device": chosen.device, "device_name": chosen.device_name, "strategy": chosen.strategy.name,
                     "offload": chosen.strategy.offload, "vae_tiling": chosen.strategy.vae_tiling,
                     "vae_slicing": chosen.strategy.vae_slicing, "peak_bytes": chosen.strategy.peak_bytes,
                     "free_bytes": chosen.free_bytes, "dtype": chosen.dtype,
                     "device_peaks": chosen.strategy.device_peaks, "device_map": chosen.strategy.device_map,
                     "split_free": chosen.strategy.device_free},
        }
        title = f"{repo_id.split('/')[-1]}: {prompt.strip()[:60]}"
        job = self.store.create(KIND, params, title=title)
        try:
            if pil is not None:
                params["image"] = str(self.outputs.save_input(job.id, pil))
            if last is not None:
                params["last_image"] = str(self.outputs.save_input(job.id, last, "last.png"))
            job = self.store.set_state(job.id, JobState.QUEUED, params=params,
                                       progress=Progress(total=values["steps"], unit="steps", message="queued"))
            if self.remote is not None:  # the host claims the queued job and runs it
                self.remote.submit(job)
            else:
                self.runner.submit(job)
        except BaseException as exc:  # e.g. a full disk: the job must not stay queued forever
            self.outputs.discard(job.id)
            self.store.set_state(job.id, JobState.FAILED, error=_error_for(exc, params))
            raise
        return job
    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        """One generation on the runner's lane of its device: frames, MP4, thumbnail, params.json."""
        p = job.params
        device = _device(job)
        total = int(p["steps"])
        control.progress(Progress(done=0, total=total, unit="steps", message="loading pipeline",
                                  detail={"phase": "loading pipeline"}), force=True)
        self.pipelines.begin(device)
        started = time.monotonic()
        try:
            frames = generate_frames(self.pipelines, job, device, control, self._progress)
            self._progress(control, total, total, "writing mp4", None)
            result = self.outputs.write_video(job, frames)
            result["elapsed"] = round(time.monotonic() - started, 3)
            self.outputs.write_params(job, result)
            control.last_progress = Progress(done=total, total=total, unit="steps", message="done",
                                             detail={"phase": "done"})
            return result
        except Stopped:
            raise  # _on_stop removes the outputs
        except BaseException:
            self.outputs.discard(job.id, keep_input=True)
            raise
        finally:
            self.pipelines.end(device)

    def _on_stop(self, job: Job, state: JobState) -> None:
        # No video of a stopped generation; an interrupted one keeps its input image to run again.
        self.outputs.discard(job.id, keep_input=state == JobState.INTERRUPTED)

    def _progress(self, control: Control, done: int, total: int, phase: str, rate: float | None) -> None:
        eta = (total - done) / rate if rate else None
        control.progress(Progress(done=done, total=total, unit="steps", rate=rate, eta=eta, message=phase,
                                  detail={"phase": phase, "step": done}))

    # Pipelines ---------------------------------------------------------------------------------

    def loaded(self) -> list[dict[str, Any]]:
        """Pipelines held in memory (one per device at most), with their weights' bytes and idle time."""
        if self.remote is not None:
            return self.remote.loaded()
        return self.pipelines.loaded()

    def unload(self, device: str | None = None) -> dict[str, Any]:
        """Free the pipeline held on ``device`` (all devices when None); not while it generates."""
        if self.remote is not None:
            return self.remote.unload(device)
        return self.pipelines.unload(device)

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
        for key, what in (("image", "input image"), ("last_image", "last image")):
            if p.get(key) and not Path(p[key]).is_file():
                raise NotFoundError(f"The {what} of this generation is gone", details={"job_id": job_id, "field": key})
        self.catalog.resolve(p["model"])
        if self.remote is not None:
            job = self.store.claim(job_id, RESUMABLE)
            self.remote.submit(job)
            return self.store.get(job_id)
        return self.runner.resume(job_id)

    def delete(self, job_id: str) -> dict[str, Any]:
        """Delete a finished generation and its files."""
        job = self.get(job_id)
        if job.active:
            raise ConflictError(f"Generation {job_id} is {job.state.value}; cancel it first",
                                details={"job_id": job_id, "state": job.state.value})
        size = self.outputs.delete(job_id)
        self.store.delete(job_id)
        return {"deleted": job_id, "bytes": size}

    def media_path(self, job_id: str, what: str = "video") -> Path:
        """The file of a generation: ``video`` (MP4), ``thumbnail`` (JPEG), ``image`` (the input) or
        ``last_image`` (the last frame of a first-last-frame generation)."""
        if what not in MEDIA:
            raise ValidationError(f"what must be one of {', '.join(MEDIA)}",
                                  details={"field": "what", "value": what, "choices": list(MEDIA)})
        return self.outputs.path(self.get(job_id), what)

    def media(self, job_id: str, what: str = "video") -> dict[str, Any]:
        """A generation's file as base64 (for widgets, which have no file route)."""
        return self.outputs.read(self.media_path(job_id, what), job_id, what)

    def close(self) -> None:
        """Stop this process's generations: they end as ``interrupted`` (a running one at its next step)."""
        self._closed = self.pipelines.closed = True  # no idle timer for a generation ending now
        self.runner.close([KIND], timeout=10)
        self.pipelines.close()


# --- helpers ----------------------------------------------------------------------------------


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
