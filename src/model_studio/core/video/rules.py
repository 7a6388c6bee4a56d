"""What a video request may ask of a pipeline: ranges, size multiples, frame counts, nearest valid values.

Each model narrows the ranges here: sizes are multiples of its ``size_multiple`` and frame counts of the
form ``k * frame_step + 1`` (see ``PipelineProfile``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ...errors import ValidationError

if TYPE_CHECKING:
    from .profiles import PipelineProfile

STEPS_RANGE = (1, 200)
GUIDANCE_RANGE = (0.0, 30.0)
FPS_RANGE = (1, 120)
MAX_SIZE = 4096


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)



def _bad(field_: str, value: Any, constraint: str, nearest: Any, message: str) -> ValidationError:
    return ValidationError(
        message, details={"field": field_, "value": value, "constraint": constraint, "nearest": nearest},
        resolution_steps=[f"Use {field_}={nearest}."] if nearest is not None else [],
    )


def _number(field_: str, value: Any, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        try:
            if isinstance(value, bool):
                raise TypeError
            value = float(value)
            if math.isnan(value) or math.isinf(value):
                raise ValueError
        except (TypeError, ValueError):
            raise _bad(field_, value, "number", None, f"{field_} must be a number, got {value!r}") from None
    if integer and float(value) != int(value):
        raise _bad(field_, value, "integer", int(round(value)), f"{field_} must be an integer; nearest valid: "
                   f"{int(round(value))}")
    return float(value)


def nearest_frames(profile: PipelineProfile, n: int) -> int:
    """The valid frame count closest to ``n`` (ties go up)."""
    step, lo, hi = profile.frame_step, 1, profile.max_frames
    k = (n - 1) / step
    cands = [int(math.floor(k)) * step + 1, int(math.ceil(k)) * step + 1]
    best = min(cands, key=lambda c: (abs(c - n), -c))
    best = max(lo, best)
    if hi is not None and best > hi:
        best = ((hi - 1) // step) * step + 1
    return best


def validate(
    profile: PipelineProfile, *, width: Any = None, height: Any = None, num_frames: Any = None,
    steps: Any = None, guidance: Any = None, fps: Any = None, has_image: bool = False,
) -> dict[str, Any]:
    """Check a request against the pipeline's rules; returns the values with defaults filled in."""
    d = profile.defaults
    p = profile.pipeline
    if has_image and not profile.image_to_video:
        raise _bad("image", True, "text-to-video only", None,
                   f"{p} is text-to-video only and cannot take an input image; remove the image")
    if not has_image and not profile.text_to_video:
        raise _bad("image", False, "image required", None,
                   f"{p} is image-to-video only: an input image is required")
    out: dict[str, Any] = {}
    m = profile.size_multiple
    for name, value in (("width", width), ("height", height)):
        size = int(_number(name, d[name] if value is None else value, True))
        v = size
        if v < m or v > MAX_SIZE:
            near: Any = min(max(v, m), MAX_SIZE - MAX_SIZE % m)
            raise _bad(name, v, f"between {m} and {MAX_SIZE}", near,
                       f"{name} must be between {m} and {MAX_SIZE} for {p}; nearest valid: {near}")
        if v % m:
            near = min(_round_to(v, m), MAX_SIZE - MAX_SIZE % m)
            raise _bad(name, v, f"multiple of {m}", near,
                       f"{name} must be a multiple of {m} for {p}; nearest valid: {near}")
        out[name] = v
    f = int(_number("num_frames", d["num_frames"] if num_frames is None else num_frames, True))
    step = profile.frame_step
    if f < 1:
        raise _bad("num_frames", f, "at least 1", 1, f"num_frames must be at least 1 for {p}; nearest valid: 1")
    if profile.max_frames is not None and f > profile.max_frames:
        near = nearest_frames(profile, profile.max_frames)
        raise _bad("num_frames", f, f"at most {profile.max_frames}", near,
                   f"num_frames must be at most {profile.max_frames} for {p}; nearest valid: {near}")
    if (f - 1) % step:
        near = nearest_frames(profile, f)
        raise _bad("num_frames", f, f"{step}k+1", near,
                   f"num_frames must be of the form {step}k+1 for {p}; nearest valid: {near}")
    out["num_frames"] = f
    for name, value, rng, integer in (("steps", steps, STEPS_RANGE, True),
                                      ("guidance", guidance, GUIDANCE_RANGE, False),
                                      ("fps", fps, FPS_RANGE, False)):
        val = _number(name, d[name] if value is None else value, integer)
        lo, hi = float(rng[0]), float(rng[1])
        if not lo <= val <= hi:
            near_f = min(max(val, lo), hi)
            near_v: Any = int(near_f) if integer or near_f == int(near_f) else near_f
            raise _bad(name, val, f"between {rng[0]} and {rng[1]}", near_v,
                       f"{name} must be between {rng[0]} and {rng[1]}; nearest valid: {near_v}")
        out[name] = int(val) if integer else (int(val) if name == "fps" and val == int(val) else float(val))
    return out
