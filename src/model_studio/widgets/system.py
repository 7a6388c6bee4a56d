"""``SystemMonitor``: CPU, RAM, swap, disks and GPUs, refreshed every few seconds."""

from __future__ import annotations

from ._base import StudioWidget


class SystemMonitor(StudioWidget):
    """The machine at a glance: CPU, RAM, swap, disks, and per GPU utilisation, memory,
    temperature, power and which process (which kernel) holds how much memory.

    A ``system`` event with ``engine.system.snapshot()`` arrives every ``interval`` seconds
    (default 2.0) while the widget is open; ``close()`` stops it.
    """

    _bundle = "system.js"
    _job_events = False
    _system_events = True

    def _summary(self) -> str:
        return f"interval={self.interval}"
