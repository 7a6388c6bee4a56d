"""Video pipelines: what a model is (profile), what it accepts (validation, presets) and how it fits (plan).

Nothing here imports torch at module level: a profile is read from ``model_index.json``, each component's
``config.json`` and the JSON headers of its ``*.safetensors`` files (8-byte little-endian length, then a
JSON object giving the dtype and shape of every tensor), or from the catalog's ``video.profile`` numbers.

The memory model, per strategy (peak bytes on the device):

* weights: parameters x bytes per element (bfloat16 on a GPU, the VAE in ``vae_dtype``; float32 on CPU);
* transformer activations: ``tokens x batch x (hidden_dim * ACT_HIDDEN + ffn_dim * ACT_FFN) x bytes`` with
  memory-efficient attention (no tokens^2 term), where ``tokens = ceil(latent_frames / pt) * (lat_h / ph) *
  (lat_w / pw)``, ``latent_frames = (F - 1) // vae_temporal + 1``, ``lat = size // vae_spatial`` and batch 2
  when the pipeline batches cond + uncond (``cfg_batch`` and guidance > 1);
* VAE decode activations: ``live frames x pixels x VAE_DECODE_VALUES x bytes`` plus the decoded video, where
  tiling bounds the pixels to a tile (and the frames to a temporal tile), and slicing decodes one video of a
  batch at a time (a single video is generated, so slicing changes nothing here but costs nothing);
* text encoder activations: small (``text_len`` tokens);
* a fixed CUDA/allocator overhead and a safety margin on top.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResourceError, ValidationError
from .units import human_size

MiB = 1 << 20
GiB = 1 << 30

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# safetensors header dtypes -> bytes (only used to sanity-read files; counts come from shapes)
_ST_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"}

# --- constants of the memory model -----------------------------------------------------------------------
# Live activation tensors of a DiT block per token, in units of hidden_dim: residual stream, the normed
# input, q, k, v, the attention output, the rotary-embedded q/k copies, the cross-attention q and output and
# the modulation (shift/scale/gate) broadcasts. About a dozen hidden-sized tensors exist at once in the
# diffusers Wan/LTX/CogVideoX blocks under torch.no_grad (nothing is kept for backward).
ACT_HIDDEN = 12
# The feed-forward up-projection (tokens x ffn_dim) and its GELU output live together for a moment.
ACT_FFN = 2
# Text encoders (T5/UMT5-XXL) on a few hundred tokens: ~16 live d_model-sized tensors of 4096 per token
# plus attention scores per head; tiny next to the weights, kept for completeness.
TEXT_ACT_VALUES_PER_TOKEN = 16 * 4096 + 64 * 512
# VAE decoder: values kept per output pixel per live frame. The decoders' last stages run at full (Wan2.1,
# CogVideoX, LTX: 96-128 channels) or half resolution with 256 channels (Wan2.2), with the input, the
# residual branch, the normalized tensor and the convolution output live at once: ~4 x 96-128 channels.
VAE_DECODE_VALUES = 384
# Frames the VAE decoder holds at once without tiling. Wan's causal VAE decodes one latent frame (4 output
# frames) at a time with a cache of the previous chunk (8 frames); CogVideoX decodes two latent frames
# (8 frames) per batch; LTX and unknown VAEs decode the whole clip at once (None = all frames).
VAE_LIVE_FRAMES: dict[str, int | None] = {"wan": 8, "cogvideox": 8, "ltx": None, "generic": None}
# Tiled decoding: spatial tile in pixels (diffusers' tile_sample_min sizes) and the temporal tile in frames.
VAE_TILE_PIXELS = {"wan": 256 * 256, "cogvideox": 240 * 360, "ltx": 512 * 512, "generic": 512 * 512}
VAE_TILE_FRAMES = 16
# CUDA: cuBLAS/cuDNN workspaces, the caching allocator's fragmentation and kernels' scratch space that
# mem_get_info's "free" does not account for once the run starts.
CUDA_OVERHEAD = 768 * MiB
# CPU: torch runtime, tokenizers, the scheduler and Python objects.
CPU_OVERHEAD = 1 * GiB
# Plan 10% above the estimate: the activation constants are approximations and peaks are spiky.
SAFETY = 1.10
# Sequential offload (accelerate hooks) copies one leaf module to the GPU on its forward and drops it after,
# with no prefetch: one leaf (bounded by the largest block or the largest tensor) is resident at a time.
SEQUENTIAL_PREFETCH = 1
# Host RAM that offloading needs beyond the weights (pinned staging buffers, the runtime).
OFFLOAD_RAM_OVERHEAD = 2 * GiB

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "wan": {"width": 832, "height": 480, "num_frames": 81, "fps": 16, "steps": 50, "guidance": 5.0},
    "ltx": {"width": 704, "height": 480, "num_frames": 161, "fps": 24, "steps": 50, "guidance": 3.0},
    "cogvideox": {"width": 720, "height": 480, "num_frames": 49, "fps": 8, "steps": 50, "guidance": 6.0},
    "generic": {"width": 512, "height": 512, "num_frames": 17, "fps": 8, "steps": 30, "guidance": 5.0},
}
TEXT_LEN = {"wan": 512, "ltx": 128, "cogvideox": 226, "generic": 256}
STEPS_RANGE = (1, 200)
GUIDANCE_RANGE = (0.0, 30.0)
FPS_RANGE = (1, 120)
MAX_SIZE = 4096

# Strategies in speed order: (name, offload, vae_tiling, vae_slicing).
GPU_STRATEGIES = [
    ("gpu", "none", False, False),
    ("gpu_vae_tiling", "none", True, True),
    ("model_offload", "model", False, False),
    ("model_offload_vae_tiling", "model", True, True),
    ("sequential_offload", "sequential", True, True),
]
CPU_STRATEGIES = [("cpu", "cpu", False, False), ("cpu_vae_tiling", "cpu", True, True)]
TORCH_COMPONENTS = ("transformer", "transformer_2", "text_encoder", "image_encoder", "vae")
_BLOCK_RE = re.compile(r"(?:^|\.)(?:blocks|transformer_blocks|layers|single_transformer_blocks)\.(\d+)\.")


def _family(pipeline: str) -> str:
    if pipeline.startswith("Wan"):
        return "wan"
    if pipeline.startswith("LTX"):
        return "ltx"
    if pipeline.startswith("CogVideoX"):
        return "cogvideox"
    return "generic"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors header, reading only the header."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}


def _component_counts(folder: Path) -> tuple[int, int, int]:
    """(parameters, largest block's parameters, largest tensor) of one component folder."""
    total = 0
    largest = 0
    blocks: dict[int, int] = {}
    for file in sorted(folder.glob("*.safetensors")):
        for name, shape in safetensors_shapes(file).items():
            n = math.prod(shape) if shape else 1
            total += n
            largest = max(largest, n)
            m = _BLOCK_RE.search(name)
            if m:
                idx = int(m.group(1))
                blocks[idx] = blocks.get(idx, 0) + n
    return total, max(blocks.values(), default=0), largest


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


@dataclass
class PipelineProfile:
    """What a video pipeline is: sizes, factors and parameter counts, enough to validate and plan."""

    pipeline: str
    family: str
    params: dict[str, int]
    block_params: int
    hidden_dim: int
    num_layers: int
    ffn_dim: int
    num_heads: int
    patch: tuple[int, int, int]
    latent_channels: int
    vae_spatial: int
    vae_temporal: int
    text_len: int
    cfg_batch: bool
    text_to_video: bool
    image_to_video: bool
    i2v_pipeline: str | None
    max_frames: int | None
    defaults: dict[str, Any]
    vae_dtype: str | None = None
    # Largest single tensor (e.g. UMT5's 1.05B-parameter embedding): sequential offload moves whole leaf
    # modules, so this bounds its peak from below. 0 when unknown.
    max_tensor_params: int = 0

    # ----------------------------------------------------------------------------------------- building

    @classmethod
    def from_folder(cls, folder: Path, catalog_entry: dict[str, Any] | None = None) -> PipelineProfile:
        folder = Path(folder)
        index = _read_json(folder / "model_index.json")
        pipeline = str(index.get("_class_name") or (catalog_entry or {}).get("pipeline") or "DiffusionPipeline")
        family = _family(pipeline)
        params: dict[str, int] = {}
        block_params = 0
        max_tensor = 0
        for name, value in index.items():
            if name.startswith("_") or not isinstance(value, list) or not (folder / name).is_dir():
                continue
            total, block, largest = _component_counts(folder / name)
            if total:
                params[name] = total
                max_tensor = max(max_tensor, largest)
                if name.startswith("transformer"):
                    block_params = max(block_params, block)
        tcfg = _read_json(folder / "transformer" / "config.json")
        vcfg = _read_json(folder / "vae" / "config.json")
        heads = int(tcfg.get("num_attention_heads") or 1)
        head_dim = int(tcfg.get("attention_head_dim") or 64)
        hidden = heads * head_dim
        layers = int(tcfg.get("num_layers") or 1)
        ffn = int(tcfg.get("ffn_dim") or 4 * hidden)
        patch = _patch_of(tcfg)
        spatial, temporal = _vae_factors(family, vcfg)
        latent_channels = int(vcfg.get("z_dim") or vcfg.get("latent_channels") or tcfg.get("out_channels") or 16)
        expand = bool(index.get("expand_timesteps"))
        is_i2v = "ImageToVideo" in pipeline
        if is_i2v:
            i2v: str | None = pipeline
        elif pipeline == "LTXPipeline":
            i2v = "LTXImageToVideoPipeline"
        elif pipeline == "WanPipeline" and expand:
            i2v = "WanImageToVideoPipeline"
        else:
            i2v = None
        video = (catalog_entry or {}).get("video") or {}
        prof = video.get("profile") or {}
        max_frames = prof.get("max_frames", {"cogvideox": 49, "ltx": 257}.get(family))
        if family == "cogvideox" and tcfg.get("sample_frames") and int(tcfg["sample_frames"]) > 49:
            max_frames = int(tcfg["sample_frames"])  # CogVideoX 1.5 (81 frames)
        return cls(
            pipeline=pipeline, family=family, params=params, block_params=block_params,
            hidden_dim=hidden, num_layers=layers, ffn_dim=ffn, num_heads=heads, patch=patch,
            latent_channels=latent_channels, vae_spatial=spatial, vae_temporal=temporal,
            text_len=TEXT_LEN[family], cfg_batch=family in ("ltx", "cogvideox"),
            text_to_video=not is_i2v, image_to_video=is_i2v or i2v is not None, i2v_pipeline=i2v,
            max_frames=max_frames, defaults=_defaults(family, video),
            vae_dtype="float32" if family == "wan" else None, max_tensor_params=max_tensor,
        )

    @classmethod
    def from_catalog(cls, entry: dict[str, Any]) -> PipelineProfile:
        video = entry.get("video") or {}
        p = video.get("profile")
        if not p:
            raise ValidationError(
                f"Catalog entry {entry.get('id')!r} has no video profile.",
                details={"model": entry.get("id")},
            )
        pipeline = str(entry.get("pipeline") or p.get("pipeline") or "DiffusionPipeline")
        family = str(p.get("family") or _family(pipeline))
        return cls(
            pipeline=pipeline, family=family, params={k: int(v) for k, v in p["params"].items()},
            block_params=int(p["block_params"]), hidden_dim=int(p["hidden_dim"]),
            num_layers=int(p["num_layers"]), ffn_dim=int(p["ffn_dim"]), num_heads=int(p["num_heads"]),
            patch=(int(p["patch"][0]), int(p["patch"][1]), int(p["patch"][2])),
            latent_channels=int(p["latent_channels"]), vae_spatial=int(p["vae_spatial"]),
            vae_temporal=int(p["vae_temporal"]), text_len=int(p.get("text_len") or TEXT_LEN[family]),
            cfg_batch=bool(p.get("cfg_batch", family in ("ltx", "cogvideox"))),
            text_to_video=bool(p.get("text_to_video", entry.get("task") != "image-to-video")),
            image_to_video=bool(p.get("image_to_video", entry.get("image_to_video", False))),
            i2v_pipeline=p.get("i2v_pipeline"), max_frames=p.get("max_frames"),
            defaults=_defaults(family, video), vae_dtype=p.get("vae_dtype"),
            max_tensor_params=int(p.get("max_tensor_params") or 0),
        )

    # ------------------------------------------------------------------------------------------ rules

    @property
    def size_multiple(self) -> int:
        return self.vae_spatial * self.patch[1]

    @property
    def frame_step(self) -> int:
        # CogVideoX's VAE decodes the latent frames after the first in pairs, so their count must
        # be even: (F - 1) / 4 even, i.e. F = 8k+1 (49 for the 1.0 models, 81 for 1.5). Other
        # counts come out padded (13 frames asked, 16 returned), so they are refused here.
        pairs = 2 if self.family == "cogvideox" else 1
        return self.vae_temporal * self.patch[0] * pairs

    def rules(self) -> dict[str, Any]:
        return {
            "size_multiple": self.size_multiple, "frame_step": self.frame_step, "frame_offset": 1,
            "min_frames": 1, "max_frames": self.max_frames, "steps": list(STEPS_RANGE),
            "guidance": list(GUIDANCE_RANGE), "min_size": self.size_multiple, "max_size": MAX_SIZE,
            "fps": list(FPS_RANGE),
        }

    def presets(self) -> list[dict[str, Any]]:
        m = self.size_multiple
        dw, dh = int(self.defaults["width"]), int(self.defaults["height"])
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, int]] = set()

        def add(label: str, w: float, h: float) -> None:
            ww, hh = _round_to(w, m), _round_to(h, m)
            if (ww, hh) in seen or ww > MAX_SIZE or hh > MAX_SIZE:
                return
            seen.add((ww, hh))
            out.append({"label": f"{label} {ww}×{hh}", "width": ww, "height": hh})

        add("Default", dw, dh)
        if max(dw, dh) >= 1280:
            add("720p landscape", 1280, 720)
            add("720p portrait", 720, 1280)
        add("480p landscape", 832, 480)
        add("480p portrait", 480, 832)
        add("480p square", 480, 480)
        add("Fast 320p landscape", 576, 320)
        add("Fast square", 320, 320)
        if m <= 32:
            add("Tiny", 256, 256)
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["patch"] = list(self.patch)
        out["rules"] = self.rules()
        return out


def _patch_of(tcfg: dict[str, Any]) -> tuple[int, int, int]:
    ps = tcfg.get("patch_size")
    if isinstance(ps, list | tuple) and len(ps) == 3:
        return (int(ps[0]), int(ps[1]), int(ps[2]))
    if isinstance(ps, int):
        return (int(tcfg.get("patch_size_t") or 1), ps, ps)
    return (1, 2, 2)


def _vae_factors(family: str, vcfg: dict[str, Any]) -> tuple[int, int]:
    spatial = vcfg.get("scale_factor_spatial") or vcfg.get("spatial_compression_ratio")
    temporal = vcfg.get("scale_factor_temporal") or vcfg.get("temporal_compression_ratio")
    down = vcfg.get("temperal_downsample")
    if family == "wan" and isinstance(down, list):
        spatial = spatial or 2 ** len(down)
        temporal = temporal or 2 ** sum(bool(d) for d in down)
    if family == "cogvideox" and isinstance(vcfg.get("block_out_channels"), list):
        spatial = spatial or 2 ** (len(vcfg["block_out_channels"]) - 1)
    if family == "ltx":
        spatial, temporal = spatial or 32, temporal or 8
    return int(spatial or 8), int(temporal or 4)


def _defaults(family: str, video: dict[str, Any]) -> dict[str, Any]:
    d = dict(FAMILY_DEFAULTS[family])
    for key, src in (("width", "default_width"), ("height", "default_height"), ("num_frames", "default_frames"),
                     ("fps", "fps"), ("steps", "default_steps"), ("guidance", "default_guidance")):
        if video.get(src) is not None:
            d[key] = video[src]
    d["guidance"] = float(d["guidance"])
    return d


# ------------------------------------------------------------------------------------------ validation


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


# ---------------------------------------------------------------------------------------------- plan


@dataclass
class Strategy:
    name: str
    offload: str
    vae_tiling: bool
    vae_slicing: bool
    peak_bytes: int
    fits: bool
    speed_rank: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    device: str
    device_name: str
    free_bytes: int
    total_bytes: int
    dtype: str
    strategy: Strategy
    options: list[Strategy]
    weights_bytes: int
    activation_bytes: int
    vae_decode_bytes: int
    latent_shape: list[int]
    tokens: int
    reasoning: list[str] = field(default_factory=list)
    gpu: bool = False

    @property
    def fits(self) -> bool:
        return self.strategy.fits

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fits"] = self.fits
        return out


@dataclass
class _Estimate:
    weights: dict[str, int]
    transformer_act: int
    text_act: int
    vae_act: int
    vae_act_tiled: int
    latent_shape: list[int]
    tokens: int
    host_weights: int


def _estimate(profile: PipelineProfile, width: int, height: int, frames: int, guidance: float,
              dtype: str, vae_dtype: str) -> _Estimate:
    nb = DTYPE_BYTES[dtype]
    vb = DTYPE_BYTES[vae_dtype]
    weights = {k: v * (vb if k == "vae" else nb) for k, v in profile.params.items()}
    lat_f = (frames - 1) // profile.vae_temporal + 1
    lat_h, lat_w = height // profile.vae_spatial, width // profile.vae_spatial
    pt, ph, pw = profile.patch
    tokens = math.ceil(lat_f / pt) * max(1, lat_h // ph) * max(1, lat_w // pw)
    batch = 2 if profile.cfg_batch and guidance > 1 else 1
    per_token = profile.hidden_dim * ACT_HIDDEN + profile.ffn_dim * ACT_FFN
    t_act = tokens * batch * per_token * nb
    text_act = profile.text_len * TEXT_ACT_VALUES_PER_TOKEN * nb * batch
    video_out = frames * width * height * 3 * 4  # the decoded clip, float32
    live = VAE_LIVE_FRAMES.get(profile.family) or frames
    pixels = width * height
    vae_act = min(live, frames) * pixels * VAE_DECODE_VALUES * vb + video_out
    tile_frames = min(live, frames, VAE_TILE_FRAMES)
    tile_px = min(pixels, VAE_TILE_PIXELS.get(profile.family, 512 * 512))
    vae_tiled = tile_frames * tile_px * VAE_DECODE_VALUES * vb + video_out
    host = sum(v * DTYPE_BYTES[dtype if k != "vae" else vae_dtype] for k, v in profile.params.items())
    return _Estimate(weights, t_act, text_act, vae_act, vae_tiled,
                     [1, profile.latent_channels, lat_f, lat_h, lat_w], tokens, host)


def _phases(e: _Estimate, tiled: bool) -> dict[str, tuple[int, int]]:
    """Phase -> (weights that must be on the device in model offload, activations)."""
    w = e.weights
    den = max(w.get("transformer", 0), w.get("transformer_2", 0))
    phases = {"text encoder": (w.get("text_encoder", 0), e.text_act),
              "transformer": (den, e.transformer_act),
              "VAE decode": (w.get("vae", 0), e.vae_act_tiled if tiled else e.vae_act)}
    if "image_encoder" in w:
        phases["image encoder"] = (w["image_encoder"], 256 * MiB)
    return phases


def _peak(profile: PipelineProfile, e: _Estimate, offload: str, tiled: bool, dtype: str) -> tuple[int, str]:
    phases = _phases(e, tiled)
    overhead = CPU_OVERHEAD if offload == "cpu" else CUDA_OVERHEAD
    if offload in ("none", "cpu"):
        weights = sum(e.weights.values())
        phase, (_, act) = max(phases.items(), key=lambda kv: kv[1][1])
        raw = weights + act + overhead
        why = f"all weights {human_size(weights)} + {phase} activations {human_size(act)}"
    elif offload == "model":
        phase, (w, act) = max(phases.items(), key=lambda kv: kv[1][0] + kv[1][1])
        raw = w + act + overhead
        why = f"one component at a time, peak in the {phase} ({human_size(w)} weights + {human_size(act)} activations)"
    else:  # sequential: ~one leaf module (plus the next) at a time
        nb = DTYPE_BYTES[dtype]
        leaf = max(profile.block_params, profile.max_tensor_params) * nb * SEQUENTIAL_PREFETCH
        phase, (_, act) = max(phases.items(), key=lambda kv: kv[1][1])
        raw = leaf + act + overhead
        why = f"~one block on the GPU ({human_size(leaf)}) + {phase} activations {human_size(act)}"
    return int(raw * SAFETY), why


def _options(profile: PipelineProfile, e: _Estimate, *, gpu: bool, dtype: str, free: int,
             ram_free: int | None) -> list[Strategy]:
    out = []
    for rank, (name, offload, tiled, sliced) in enumerate(GPU_STRATEGIES if gpu else CPU_STRATEGIES):
        peak, why = _peak(profile, e, offload, tiled, dtype)
        fits = peak <= free
        reason = f"peak {human_size(peak)}: {why}" + ("" if fits else f"; exceeds {human_size(free)} free")
        if fits and offload in ("model", "sequential") and ram_free is not None:
            need = e.host_weights + OFFLOAD_RAM_OVERHEAD
            if need > ram_free:
                fits = False
                reason += f"; needs {human_size(need)} of host RAM for the offloaded weights, {human_size(ram_free)} free"
        out.append(Strategy(name, offload, tiled, sliced, peak, fits, rank, reason))
    return out


def _smaller_settings(profile: PipelineProfile, width: int, height: int, frames: int, guidance: float,
                      *, gpu: bool, dtype: str, vae_dtype: str, free: int, ram_free: int | None,
                      offload: str) -> list[str]:
    """Concrete smaller settings that would fit (largest first): a preset size, and fewer frames."""
    # On the CPU without a forced dtype, bfloat16 is the fallback when float32 does not fit.
    dtypes = [(dtype, vae_dtype)] + ([("bfloat16", "bfloat16")] if not gpu and dtype == "float32" else [])

    def fitting(w: int, h: int, f: int) -> Strategy | None:
        for dt, vdt in dtypes:
            e = _estimate(profile, w, h, f, guidance, dt, vdt)
            opts = _options(profile, e, gpu=gpu, dtype=dt, free=free, ram_free=ram_free)
            opts = [o for o in opts if o.fits and (offload in ("auto", "cpu") or o.offload == offload)]
            if opts:
                return opts[0]
        return None

    steps: list[str] = []
    area = width * height
    for preset in sorted(profile.presets(), key=lambda p: -p["width"] * p["height"]):
        if preset["width"] * preset["height"] >= area:
            continue
        s = fitting(preset["width"], preset["height"], frames)
        if s:
            steps.append(f"Use a smaller size: width={preset['width']}, height={preset['height']} "
                         f"({preset['label']}) with {frames} frames fits with {s.name} "
                         f"(peak {human_size(s.peak_bytes)}).")
            break
    f = frames - profile.frame_step
    while f >= 1:
        s = fitting(width, height, f)
        if s:
            steps.append(f"Use fewer frames: num_frames={f} at {width}x{height} fits with {s.name} "
                         f"(peak {human_size(s.peak_bytes)}).")
            break
        f -= profile.frame_step
    return steps


def plan(
    profile: PipelineProfile, *, width: int, height: int, num_frames: int, guidance: float = 5.0,
    device: str = "cpu", free_bytes: int, total_bytes: int | None = None, device_name: str = "",
    offload: str = "auto", ram_free: int | None = None, dtype: str | None = None,
) -> Plan:
    """Pick the fastest strategy whose peak fits ``free_bytes`` (or check a forced ``offload``)."""
    if offload not in ("auto", "none", "model", "sequential", "cpu"):
        raise ValidationError(
            f"offload must be one of auto, none, model, sequential, cpu; got {offload!r}",
            details={"field": "offload", "value": offload, "constraint": "choice", "nearest": "auto"},
        )
    gpu = device != "cpu" and offload != "cpu"
    if not gpu and device != "cpu":  # forced CPU on a GPU machine: plan against RAM
        free = ram_free if ram_free is not None else free_bytes
        device_name = "CPU"
    else:
        free = free_bytes
    total = total_bytes if total_bytes is not None else free
    reasoning: list[str] = []
    if gpu:
        dt = dtype or "bfloat16"
        vae_dt = profile.vae_dtype or dt
        reasoning.append(f"CUDA GPU {device_name or device} with {human_size(free)} free: weights in {dt}"
                         + (f", VAE in {vae_dt}" if vae_dt != dt else "") + ".")
    else:
        dt = dtype or "float32"
        vae_dt = dt
        reasoning.append(f"No CUDA GPU: runs on the CPU against {human_size(free)} of free RAM.")
    e = _estimate(profile, width, height, num_frames, guidance, dt, vae_dt)
    options = _options(profile, e, gpu=gpu, dtype=dt, free=free, ram_free=ram_free)
    if not gpu and dtype is None and not any(o.fits for o in options):
        e16 = _estimate(profile, width, height, num_frames, guidance, "bfloat16", "bfloat16")
        opts16 = _options(profile, e16, gpu=False, dtype="bfloat16", free=free, ram_free=ram_free)
        if any(o.fits for o in opts16):
            reasoning.append(f"float32 needs {human_size(options[-1].peak_bytes)}, more than {human_size(free)} free RAM; "
                             "bfloat16 halves the weights and fits (slower on most CPUs).")
            dt, vae_dt, e, options = "bfloat16", "bfloat16", e16, opts16
    if not gpu:
        reasoning[0] = reasoning[0].removesuffix(".") + f", weights in {dt}."
    weights = sum(e.weights.values())
    acts = max(e.transformer_act, e.text_act)
    reasoning.append(f"{e.tokens} transformer tokens (latent {e.latent_shape[2:]}); weights {human_size(weights)}, "
                     f"transformer activations {human_size(e.transformer_act)}, VAE decode {human_size(e.vae_act)} "
                     f"({human_size(e.vae_act_tiled)} tiled).")
    wanted = [o for o in options if offload in ("auto", "cpu") or o.offload == offload]
    chosen = next((o for o in wanted if o.fits), None)
    if chosen is None:
        best = min(wanted, key=lambda o: o.peak_bytes)
        mode = "" if offload == "auto" else f" with offload={offload!r}"
        steps = _smaller_settings(profile, width, height, num_frames, guidance, gpu=gpu, dtype=dt,
                                  vae_dtype=vae_dt, free=free, ram_free=ram_free, offload=offload)
        if offload not in ("auto", "cpu") and any(o.fits for o in options):
            alt = next(o for o in options if o.fits)
            steps.insert(0, f"Use offload='auto' (picks {alt.name}, peak {human_size(alt.peak_bytes)}).")
        steps.append(f"Use a GPU with at least {human_size(best.peak_bytes)} free"
                     + (" (or a machine with a CUDA GPU)." if not gpu else "."))
        steps.append("Free GPU memory held by other processes or notebooks." if gpu
                     else "Close other programs to free RAM.")
        raise ResourceError(
            f"{profile.pipeline} at {width}x{height}, {num_frames} frames does not fit{mode}: needs at least "
            f"{human_size(best.peak_bytes)} ({best.name}), {human_size(free)} free on {device_name or device}.",
            details={"needed": best.peak_bytes, "free": free, "device": device, "dtype": dt,
                     "strategy": best.name, "ram_free": ram_free,
                     "peaks": {o.name: o.peak_bytes for o in options},
                     "reasons": {o.name: o.reason for o in options}},
            resolution_steps=steps,
        )
    first = options[0]
    if chosen is first:
        reasoning.append(f"Everything fits: {chosen.name} peaks at {human_size(chosen.peak_bytes)} of "
                         f"{human_size(free)} free, the fastest option.")
    else:
        skipped = [o for o in wanted if o.speed_rank < chosen.speed_rank]
        for o in skipped:
            reasoning.append(f"{o.name} does not fit: {o.reason}.")
        reasoning.append(f"Chose {chosen.name}: {chosen.reason}; fits in {human_size(free)} free.")
        if chosen.offload == "sequential":
            reasoning.append("Sequential offload streams weights block by block and is much slower.")
    return Plan(
        device=device if gpu else "cpu", device_name=device_name or ("CPU" if not gpu else device),
        free_bytes=free, total_bytes=total, dtype=dt, strategy=chosen, options=options,
        weights_bytes=weights, activation_bytes=acts, vae_decode_bytes=e.vae_act_tiled if chosen.vae_tiling
        else e.vae_act, latent_shape=e.latent_shape, tokens=e.tokens, reasoning=reasoning, gpu=gpu,
    )


def device_memory() -> tuple[str, str, int, int]:
    """(device, device_name, free bytes, total bytes) of the first CUDA GPU, else of the CPU's RAM."""
    try:
        import torch

        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(0)
            return "cuda:0", str(torch.cuda.get_device_name(0)), int(free), int(total)
    except Exception:  # torch missing or a broken CUDA install: fall back to the CPU
        pass
    import psutil

    vm = psutil.virtual_memory()
    return "cpu", f"CPU ({human_size(vm.total)} RAM)", int(vm.available), int(vm.total)
