"""The default GGUF quantization: one preference list for every part of the engine.

``pull`` (which files a download fetches), chat (which local file a model name loads) and the
library (which quantization it marks as the default) all ask ``default_quant``, so the file a bare
``org/name`` downloads is the file a bare ``org/name`` then chats with.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Quantizations in order of preference when none is named: a good size/quality balance first, then
#: larger and more exact ones, full precision last (the smallest of the rest when none is here).
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q4_1", "Q8_0", "Q6_K", "Q5_K_S", "F16", "BF16", "F32")


def default_quant(sizes: Mapping[str, int | None]) -> str | None:
    """The quantization to use when none is named, among ``sizes`` (name -> total bytes, None if
    unknown): the first of ``DEFAULT_QUANTS`` present, else the smallest (then by name); None if empty."""
    for quant in DEFAULT_QUANTS:
        if quant in sizes:
            return quant
    if not sizes:
        return None
    return min(sizes, key=lambda q: (sizes[q] is None, sizes[q] or 0, q))


__all__ = ["DEFAULT_QUANTS", "default_quant"]
