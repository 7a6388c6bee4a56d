"""The memory planner of a video generation: which strategy fits the device, and why.

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

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import ResourceError, ValidationError
from ..units import human_size
from .profiles import PipelineProfile
from .split import PLACED, balanced_map

MiB = 1 << 20
GiB = 1 << 30

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

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
# CLIP ViT-H/14 image encoder (Wan I2V/FLF2V) on one 224x224 image: 257 tokens x 1280 wide x 32 layers
# is small; 256 MiB covers its activations and the preprocessed image with room to spare.
IMAGE_ENCODER_ACT = 256 * MiB
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

# Strategies in speed order: (name, offload, vae_tiling, vae_slicing).
GPU_STRATEGIES = [
    ("gpu", "none", False, False),
    ("gpu_vae_tiling", "none", True, True),
    ("model_offload", "model", False, False),
    ("model_offload_vae_tiling", "model", True, True),
    ("sequential_offload", "sequential", True, True),
]
CPU_STRATEGIES = [("cpu", "cpu", False, False), ("cpu_vae_tiling", "cpu", True, True)]
# Split across GPUs (diffusers' device_map="balanced": each component whole on one GPU, no streaming), ranked
# after the single-GPU rows and before any offload: (name, vae_tiling, vae_slicing).
SPLIT_STRATEGIES = [("split_gpus", False, False), ("split_gpus_vae_tiling", True, True)]
SPLIT_RANK = 2
# The planner's phases and the components that run them (the peak of a GPU counts only its own phases).
PHASE_COMPONENTS = {"text encoder": ("text_encoder",), "transformer": ("transformer", "transformer_2"),
                    "VAE decode": ("vae",), "image encoder": ("image_encoder",)}


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
    #: Split across GPUs only: the peak per GPU (bytes) and which GPU holds each component.
    device_peaks: dict[str, int] | None = None
    device_map: dict[str, str] | None = None
    device_free: dict[str, int] | None = None  # the free bytes per GPU the placement was made for (max_memory)

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
    images: int = 1  # input images the image encoder embeds (2 for first-last-frame)


def _estimate(profile: PipelineProfile, width: int, height: int, frames: int, guidance: float,
              dtype: str, vae_dtype: str, images: int = 1) -> _Estimate:
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
                     [1, profile.latent_channels, lat_f, lat_h, lat_w], tokens, host, max(1, images))


def _phases(e: _Estimate, tiled: bool) -> dict[str, tuple[int, int]]:
    """Phase -> (weights that must be on the device in model offload, activations)."""
    w = e.weights
    den = max(w.get("transformer", 0), w.get("transformer_2", 0))
    phases = {"text encoder": (w.get("text_encoder", 0), e.text_act),
              "transformer": (den, e.transformer_act),
              "VAE decode": (w.get("vae", 0), e.vae_act_tiled if tiled else e.vae_act)}
    if "image_encoder" in w:  # a CLIP ViT-H on each input image (both for first-last-frame)
        phases["image encoder"] = (w["image_encoder"], IMAGE_ENCODER_ACT * e.images)
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


def _split_options(e: _Estimate, gpus: dict[str, int], names: dict[str, str]) -> list[Strategy]:
    """The split-across-GPUs rows: diffusers' balanced placement over ``gpus`` (device -> free bytes) and
    the peak of each GPU: its components' weights + the largest activations of the phases it runs."""
    placed = {k: v for k, v in e.weights.items() if k in PLACED}
    where = balanced_map(placed, gpus)
    used = sorted({d for d in where.values() if d != "cpu"})
    out = []
    for name, tiled, sliced in SPLIT_STRATEGIES:
        phases = _phases(e, tiled)
        peaks: dict[str, int] = {}
        parts = []
        for device in used:
            mine = [c for c, d in where.items() if d == device]
            weights = sum(e.weights[c] for c in mine)
            acts = [(ph, a) for ph, (_, a) in phases.items() if set(PHASE_COMPONENTS[ph]) & set(mine)]
            phase, act = max(acts, key=lambda pa: pa[1]) if acts else ("", 0)
            peaks[device] = int((weights + act + CUDA_OVERHEAD) * SAFETY)
            parts.append(f"{device} ({names.get(device) or 'GPU'}): {' + '.join(mine)} "
                         f"{human_size(weights)} + {phase} activations {human_size(act)}, "
                         f"peak {human_size(peaks[device])} of {human_size(gpus[device])} free")
        on_cpu = [c for c, d in where.items() if d == "cpu"]
        short = [d for d in used if peaks[d] > gpus[d]]
        fits = not on_cpu and not short and len(used) > 1
        reason = f"split across {len(used)} GPUs (device_map='balanced'): " + "; ".join(parts)
        if on_cpu:
            reason += f"; {', '.join(on_cpu)} fits on no GPU (diffusers would run it on the CPU)"
        elif short:
            reason += f"; exceeds the free memory of {', '.join(short)}"
        elif len(used) < 2:
            reason += "; one GPU holds everything (no split)"
        out.append(Strategy(name, "balanced", tiled, sliced, max(peaks.values(), default=0), fits, 0, reason,
                            device_peaks=peaks, device_map=where, device_free=dict(gpus)))
    return out


def _smaller_settings(profile: PipelineProfile, width: int, height: int, frames: int, guidance: float,
                      *, gpu: bool, dtype: str, vae_dtype: str, free: int, ram_free: int | None,
                      offload: str, images: int = 1) -> list[str]:
    """Concrete smaller settings that would fit (largest first): a preset size, and fewer frames."""
    # On the CPU without a forced dtype, bfloat16 is the fallback when float32 does not fit.
    dtypes = [(dtype, vae_dtype)] + ([("bfloat16", "bfloat16")] if not gpu and dtype == "float32" else [])

    def fitting(w: int, h: int, f: int) -> Strategy | None:
        for dt, vdt in dtypes:
            e = _estimate(profile, w, h, f, guidance, dt, vdt, images)
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
    offload: str = "auto", ram_free: int | None = None, dtype: str | None = None, images: int = 1,
    gpus: list[dict[str, Any]] | None = None,
) -> Plan:
    """Pick the fastest strategy whose peak fits ``free_bytes`` (or check a forced ``offload``).

    ``gpus`` (``{"device", "name", "free"}`` each, two or more): also consider splitting the pipeline
    across them (``split_gpus*`` rows, with ``offload='auto'`` only), after the single-GPU rows and
    before any offload; a chosen split plans on ``device`` "cuda:0,cuda:1" with the free bytes of all.
    """
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
    e = _estimate(profile, width, height, num_frames, guidance, dt, vae_dt, images)
    options = _options(profile, e, gpu=gpu, dtype=dt, free=free, ram_free=ram_free)
    split_free = {g["device"]: int(g["free"]) for g in gpus or []}
    if gpu and len(split_free) > 1:
        names = {g["device"]: str(g.get("name") or "") for g in gpus or []}
        options[SPLIT_RANK:SPLIT_RANK] = _split_options(e, split_free, names)
        for rank, o in enumerate(options):
            o.speed_rank = rank
    if not gpu and dtype is None and not any(o.fits for o in options):
        e16 = _estimate(profile, width, height, num_frames, guidance, "bfloat16", "bfloat16", images)
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
                                  vae_dtype=vae_dt, free=free, ram_free=ram_free, offload=offload, images=images)
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
        if chosen.device_peaks:
            reasoning.append(f"Chose {chosen.name}: {chosen.reason}; every GPU fits.")
        else:
            reasoning.append(f"Chose {chosen.name}: {chosen.reason}; fits in {human_size(free)} free.")
        if chosen.offload == "sequential":
            reasoning.append("Sequential offload streams weights block by block and is much slower.")
    if chosen.device_peaks:  # split: the plan is on every GPU it uses
        used = list(chosen.device_peaks)
        device, device_name = ",".join(used), f"{len(used)} GPUs ({', '.join(used)})"
        free = sum(split_free[d] for d in used)
        total = sum(int(g.get("total") or g["free"]) for g in gpus or [] if g["device"] in used)
    return Plan(
        device=device if gpu else "cpu", device_name=device_name or ("CPU" if not gpu else device),
        free_bytes=free, total_bytes=total, dtype=dt, strategy=chosen, options=options,
        weights_bytes=weights, activation_bytes=acts, vae_decode_bytes=e.vae_act_tiled if chosen.vae_tiling
        else e.vae_act, latent_shape=e.latent_shape, tokens=e.tokens, reasoning=reasoning, gpu=gpu,
    )


def torch_gpus() -> list[dict[str, Any]]:
    """Each CUDA GPU torch sees: ``device``, ``name``, ``free`` and ``total`` bytes (none without CUDA)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        out = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append({"device": f"cuda:{i}", "name": str(torch.cuda.get_device_name(i)), "free": int(free),
                        "total": int(total)})
        return out
    except Exception:  # torch missing or a broken CUDA install: no GPUs
        return []


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
