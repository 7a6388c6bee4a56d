"""``engine.video``: text-to-video, image-to-video and first-last-frame generation with diffusers pipelines.

One idea a module:

* ``service``: ``VideoService`` (generate, plan, model, list, get, cancel, resume, delete, media), its
  registration on the job runner and the run of one generation;
* ``models``: which local and catalog models make videos, and their profiles;
* ``profiles``: ``PipelineProfile``, read from ``model_index.json``, configs and safetensors headers
  (or the catalog);
* ``rules``: what a request may ask of a pipeline (``validate``, nearest valid values);
* ``planner``: the memory planner (``plan``, ``Plan``, ``device_memory``);
* ``pipelines``: the held pipelines (reuse, idle unload, image-to-video sibling, LoRA);
* ``denoise``: one generation's pipeline call, per-step progress and cancellation;
* ``inputs``: the input images (first, and last for first-last-frame) and LoRA path of a request;
* ``outputs``: ``<home>/outputs/<job_id>/`` (MP4, thumbnail, params.json, input images; atomic writes);
* ``readiness``: whether a model is ready here (downloaded, verified, fits with which strategy, loaded).
"""

from __future__ import annotations

from .inputs import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, decode_base64
from .models import VIDEO_PIPELINE
from .outputs import MAX_MEDIA_BYTES, MEDIA
from .planner import GiB, MiB, Plan, Strategy, device_memory, plan
from .profiles import PipelineProfile
from .rules import FPS_RANGE, GUIDANCE_RANGE, MAX_SIZE, STEPS_RANGE, nearest_frames, validate
from .service import KIND, MAX_PROMPT_CHARS, OFFLOAD_CHOICES, VideoService

__all__ = [
    "FPS_RANGE", "GUIDANCE_RANGE", "GiB", "IMAGE_SUFFIXES", "KIND", "MAX_IMAGE_BYTES", "MAX_MEDIA_BYTES",
    "MAX_PROMPT_CHARS", "MAX_SIZE", "MEDIA", "MiB", "OFFLOAD_CHOICES", "STEPS_RANGE", "VIDEO_PIPELINE", "Plan",
    "PipelineProfile", "Strategy", "VideoService", "decode_base64", "device_memory", "nearest_frames", "plan",
    "validate",
]
