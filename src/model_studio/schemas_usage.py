"""Response bodies of the disk-use and energy operations (``api.py``'s ``disk.*`` and ``energy.*``), for
the OpenAPI document; kept beside ``schemas.py`` so that file does not grow further."""

from __future__ import annotations

from typing import Literal

from .schemas import _Result


class DiskStore(_Result):
    name: str
    """``hf-cache``, ``studio-<folder>``, ``extra:<path>``, ``lmstudio:<path>``, ``ollama:<path>``"""
    label: str
    root: str
    kind: str
    """hf_cache, studio, extra, lmstudio, ollama"""
    owned: bool
    """the studio made these files and may delete them"""
    exists: bool
    files: int
    bytes: int


class DuplicateCopy(_Result):
    store: str
    store_label: str
    path: str
    owned: bool
    freeable: bool
    """the studio owns this copy and another copy stays"""


class Duplicate(_Result):
    sha256: str
    size: int
    """bytes of one copy"""
    copies: list[DuplicateCopy]
    extra_bytes: int
    """bytes beyond one copy"""
    freeable_bytes: int


class PartialFile(_Result):
    path: str
    store: str
    bytes: int
    active: bool
    """a running download writes it (not freeable)"""


class Partials(_Result):
    bytes: int
    files: list[PartialFile]


class FreeableJob(_Result):
    id: str
    kind: str
    state: str
    title: str
    bytes: int


class JobLeftovers(_Result):
    bytes: int
    jobs: list[FreeableJob]


class OldVideos(_Result):
    bytes: int
    older_than_days: float
    jobs: list[dict[str, object]]


class Freeable(_Result):
    duplicates: int
    partial_downloads: Partials
    job_leftovers: JobLeftovers
    old_videos: OldVideos
    total: int


class DiskReport(_Result):
    stores: list[DiskStore]
    total_bytes: int
    duplicates: list[Duplicate]
    duplicate_bytes: int
    freeable: Freeable
    min_size: int


class DiskFreed(_Result):
    what: Literal["duplicate", "partial_downloads", "job_leftovers", "old_videos"]
    bytes_freed: int
    deleted: str | None = None
    kept: list[str] | None = None
    sha256: str | None = None
    files: list[str] | None = None
    jobs: list[str] | None = None


class EnergyRow(_Result):
    """One job's energy, or a model's chat answers of one UTC day (``kind`` chat, ``count`` answers)."""

    id: str
    kind: str
    model: str | None
    day: str
    started_at: float | None
    ended_at: float | None
    seconds: float
    count: int
    wh: float
    gpu_wh: float | None
    cpu_wh: float
    method: str
    """nvml+rapl, rapl, nvml+estimate, estimate (nvml-power: integrated power samples)"""
    estimated: bool
    grid_intensity: float
    """gCO2e/kWh that applied"""
    gco2e: float
    state: str | None


class EnergyRows(_Result):
    rows: list[EnergyRow]


class EnergyGroup(_Result):
    kind: str | None = None
    model: str | None = None
    day: str | None = None
    wh: float
    gco2e: float
    count: int
    estimated: bool


class EnergyTotal(_Result):
    wh: float
    gco2e: float
    count: int
    estimated: bool


class EnergySummary(_Result):
    since: str | None
    until: str | None
    total: EnergyTotal
    by_kind: list[EnergyGroup]
    by_model: list[EnergyGroup]
    by_day: list[EnergyGroup]
    methods: list[str]
    grid_intensity: float
    grid_intensity_source: str


class EnergyExport(_Result):
    format: Literal["csv"]
    filename: str
    media_type: str
    content: str
    """the CSV text"""
