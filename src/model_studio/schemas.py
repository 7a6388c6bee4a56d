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

from pydantic import BaseModel, ConfigDict, Field

from .core.host import status as _host
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


class JobDeleted(_Result):
    deleted: str
    kind: str
    files_deleted: bool
    bytes_freed: int


class JobCleanupEntry(_Result):
    id: str
    kind: str
    state: JobState
    title: str
    finished_at: float


class JobCleanup(_Result):
    count: int
    jobs: list[JobCleanupEntry]
    dry_run: bool
    older_than_days: float
    bytes_freed: int


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
    """catalog, hub, local, shared"""
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
    embedding: dict[str, Any] | None  # embedding models: dimensions, matryoshka_dimensions, pooling, normalized, max_tokens
    local_path: str | None
    local_size: int | None
    incomplete_bytes: int
    commit: str | None
    last_modified: float | None
    files: list[dict[str, Any]] | None
    """library.info only"""
    error: ErrorInfo | None
    """Why the model cannot be used (its first broken file), or null"""
    shared: bool
    """Local in a read-only shared folder (shared_model_dirs, e.g. a JupyterHub-wide cache): loaded in place,
    never deleted from here"""
    store: str | None
    """Where a local model lives: hf-cache, folder, import, lmstudio, ollama or shared (null when not local)"""
    read_only: bool
    """Another tool's store (LM Studio, Ollama) or a shared read-only folder holds the files: listed and
    loaded, never deleted here"""
    verified: bool | None
    """Imports: true when checked against a given sha256, false when imported without one (unverified)"""
    endpoint: str | None
    """status remote: the remote endpoint that serves it"""


class SearchResult(_Result):
    models: list[ModelInfo]
    hub_error: ErrorInfo | None
    """Why the Hub part is missing (offline, rate limited, ...); null when the Hub answered"""


class LocalModels(_Result):
    models: list[ModelInfo]


class BackendStats(_Result):
    """A backend's (provider's) statistics."""

    local_models: int
    loaded_models: int
    """Models (llama-cpp, transformers) or pipelines (diffusers) held in memory now"""
    downloads_completed: int
    downloads_failed: int
    bytes_on_disk: int
    """Bytes of the local models this backend can run"""


class BackendInfo(_Result):
    name: str
    installed: bool
    version: str | None
    install: str | None
    gpu: bool
    local_models: int
    models: list[str]
    suggestions: list[dict[str, Any]]
    """Catalog models that fit this machine (fit verdict gpu, partial or cpu), best first"""
    stats: BackendStats | None = None


class Backends(_Result):
    backends: list[BackendInfo]


class CapabilityCount(_Result):
    name: str
    """A task (text-generation, text-to-video, ...) or a format (gguf, safetensors, diffusers)"""
    local: int
    available: int
    """Catalog and local models, merged by id"""


class Capabilities(_Result):
    tasks: list[CapabilityCount]
    formats: list[CapabilityCount]
    local: int
    available: int


# ---- the Hugging Face login ----

class AuthStatus(_Result):
    """Who is logged in to the Hub; the token itself is never sent, only ``token_masked``."""

    logged_in: bool
    source: Literal["env", "file"] | None
    """env: HF_TOKEN in the server's environment; file: a saved login"""
    token_masked: str | None
    """e.g. hf_…abcd"""
    token_path: str
    user: str | None
    fullname: str | None
    orgs: list[str]
    token_role: str | None
    endpoint: str
    valid: bool | None
    """The Hub accepted the token (null: not checked, or the Hub could not be reached)"""
    error: ErrorInfo | None
    warning: str | None = None
    removed: bool | None = None
    """logout: a saved token was deleted"""


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
    algorithm: str | None = None
    """Store models (Ollama blobs, imports with a sha256): sha256 of the whole file against its digest"""
    bytes: int | None = None
    """Store models: bytes hashed"""


class EvalResult(_Result):
    """One reported evaluation result of a card's ``model-index`` (huggingface_hub ``EvalResult``)."""

    task_type: str
    task_name: str | None
    dataset_type: str
    dataset_name: str
    dataset_config: str | None
    dataset_split: str | None
    metric_type: str
    metric_name: str | None
    metric_value: float | int | str
    verified: bool | None
    source_name: str | None
    source_url: str | None


class CardMetadata(_Result):
    """The card's YAML front matter, read with huggingface_hub's ``ModelCard``."""

    license: str | None
    license_name: str | None
    license_link: str | None
    language: list[str]
    base_model: list[str]
    datasets: list[str]
    """Datasets it was trained on"""
    tags: list[str]
    pipeline_tag: str | None
    library_name: str | None
    model_name: str | None
    eval_results: list[EvalResult]
    error: str | None
    """Why the metadata could not be read, or null"""


class PageFile(_Result):
    path: str
    size: int | None
    sha256: str | None
    """LFS files (and local files whose cache blob is named by it)"""
    lfs: bool | None
    quantization: str | None
    local: bool


class PageRef(_Result):
    name: str
    commit: str


class PageCommit(_Result):
    id: str
    title: str
    date: str | None
    authors: list[str]


class PageRevisions(_Result):
    current: str | None
    """The commit the page describes (the local one when the model is local)"""
    branches: list[PageRef]
    tags: list[PageRef]
    commits: list[PageCommit]
    """The newest commits (at most 20)"""
    local: dict[str, str]
    """Refs of the local copy: name -> commit"""


class PageGating(_Result):
    gated: Literal[False, "auto", "manual"]
    access: bool | None
    """Whether this user may download the files (null: unknown, the Hub did not answer)"""
    terms_url: str | None
    """Where to accept the terms"""


class PageQuantization(_Result):
    name: str | None
    """null for a model without quantizations (its one fit)"""
    files: list[str]
    size: int | None
    local: bool
    default: bool
    fit: FitResult | None
    fit_error: str | None


class PageBackend(_Result):
    name: str
    installed: bool


class PageCapabilities(_Result):
    chat: bool
    fine_tune: bool
    video: bool
    download: bool
    delete: bool
    verify: bool


class ModelPage(_Result):
    """``library.page``: what the model page shows. The Hub part is cached; the local part is read each time."""

    model: ModelInfo
    url: str | None
    """The model's page on the Hub"""
    card: str | None
    """The card's Markdown without its front matter"""
    card_source: Literal["local", "hub"] | None
    metadata: CardMetadata
    files: list[PageFile]
    revisions: PageRevisions
    gating: PageGating
    quantizations: list[PageQuantization]
    backends: list[PageBackend]
    capabilities: PageCapabilities
    hub_error: ErrorInfo | None
    """Why the Hub part is missing (offline, unreachable); null when the Hub answered"""
    hub_notes: list[str]
    """Parts of the Hub's answer that failed (card, revisions, commits, access)"""


class DeleteResult(_Result):
    model: str
    freed_bytes: int
    revisions: list[str]
    deleted: bool
    files_kept: bool = False
    """An import used in place: only the studio's entry was removed, the user's file stays"""


class StoreFile(_Result):
    model: str
    path: str
    """The file as the store names it"""
    real_path: str
    """After symlinks: two names of one file share it"""
    size: int
    sha256: str | None
    """When the store names the file by it (Ollama blobs, Hub LFS blobs)"""


class ModelStore(_Result):
    store: str
    """hf-cache, folder, import, lmstudio or ollama"""
    roots: list[str]
    read_only: bool
    files: list[StoreFile]
    bytes: int


class ModelStores(_Result):
    stores: list[ModelStore]


# ---- settings and system ----

class SettingsFileError(_Result):
    setting: str | None = None
    message: str = ""
    value: Any = None


class SettingChange(_Result):
    from_: Any = Field(None, alias="from")
    to: Any = None


class Settings(_Result):
    settings: dict[str, Any]
    """Every setting (the Hub token only as hf_token_set)"""
    sources: dict[str, Literal["default", "environment", "config", "file", "runtime"]] = {}
    """Where each setting's value comes from: default, environment (a MODEL_STUDIO_* or HF_* variable),
    config (a Jupyter config file), file (settings.json) or runtime (changed through the API)"""
    mutable: list[str]
    file_errors: list[SettingsFileError] = []
    """What was wrong with settings.json when it was last read (each entry skipped)"""
    changed: dict[str, SettingChange] = {}
    """settings.update and settings.reload: each setting whose value changed (or would, in a dry run)"""
    dry_run: bool = False
    """settings.update with dry_run: nothing was changed"""


class PackageVersions(_Result):
    """Installed versions (null: not installed)"""

    model_studio: str | None
    torch: str | None
    transformers: str | None
    diffusers: str | None
    peft: str | None
    accelerate: str | None
    huggingface_hub: str | None
    llama_cpp: str | None
    jupyter_server: str | None
    jupyterlab: str | None
    pynvml: str | None


class TorchRuntime(_Result):
    cuda: str | None
    """torch.version.cuda: the CUDA torch was built with (null: a CPU build or no torch)"""
    cudnn: str | None
    cuda_available: bool | None
    mps_available: bool | None
    error: str | None = None


class LlamaCppBuild(_Result):
    version: str | None
    gpu_offload: bool | None
    """llama_supports_gpu_offload(): built with a GPU backend"""
    cuda: bool | None
    metal: bool | None
    vulkan: bool | None
    system_info: str | None
    """llama_print_system_info()"""
    error: str | None = None


class Versions(_Result):
    os: dict[str, Any]
    python: dict[str, Any]
    packages: PackageVersions
    torch: TorchRuntime
    nvidia_driver: str | None
    llama_cpp: LlamaCppBuild


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
    base_model: str | None = None
    """a fine-tuned training run (id run/<job id>): the model it was trained from"""
    created: float | None = None
    """a fine-tuned training run: when it finished (seconds since the epoch)"""
    endpoint: str | None = None
    """the remote endpoint that serves it (remote/<endpoint>/<model id>)"""
    status: str | None = None
    """remote: served by a remote endpoint; nothing loads here"""


class ChatModels(_Result):
    models: list[ChatModel]


class ModelPlacement(_Result):
    """Where a loaded model went: the fit verdict, or the user's gpu_layers (``explicit``)."""

    verdict: Literal["gpu", "partial", "cpu"]
    gpu_layers: int
    """llama.cpp n_gpu_layers: -1 every layer, 0 none, N the first N"""
    device: str
    """the GPU it runs on (cuda:N), or cpu"""
    devices: dict[str, int]
    """bytes per device (cpu is RAM)"""
    explicit: bool
    total_layers: int | None


class LoadedModel(_Result):
    """A model in memory (chat.loaded adds id, adapter, last_used, idle_seconds and in_use)"""

    model: str
    backend: str
    path: str
    memory_bytes: int
    context_length: int
    options: dict[str, Any]
    placement: ModelPlacement | None = None
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

class ConversationToolFunction(_Result):
    name: str
    arguments: str
    """JSON text, as the model wrote it"""


class ConversationToolCall(_Result):
    """A function call of an assistant message (OpenAI's ``tool_calls[]`` item)."""

    id: str
    type: Literal["function"]
    function: ConversationToolFunction


class ConversationMessage(_Result):
    """One message of a conversation's branch (core/conversations)."""

    id: str
    parent_id: str | None
    """null: a first message"""
    lane: int
    """0, or 1 for the second model of a comparison"""
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    model: str | None
    stats: dict[str, Any] | None
    """prompt_tokens, completion_tokens, ttft (seconds), tokens_per_second, total_time, finish_reason"""
    finish_reason: str | None
    """stop, length, tool_calls or cancelled (a stopped answer)"""
    created_at: float
    tool_calls: list[ConversationToolCall] | None = None
    """an assistant message's function calls (OpenAI's shape)"""
    tool_call_id: str | None = None
    """a tool message: the id of the call it answers"""
    siblings: list[str] = []
    """ids of the messages with the same parent and lane, oldest first (a branch switcher's n); this one included"""
    sibling_index: int = 0


class AppendedMessage(_Result):
    id: str
    parent_id: str | None
    lane: int
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    model: str | None
    stats: dict[str, Any] | None
    finish_reason: str | None
    created_at: float
    tool_calls: list[ConversationToolCall] | None = None
    tool_call_id: str | None = None


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
    memory_bytes: int  # one process's (what one GPU must hold)
    seconds_per_step: float
    seconds: float
    steps: int = 0
    parameters: int = 0
    trainable_parameters: int = 0
    per_device: dict[str, int] = {}  # bytes per device for the strategy (DDP: a full copy each; FSDP: sharded)
    total_memory_bytes: int = 0
    devices: list[str] = []
    num_processes: int = 1
    strategy: str = "ddp"
    backend: str = "gloo"


class TrainingExport(_Result):
    """A run config as a bundle: the launch command, the files by name, where it was written."""

    command: str
    launch: str
    slurm: str
    names: list[str]
    devices: list[str]
    num_processes: int
    strategy: str
    backend: str
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int
    path: str | None = None
    zip: str | None = None
    files: dict[str, str] = {}
    zip_name: str | None = None
    zip_base64: str | None = None


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
    last_image: bool = False
    """Takes a last frame too (first-last-frame to video)"""
    last_image_required: bool = False
    """Cannot go without a last frame (Wan 2.1 FLF2V)"""


class VideoModels(_Result):
    models: list[VideoModel]


class VideoDownloaded(_Result):
    local: bool
    revision: str | None = None
    bytes: int | None = None
    """Bytes on disk (local models)"""
    expected_bytes: int | None = None
    files: int = 0
    download_job: str | None = None
    """A download of it that is queued, running or paused"""
    download_state: str | None = None


class VideoVerified(_Result):
    ok: bool | None
    """None when there is nothing to check (not downloaded)"""
    method: Literal["verify", "download", "size"] | None = None
    """verify: the last library verify of this revision; download: checked as downloaded; size: a quick size check"""
    checked_at: float | None = None
    detail: str = ""


class VideoFits(_Result):
    """The memory planner at the model's default settings on this machine."""

    fits: bool
    strategy: str | None = None
    offload: str | None = None
    device: str | None = None
    device_name: str | None = None
    dtype: str | None = None
    peak_bytes: int | None = None
    free_bytes: int | None = None
    needed_bytes: int | None = None
    request: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    """Why it does not fit (a ResourceError) or cannot be planned"""


class VideoLoadedState(_Result):
    loaded: bool
    device: str | None = None
    busy: bool = False
    memory_bytes: int = 0
    idle_seconds: float | None = None
    dtype: str | None = None
    offload: str | None = None


class VideoReadiness(_Result):
    """Is a video model ready here: downloaded, verified, fits, loaded."""

    model: str
    name: str
    pipeline: str
    family: str
    text_to_video: bool
    image_to_video: bool
    last_image: bool
    last_image_required: bool = False
    in_catalog: bool
    downloaded: VideoDownloaded
    verified: VideoVerified
    fits: VideoFits
    loaded: VideoLoadedState
    ready: bool
    """Downloaded, not found broken, and fits"""


class VideoStrategy(_Result):
    """One way to run a generation (``Strategy.to_dict()``)."""

    name: str
    offload: Literal["none", "model", "sequential", "cpu", "balanced"]
    vae_tiling: bool
    vae_slicing: bool
    peak_bytes: int
    fits: bool
    speed_rank: int = 0
    reason: str = ""
    device_peaks: dict[str, int] | None = None
    """Split across GPUs (offload 'balanced'): the peak bytes on each GPU"""
    device_map: dict[str, str] | None = None
    """Split across GPUs: the GPU (or 'cpu') that holds each component"""
    device_free: dict[str, int] | None = None
    """Split across GPUs: the free bytes per GPU the placement was made for"""


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


class VideoDevice(_Result):
    """A device a generation may pick."""

    device: str
    """auto, cuda:N or cpu"""
    name: str = ""
    free: int | None = None
    total: int | None = None
    picks: str | None = None
    """auto only: the device it picks now (the GPU with the most free memory, else cpu)"""


class VideoDevices(_Result):
    devices: list[VideoDevice]


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


# ---- memory (the arbiter) ----

class UnloadAction(_Result):
    """The operation that frees a holder, with its parameters (chat.unload, video.unload, training.cancel)."""

    operation: str
    params: dict[str, Any]


class MemoryHolder(_Result):
    """One holder's bytes on one device (a model split over two devices is two holders with one id)."""

    id: str
    device: str
    """cpu (RAM) or cuda:N"""
    bytes: int
    owner: str
    """the model, pipeline or run (e.g. "training run tra-...")"""
    kind: str
    """chat, video, training, or a reservation's kind"""
    pid: int | None
    since: float
    evictable: bool
    """idle: unloaded on its own to make room for a load"""
    in_use: bool
    last_used: float | None
    unload: UnloadAction | None
    """how to free it (null: end the process that holds it)"""


class MemoryDevice(_Result):
    """A device's memory as the arbiter sees it."""

    device: str
    name: str
    total: int
    free: int
    """free now (NVML for a GPU, psutil for RAM)"""
    budget: int | None
    """RAM: the memory budget loaded models may hold"""
    held: int
    """bytes its holders account for"""
    available: int
    """what a load may take there now (headroom kept)"""


class MemoryHolders(_Result):
    devices: list[MemoryDevice]
    holders: list[MemoryHolder]


class MemoryRefusal(_Result):
    """The ``details`` of a ResourceError from the arbiter: a load that does not fit, and who holds the memory."""

    device: str
    """the device that is shortest"""
    needs: dict[str, int]
    short: dict[str, int]
    """bytes missing per device after evicting every idle holder"""
    holders: list[MemoryHolder]
    evictable: list[str]
    """ids of the idle holders (unloading them is not enough by itself)"""
# ---- remote endpoints ----

class EndpointHealth(_Result):
    """An endpoint asked for its model list."""

    name: str
    status: Literal["ok", "down", "unauthorized", "error"]
    models: list[str]
    """remote/<endpoint>/<model id> of each model it serves"""
    latency: float | None
    """seconds the model list took"""
    error: ErrorInfo | None
    """NetworkError (down), EndpointAuthError (unauthorized), or null"""


class Endpoint(_Result):
    """A remote OpenAI-compatible serving engine; its key is never shown, only whether one is set."""

    name: str
    base_url: str
    """the OpenAI base URL (the routes /models, /chat/completions, /embeddings are below it)"""
    headers: dict[str, str]
    timeout: float
    """seconds without an answer before a NetworkError"""
    concurrency: int
    """requests a batch sends at once"""
    has_key: bool
    key_masked: str | None
    health: EndpointHealth | None = None
    """endpoints.list with check=true"""


class Endpoints(_Result):
    endpoints: list[Endpoint]


class EndpointRemoved(_Result):
    removed: str


# ---- model host ----

HostStatus, HostStop, HostLogs = _host.HostStatus, _host.HostStop, _host.HostLogs


# What the document holds as components besides the operations' results: the error body and the
# events' data (a Job, a SystemSnapshot).
EXTRA_COMPONENTS: tuple[type, ...] = (Error, SystemSnapshot, MemoryRefusal)
