"""Splitting a video pipeline across GPUs: diffusers' pipeline-level ``device_map="balanced"``.

``DiffusionPipeline.from_pretrained(path, device_map="balanced", max_memory={0: bytes, 1: bytes})``
puts each model component (transformer, text encoder, VAE, image encoder) whole on one GPU; nothing
is streamed, so a split pipeline runs at single-GPU speed while its weights are spread out. It works
for every pipeline diffusers loads with ``from_pretrained`` (the Wan 2.1/2.2, LTX-Video and
CogVideoX pipelines here); it cannot be combined with CPU offload or ``pipe.to()``. "balanced" is the
only pipeline-level strategy diffusers has.

The placement mirrors diffusers' ``_assign_components_to_devices`` (``pipeline_loading_utils``):
components sorted by size, largest first, dealt to the GPUs (sorted by ``max_memory``, most first)
in a zigzag (a, b, b, a, a, b, ...),
each GPU's ``max_memory`` reduced by what it was given; a component larger than what its GPU has
left goes to the CPU. The planner passes the same ``max_memory`` to the load, so the plan is the
placement diffusers makes; a plan that would put a component on the CPU is not a split that fits.
"""

from __future__ import annotations

#: Pipeline components that are torch modules diffusers places (schedulers and tokenizers are not).
PLACED = ("transformer", "transformer_2", "text_encoder", "image_encoder", "vae")


def balanced_map(sizes: dict[str, int], free: dict[str, int]) -> dict[str, str]:
    """Component -> device for ``device_map="balanced"`` with ``max_memory=free`` (bytes per device)."""
    devices = sorted(free, key=lambda d: free[d], reverse=True)  # stable: equal GPUs keep their order
    cycle = devices + devices[::-1]
    left = dict(free)
    out: dict[str, str] = {}
    turn = 0
    for name, size in sorted(sizes.items(), key=lambda kv: kv[1], reverse=True):
        device = cycle[turn % len(cycle)]
        if size > left[device]:
            out[name] = "cpu"  # diffusers keeps it in RAM (and runs it there): never what a plan wants
            continue
        out[name] = device
        left[device] -= size
        turn += 1
    return out


def max_memory(free: dict[str, int]) -> dict[int, int]:
    """diffusers' ``max_memory`` argument (GPU index -> bytes) for ``free`` keyed ``cuda:N``."""
    return {int(d.split(":", 1)[1]): int(b) for d, b in free.items()}
