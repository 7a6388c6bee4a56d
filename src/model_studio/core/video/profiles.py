"""Video pipeline profiles: what a model is, read from its files or from the catalog.

Nothing here imports torch: a profile is read from ``model_index.json``, each component's ``config.json``
and the JSON headers of its ``*.safetensors`` files (8-byte little-endian length, then a JSON object giving
the dtype and shape of every tensor), or from the catalog's ``video.profile`` numbers.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from .rules import FPS_RANGE, GUIDANCE_RANGE, MAX_SIZE, STEPS_RANGE, _round_to

# safetensors header dtypes -> bytes (only used to sanity-read files; counts come from shapes)
_ST_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"}

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "wan": {"width": 832, "height": 480, "num_frames": 81, "fps": 16, "steps": 50, "guidance": 5.0},
    "ltx": {"width": 704, "height": 480, "num_frames": 161, "fps": 24, "steps": 50, "guidance": 3.0},
    "cogvideox": {"width": 720, "height": 480, "num_frames": 49, "fps": 8, "steps": 50, "guidance": 6.0},
    "generic": {"width": 512, "height": 512, "num_frames": 17, "fps": 8, "steps": 30, "guidance": 5.0},
}
TEXT_LEN = {"wan": 512, "ltx": 128, "cogvideox": 226, "generic": 256}
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
    # Takes a last frame too (first-last-frame to video): diffusers' WanImageToVideoPipeline with
    # ``last_image``, on a model made for it (see ``_takes_last_image``).
    last_image: bool = False
    # ... and cannot go without one: Wan 2.1 FLF2V's image embedder expects both images' CLIP tokens.
    last_image_required: bool = False

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
            last_image=bool(prof.get("last_image", _takes_last_image(pipeline, index, tcfg))),
            last_image_required=bool(prof.get("last_image_required", is_i2v and bool(tcfg.get("pos_embed_seq_len")))),
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
            max_tensor_params=int(p.get("max_tensor_params") or 0), last_image=bool(p.get("last_image", False)),
            last_image_required=bool(p.get("last_image_required", False)),
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


def _takes_last_image(pipeline: str, index: dict[str, Any], tcfg: dict[str, Any]) -> bool:
    """Whether a pipeline folder is a first-last-frame model.

    diffusers' ``WanImageToVideoPipeline`` takes ``last_image`` (the last latent frame is conditioned on
    it, and with a CLIP image encoder both images are embedded). Models trained for it: Wan 2.1 FLF2V,
    whose transformer has a position embedding over the two images' CLIP tokens
    (``pos_embed_seq_len``), and the Wan 2.2 I2V experts (no image encoder, ``boundary_ratio`` set).
    A Wan 2.1 I2V model (one image's CLIP tokens, no position embedding) was not trained for it.
    """
    if pipeline != "WanImageToVideoPipeline" or index.get("expand_timesteps"):
        return False
    if tcfg.get("pos_embed_seq_len"):
        return True
    encoder = index.get("image_encoder")
    no_encoder = not isinstance(encoder, list) or not any(encoder)
    return no_encoder and index.get("boundary_ratio") is not None


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
