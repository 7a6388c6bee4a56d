"""Will it fit? Memory needed by a model (weights + KV cache + runtime overhead) against free RAM and VRAM.

The KV cache of a transformer decoder holds, per token, a key and a value vector for every layer:
``2 * n_layers * n_kv_heads * head_dim * bytes_per_element``. Weights are the size of the file that
will be loaded. llama.cpp offloads whole layers, so a partial fit is counted in layers.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import broken_file
from .integrity import check_file
from .units import human_size

MiB = 1 << 20
GiB = 1 << 30

# Bits per weight of common GGUF quantizations (llama.cpp's block formats, scales included).
BITS_PER_WEIGHT = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69, "Q5_K_S": 5.54,
    "Q5_0": 5.5, "Q5_1": 6.0, "Q4_K_M": 4.85, "Q4_K_S": 4.58, "Q4_0": 4.5, "Q4_1": 5.0, "IQ4_XS": 4.25,
    "IQ4_NL": 4.5, "Q3_K_L": 4.27, "Q3_K_M": 3.91, "Q3_K_S": 3.5, "IQ3_M": 3.66, "IQ3_XS": 3.3,
    "Q2_K": 3.35, "IQ2_M": 2.7, "IQ2_XS": 2.31,
}
CPU_OVERHEAD = 256 * MiB  # runtime, tokenizer, scratch buffers
GPU_OVERHEAD = 512 * MiB  # CUDA context and compute buffers
GPU_HEADROOM = 0.95  # never plan to fill a GPU to the last byte
RAM_HEADROOM = 0.90


@dataclass
class ModelShape:
    """What the estimate needs to know about a model; any field may be unknown."""

    parameters: int | None = None
    weights_bytes: int | None = None
    n_layers: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None
    context_length: int | None = None
    architecture: str | None = None
    quantization: str | None = None


@dataclass
class GpuFree:
    index: int
    name: str
    free: int
    total: int


@dataclass
class FitResult:
    """A verdict with its numbers. ``verdict``: ``gpu``, ``partial``, ``cpu`` or ``no``."""

    model: str
    verdict: str
    message: str
    quantization: str | None
    context: int
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    total_bytes: int
    ram_free: int
    gpus: list[dict[str, Any]] = field(default_factory=list)
    gpu_index: int | None = None
    gpu_layers: int = 0
    total_layers: int | None = None
    approximate: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.verdict != "no"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fits"] = self.fits
        return out


def _gguf_field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None or not f.data:
        return None
    value = f.parts[f.data[0]]
    try:
        if len(value) == 1:
            return value[0].item()
        return bytes(value).decode("utf-8", "replace")
    except (TypeError, ValueError):
        return None


def gguf_metadata(path: Path) -> dict[str, Any]:
    """Architecture, sizes and chat template from a GGUF header (memory-mapped, nothing loaded).

    Parsing a header reads the whole vocabulary (~50k strings for a chat model, about a second),
    so results are cached per file (path, size, mtime); callers get a copy. A missing, empty or
    truncated file raises ``BrokenFileError``.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        check_file(path)  # raises BrokenFileError naming why (a link to nothing, no permission)
        raise
    try:
        return dict(_gguf_metadata_cached(str(path), st.st_size, st.st_mtime_ns))
    except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:  # a header check_file let by
        raise broken_file(path, f"is not a readable GGUF file ({type(exc).__name__}: {exc})") from None


@functools.lru_cache(maxsize=64)
def _gguf_metadata_cached(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    from gguf import GGUFReader

    # Milliseconds, and it names the problem where GGUFReader fails in assorted ways on a cut file;
    # a broken file raises, so only whole files are cached (and checked once).
    check_file(Path(path))
    reader = GGUFReader(str(path), "r")
    arch = _gguf_field(reader, "general.architecture") or "llama"
    meta: dict[str, Any] = {"architecture": arch}
    for key, name in (
        ("block_count", "n_layers"), ("context_length", "context_length"),
        ("embedding_length", "n_embd"), ("attention.head_count", "n_heads"),
        ("attention.head_count_kv", "n_kv_heads"), ("attention.key_length", "head_dim"),
        ("pooling_type", "pooling_type"),  # embedding models: llama.cpp's 1 mean, 2 cls, 3 last
    ):
        value = _gguf_field(reader, f"{arch}.{key}")
        if value is not None:
            meta[name] = int(value)
    for key in ("general.name", "general.file_type", "general.license", "general.size_label"):
        value = _gguf_field(reader, key)
        if value is not None:
            meta[key.split(".", 1)[1]] = value
    template = _gguf_field(reader, "tokenizer.chat_template")
    meta["chat_template"] = template if isinstance(template, str) else None
    meta["parameters"] = int(sum(int(t.n_elements) for t in reader.tensors))
    if "head_dim" not in meta and meta.get("n_embd") and meta.get("n_heads"):
        meta["head_dim"] = meta["n_embd"] // meta["n_heads"]
    return meta


def shape_from_gguf(path: Path, quantization: str | None = None) -> ModelShape:
    meta = gguf_metadata(path)
    return ModelShape(
        parameters=meta.get("parameters"), weights_bytes=path.stat().st_size,
        n_layers=meta.get("n_layers"), n_kv_heads=meta.get("n_kv_heads") or meta.get("n_heads"),
        head_dim=meta.get("head_dim"), context_length=meta.get("context_length"),
        architecture=meta.get("architecture"), quantization=quantization,
    )


def shape_from_config(config: dict[str, Any], weights_bytes: int | None = None,
                      parameters: int | None = None) -> ModelShape:
    """From a transformers ``config.json`` (nested ``text_config`` is used when present)."""
    cfg: dict[str, Any] = config["text_config"] if isinstance(config.get("text_config"), dict) else config
    heads = cfg.get("num_attention_heads")
    hidden = cfg.get("hidden_size")
    head_dim = cfg.get("head_dim") or (hidden // heads if hidden and heads else None)
    return ModelShape(
        parameters=parameters, weights_bytes=weights_bytes,
        n_layers=cfg.get("num_hidden_layers"), n_kv_heads=cfg.get("num_key_value_heads") or heads,
        head_dim=head_dim,
        context_length=cfg.get("max_position_embeddings") or cfg.get("max_sequence_length"),
        architecture=config.get("model_type"),
    )


def kv_cache_bytes(shape: ModelShape, context: int, bytes_per_element: int = 2) -> tuple[int, bool]:
    """KV cache for ``context`` tokens; the flag says whether it had to be approximated."""
    if shape.n_layers and shape.n_kv_heads and shape.head_dim:
        return 2 * shape.n_layers * shape.n_kv_heads * shape.head_dim * bytes_per_element * context, False
    # Without the architecture: about 3e-5 bytes per parameter per token (between Llama-3-8B's
    # 1.6e-5 with grouped-query attention and Llama-2-7B's 7.5e-5 without).
    params = shape.parameters or (shape.weights_bytes or 0) * 2
    return int(3e-5 * params * context), True


def estimate(
    model: str,
    shape: ModelShape,
    *,
    context: int | None,
    ram_free: int,
    gpus: list[GpuFree],
) -> FitResult:
    """The verdict for ``shape`` at ``context`` tokens given the free memory (bytes)."""
    notes: list[str] = []
    approximate = False
    weights = shape.weights_bytes
    if weights is None:
        bits = BITS_PER_WEIGHT.get((shape.quantization or "F16").upper(), 16.0)
        weights = int((shape.parameters or 0) * bits / 8)
        approximate = True
        notes.append("weights size estimated from the parameter count")
    ctx = int(context or min(shape.context_length or 4096, 4096))
    if shape.context_length and ctx > shape.context_length:
        notes.append(f"context {ctx} exceeds the model's trained {shape.context_length}")
    kv, kv_approx = kv_cache_bytes(shape, ctx)
    if kv_approx:
        approximate = True
        notes.append("KV cache estimated from the parameter count (architecture unknown)")
    layers = shape.n_layers
    gpu_list = [asdict(g) for g in gpus]
    base: dict[str, Any] = dict(model=model, quantization=shape.quantization, context=ctx, weights_bytes=weights,
                kv_cache_bytes=kv, ram_free=ram_free, gpus=gpu_list, total_layers=layers,
                approximate=approximate, notes=notes)
    best = max(gpus, key=lambda g: g.free, default=None)
    need_gpu = weights + kv + GPU_OVERHEAD
    if best is not None and need_gpu <= best.free * GPU_HEADROOM:
        return FitResult(verdict="gpu", overhead_bytes=GPU_OVERHEAD, total_bytes=need_gpu,
                         gpu_index=best.index, gpu_layers=layers or 0,
                         message=f"Fits on GPU {best.index} ({best.name}): needs {human_size(need_gpu)} of "
                                 f"{human_size(best.free)} free", **base)
    need_cpu = weights + kv + CPU_OVERHEAD
    if best is not None:
        n_layers = layers or 32
        per_layer = (weights + kv) / n_layers
        room = best.free * GPU_HEADROOM - GPU_OVERHEAD
        on_gpu = max(0, min(n_layers - 1, int(room // per_layer))) if per_layer > 0 else 0
        rest = need_cpu - int(on_gpu * per_layer)
        if on_gpu >= 1 and rest <= ram_free * RAM_HEADROOM:
            return FitResult(verdict="partial", overhead_bytes=GPU_OVERHEAD + CPU_OVERHEAD,
                             total_bytes=need_cpu + GPU_OVERHEAD, gpu_index=best.index, gpu_layers=on_gpu,
                             message=f"Partial offload: {on_gpu} of {n_layers} layers on GPU {best.index} "
                                     f"({human_size(on_gpu * per_layer)}), {human_size(rest)} in RAM", **base)
    if need_cpu <= ram_free * RAM_HEADROOM:
        where = "no usable GPU" if best is None else f"GPU {best.index} has only {human_size(best.free)} free"
        return FitResult(verdict="cpu", overhead_bytes=CPU_OVERHEAD, total_bytes=need_cpu,
                         message=f"Runs on the CPU ({where}): needs {human_size(need_cpu)} of {human_size(ram_free)} free RAM",
                         **base)
    return FitResult(verdict="no", overhead_bytes=CPU_OVERHEAD, total_bytes=need_cpu,
                     message=f"Does not fit: needs {human_size(need_cpu)}, {human_size(ram_free)} RAM free"
                             + (f", {human_size(best.free)} free on GPU {best.index}" if best else ""),
                     **base)

