"""The shapes of the operations' results, declared once as pydantic models.

The engine keeps returning its dataclasses and dicts; these models only describe them.
server/_openapi.py generates the OpenAPI result schemas and components from them, and the
front end's TypeScript types are generated from that document (labextension/src/api/openapi.d.ts).
Engine dataclasses whose ``asdict`` is the wire shape (Quantization, SystemSnapshot, GpuStats,
GpuProcess) are used as field types directly; those whose ``to_dict()`` adds or drops fields or
whose dicts have a known shape (Job, Progress, ModelInfo, FitResult, DatasetInfo) have a model
here, which tests/server/test_openapi.py compares with ``to_dict()``.

Required means "always in the body"; a field with a default may be missing. Defaults are not
stated in the document (a response has none).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .core.jobs.store import JobState
from .core.library import Quantization
from .core.system import SystemSnapshot


class _Result(BaseModel):
    # attribute docstrings become the fields' descriptions in the document
    model_config = ConfigDict(use_attribute_docstrings=True)


# ---- errors ----

class ErrorInfo(_Result):
    """The error object: the body's ``error``, a failed job's ``error``, a search's ``hub_error``."""

    type: str
    """ValidationError, NotFoundError, HTTPError, ..."""
    message: str
    details: dict[str, Any]
    resolution_steps: list[str]


class Error(_Result):
    """The body of every error response."""

    error: ErrorInfo


# ---- jobs ----

class Progress(_Result):
    """How far a job is: ``done`` of ``total`` ``unit`` at ``rate`` units/second, ``eta`` seconds left."""

    done: float
    total: float | None
    unit: str
    rate: float | None
    eta: float | None
    message: str
    detail: dict[str, Any]
    fraction: float | None
    """done / total in [0, 1]; null without a total"""


class Job(_Result):
    """A background job (download, training run, batch, video generation) as ``Job.to_dict()`` writes it."""

    id: str
    kind: str
    state: JobState
    title: str
    params: dict[str, Any]
    progress: Progress
    error: ErrorInfo | None
    """Why the job failed (null unless it did)"""
    result: Any
    owner_pid: int | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    control: str


class JobList(_Result):
    jobs: list[Job]


class DownloadList(_Result):
    downloads: list[Job]


# ---- library ----

class ModelInfo(_Result):
    """What the library knows about one model, merged from catalog, Hub and disk."""

    id: str
    name: str
    task: str | None
    formats: list[str]
    backends: list[str]
    size: int | None
    """Weights (GGUF: the default quantization)"""
    status: str
    sources: list[str]
    """catalog, hub, local"""
    license: str | None
    gated: bool
    parameters: int | None
    context_length: int | None
    architecture: str | None
    quantizations: list[Quantization]
    default_quantization: str | None
    tags: list[str]
    downloads: int | None
    likes: int | None
    description: str
    pipeline: str | None
    video: dict[str, Any] | None
    local_path: str | None
    local_size: int | None
    incomplete_bytes: int
    commit: str | None
    last_modified: float | None
    files: list[dict[str, Any]] | None
    """library.info only"""
    error: ErrorInfo | None
    """Why the model cannot be used (its first broken file), or null"""


class SearchResult(_Result):
    models: list[ModelInfo]
    hub_error: ErrorInfo | None
    """Why the Hub part is missing (offline, rate limited, ...); null when the Hub answered"""


class LocalModels(_Result):
    models: list[ModelInfo]


class BackendInfo(_Result):
    name: str
    installed: bool
    version: str | None
    install: str | None
    gpu: bool
    local_models: int
    models: list[str]
    suggestions: list[dict[str, Any]]


class Backends(_Result):
    backends: list[BackendInfo]


class FitResult(_Result):
    """A verdict with its numbers. ``verdict``: ``gpu``, ``partial``, ``cpu`` or ``no``."""

    model: str
    verdict: Literal["gpu", "partial", "cpu", "no"]
    message: str
    quantization: str | None
    context: int
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    total_bytes: int
    ram_free: int
    gpus: list[dict[str, Any]]
    gpu_index: int | None
    gpu_layers: int
    total_layers: int | None
    approximate: bool
    notes: list[str]
    fits: bool
    """verdict is not 'no'"""


class VerifyResult(_Result):
    model: str
    commit: str | None = None
    ok: bool
    checked: int
    mismatches: list[dict[str, Any]]
    not_downloaded: list[str] = []
    extra: list[str] = []


class DeleteResult(_Result):
    model: str
    freed_bytes: int
    revisions: list[str]
    deleted: bool


# ---- settings and system ----

class SettingsFileError(_Result):
    setting: str | None = None
    message: str = ""
    value: Any = None


class Settings(_Result):
    settings: dict[str, Any]
    """Every setting (the Hub token only as hf_token_set)"""
    mutable: list[str]
    file_errors: list[SettingsFileError] = []
    """What was wrong with settings.json at start-up (each entry skipped)"""


# ---- chat ----

class ChatModel(_Result):
    """A chat model this machine can load."""

    id: str
    name: str
    formats: list[str]
    backends: list[str]
    default_backend: str
    quantizations: list[str]
    size: int | None = None
    context_length: int | None = None
    loaded: bool
    error: ErrorInfo | None
    """Why the model cannot load (a broken file on disk), or null"""


class ChatModels(_Result):
    models: list[ChatModel]


class LoadedModel(_Result):
    """A model in memory (chat.loaded adds id, adapter, last_used, idle_seconds and in_use)"""

    model: str
    backend: str
    path: str
    memory_bytes: int
    context_length: int
    options: dict[str, Any]
    id: str = ""
    adapter: str | None = None
    last_used: float = 0
    idle_seconds: float = 0
    in_use: bool = False


class LoadedModels(_Result):
    models: list[LoadedModel]


class UnloadedModel(_Result):
    model: str
    backend: str
    adapter: str | None = None


class ChatUnload(_Result):
    unloaded: list[UnloadedModel]
    freed_bytes: int


class ChatCompletion(_Result):
    text: str
    model: str
    finish_reason: str | None
    """stop, length or cancelled"""
    stats: dict[str, Any] | None


# ---- batch ----

class BatchResults(_Result):
    job: Job
    results: list[dict[str, Any]]


class BatchList(_Result):
    batches: list[Job]


# ---- conversations ----

class ConversationMessage(_Result):
    """One message of a conversation's branch (core/conversations)."""

    id: str
    parent_id: str | None
    """null: a first message"""
    lane: int
    """0, or 1 for the second model of a comparison"""
    role: Literal["system", "user", "assistant"]
    content: str
    model: str | None
    stats: dict[str, Any] | None
    """prompt_tokens, completion_tokens, ttft (seconds), tokens_per_second, total_time, finish_reason"""
    finish_reason: str | None
    """stop, length or cancelled (a stopped answer)"""
    created_at: float
    siblings: list[str] = []
    """ids of the messages with the same parent and lane, oldest first (a branch switcher's n); this one included"""
    sibling_index: int = 0


class AppendedMessage(_Result):
    id: str
    parent_id: str | None
    lane: int
    role: Literal["system", "user", "assistant"]
    content: str
    model: str | None
    stats: dict[str, Any] | None
    finish_reason: str | None
    created_at: float


class ConversationLane(_Result):
    model: str | None
    messages: list[ConversationMessage]
    """the branch shown, first message first"""


class Conversation(_Result):
    """A conversation: its settings and the branch shown in each lane."""

    id: str
    title: str
    models: list[str]
    system_prompt: str
    sampling: dict[str, Any]
    heads: list[str | None]
    """the last message of the branch shown, per lane"""
    created_at: float
    updated_at: float
    message_count: int
    """every message, all branches"""
    lanes: list[ConversationLane]


class ConversationSummary(_Result):
    id: str
    title: str
    models: list[str]
    created_at: float
    updated_at: float
    message_count: int
    preview: str
    """the start of the last message"""


class ConversationList(_Result):
    conversations: list[ConversationSummary]
    total: int
    """matches in all (for paging)"""
    limit: int
    offset: int


class ConversationAppend(_Result):
    conversation_id: str
    title: str
    updated_at: float
    head: str
    """the last message appended (now the lane's head)"""
    messages: list[AppendedMessage]


class ConversationDeleted(_Result):
    deleted: str
    messages: int


class ConversationExport(_Result):
    format: Literal["json", "markdown"]
    filename: str
    media_type: str
    content: str
    """the file's text"""


# ---- datasets and training ----

class DatasetInfo(_Result):
    """One imported dataset."""

    name: str
    path: str
    format: str
    shape: str
    rows: int
    columns: list[str]
    mapping: dict[str, Any]
    size_bytes: int
    created_at: float
    source_filename: str | None


class DatasetList(_Result):
    datasets: list[DatasetInfo]


class PreviewRow(_Result):
    row: int
    raw: dict[str, Any]
    messages: list[dict[str, Any]]
    rendered: str | None


class DatasetPreview(_Result):
    info: DatasetInfo
    model: str | None
    rows: list[PreviewRow]


class DatasetStats(_Result):
    rows: int
    min: int
    max: int
    mean: float
    p95: int
    context_length: int | None
    max_seq_length: int
    limit: int
    truncated_rows: int


class DatasetDeleted(_Result):
    deleted: str
    freed_bytes: int


class TrainingRun(Job):
    """A training job with its last metrics."""

    final_metrics: dict[str, Any] | None


class TrainingRuns(_Result):
    runs: list[TrainingRun]


class TrainingMetrics(_Result):
    metrics: list[dict[str, Any]]


class TrainingLog(_Result):
    log: str


class MergeResult(_Result):
    path: str


class TrainingEstimate(_Result):
    memory_bytes: int
    seconds_per_step: float
    seconds: float
    steps: int = 0
    parameters: int = 0
    trainable_parameters: int = 0


# ---- video ----

class VideoDefaults(_Result):
    """What a generation uses for each value not given."""

    width: float
    height: float
    num_frames: float
    fps: float
    steps: float
    guidance: float


class VideoRules(_Result):
    """What a model accepts: sizes, frame counts and ``[min, max]`` ranges."""

    size_multiple: int
    frame_step: int
    frame_offset: int
    min_frames: int
    max_frames: int | None
    steps: tuple[float, float]
    guidance: tuple[float, float]
    min_size: int
    max_size: int
    fps: tuple[float, float]


class VideoPreset(_Result):
    label: str
    width: int
    height: int


class VideoModel(_Result):
    id: str
    name: str
    local: bool
    pipeline: str
    family: str
    task: str
    text_to_video: bool = False
    image_to_video: bool = False
    size: int | None = None
    revision: str | None = None
    defaults: VideoDefaults
    rules: VideoRules
    presets: list[VideoPreset]
    lora: bool = False


class VideoModels(_Result):
    models: list[VideoModel]


class VideoStrategy(_Result):
    """One way to run a generation (``Strategy.to_dict()``)."""

    name: str
    offload: Literal["none", "model", "sequential", "cpu"]
    vae_tiling: bool
    vae_slicing: bool
    peak_bytes: int
    fits: bool
    speed_rank: int = 0
    reason: str = ""


class VideoPlan(_Result):
    """Where and how a generation would run, and its memory peak."""

    device: str
    device_name: str = ""
    free_bytes: int
    total_bytes: int = 0
    dtype: str = ""
    strategy: VideoStrategy
    options: list[VideoStrategy]
    fits: bool
    reasoning: list[str]
    request: dict[str, Any] = {}
    local: bool = False
    weights_bytes: int = 0
    activation_bytes: int = 0
    vae_decode_bytes: int = 0
    latent_shape: list[int] = []
    tokens: int = 0
    gpu: bool = False


class VideoPipeline(_Result):
    """A pipeline held in memory (one per device at most)."""

    device: str
    model: str
    path: str
    revision: str | None
    dtype: str
    offload: str
    memory_bytes: int
    busy: bool
    """A generation is running on it (it cannot be unloaded then)"""
    idle_seconds: float


class VideoLoaded(_Result):
    pipelines: list[VideoPipeline]


class VideoUnload(_Result):
    unloaded: list[str]
    freed_bytes: int


class VideoList(_Result):
    generations: list[Job]


class VideoDeleted(_Result):
    deleted: str
    bytes: int


class VideoMedia(_Result):
    mime: str
    base64: str
    bytes: int


# What the document holds as components besides the operations' results: the error body and the
# events' data (a Job, a SystemSnapshot).
EXTRA_COMPONENTS: tuple[type, ...] = (Error, SystemSnapshot)
