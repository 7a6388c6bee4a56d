"""One generation's frames: the pipeline call, its arguments, per-step progress and cancellation.

Progress comes from ``callback_on_step_end``; a cancel request (from any process, through the job
store) raises out of that callback (``Control.check``), so the job ends between two steps.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from ..jobs import Control, Job
from .pipelines import PipelineCache


def generate_frames(pipelines: PipelineCache, job: Job, device: str, control: Control,
                    progress: Callable[[Control, int, int, str, float | None], None]) -> Any:
    """Denoise and decode one generation's frames on ``device``, reporting each step; cancellable between steps."""
    import torch

    p = job.params
    total = int(p["steps"])
    control.check()
    pipe = pipelines.pipeline(p, device)
    if p.get("image"):
        pipe = pipelines.i2v(p, device, pipe)
    control.check()
    kwargs = call_kwargs(pipe, p)
    first: list[tuple[float, int]] = []  # (time, steps done) at the first callback

    def on_step_end(_pipe: Any, step: int, _timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        now, done = time.monotonic(), step + 1
        if not first:
            first.append((now, done))
        t_first, d_first = first[0]
        rate = (done - d_first) / (now - t_first) if done > d_first and now > t_first else None
        progress(control, done, total, "denoising" if done < total else "decoding", rate)
        control.check()  # reads the store too: a cancel from another process ends it at this step
        return callback_kwargs

    # The first step includes warm-up, so the rate counts from the first callback on.
    kwargs["callback_on_step_end"] = on_step_end
    progress(control, 0, total, "denoising", None)
    with pipelines.lora(pipe, p, device), torch.inference_mode():
        out = pipe(**kwargs)
    frames = out.frames[0]
    return frames


def call_kwargs(pipe: Any, p: dict[str, Any]) -> dict[str, Any]:
    """The pipeline call's keyword arguments from a generation's parameters (those it accepts)."""
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
    from PIL import Image

    for key in ("image", "last_image"):  # the first frame, and the last (first-last-frame)
        if p.get(key):
            with Image.open(p[key]) as im:
                kwargs[key] = im.convert("RGB")
    if "frame_rate" in accepted and p.get("fps"):
        kwargs["frame_rate"] = int(p["fps"])  # LTX conditions on the frame rate
    return {k: v for k, v in kwargs.items() if k in accepted or k == "callback_on_step_end"}
