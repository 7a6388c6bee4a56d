"""Byte sizes as text: one decimal convention (1 kB = 1000 B, as the Hub shows sizes).

The engine's messages use it, and ``model_studio._format`` re-exports it for the terminal front
doors; ``formatBytes`` in ``labextension/src/components/format.ts`` prints the same text.
"""

from __future__ import annotations

import math

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def human_size(n: float | None) -> str:
    """Bytes as a short decimal size, as the Hub shows them (1 kB = 1000 bytes): ``999 B``,
    ``68.2 kB``, ``1.5 GB``; ``-`` when unknown.

    One decimal, rounded half up with the same float arithmetic as ``formatBytes`` in
    ``labextension/src/components/format.ts``, so the sidebar and the terminal print the same text.
    """
    if n is None or not math.isfinite(n):
        return "-"
    sign = "-" if n < 0 else ""
    value = abs(float(n))
    whole = math.floor(value + 0.5)
    if whole < 1000:
        return f"{sign}{whole} B"
    for unit in _UNITS:
        value /= 1000
        tenths = math.floor(value * 10 + 0.5)
        if tenths < 10_000 or unit == _UNITS[-1]:  # 999.95 kB rounds to 1000.0: say 1.0 MB instead
            break
    return f"{sign}{tenths // 10}.{tenths % 10} {unit}"
