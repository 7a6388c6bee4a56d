/**
 * Types mirroring the JSON the Python side returns (`model_studio.api` results).
 *
 * Keep in sync with: engine/library.py `ModelInfo`, engine/jobs.py `Job.to_dict()`,
 * engine/fit.py `FitResult`, engine/system.py `SystemSnapshot`, errors.py `StudioError`.
 * Sizes are bytes, times are seconds (epoch seconds for timestamps).
 */

export type Task = 'text-generation' | 'text-to-video' | 'image-to-video';
export type Backend = 'llama-cpp' | 'transformers' | 'diffusers';
export type ModelStatus = 'available' | 'downloading' | 'local' | 'error';
export type ModelFormat = 'gguf' | 'safetensors' | 'diffusers' | 'pytorch';
export type SortKey = 'downloads' | 'size' | 'name' | 'likes' | 'recent';
export type JobStateName =
  'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

/** `{"error": {...}}` body of a failed request, and a failed job's `error`. */
export interface ErrorInfo {
  type: string;
  message: string;
  details?: Record<string, unknown> | null;
  resolution_steps?: string[] | null;
}

export interface Quantization {
  name: string;
  files: string[];
  size: number | null;
  local: boolean;
  [key: string]: unknown;
}

export interface ModelInfo {
  id: string;
  name: string;
  task: Task | string | null;
  formats: string[];
  backends: string[];
  size: number | null;
  status: ModelStatus | string;
  sources: string[];
  license: string | null;
  gated: boolean;
  parameters: number | null;
  context_length: number | null;
  architecture: string | null;
  quantizations: Quantization[];
  default_quantization: string | null;
  tags: string[];
  downloads: number | null;
  likes: number | null;
  description: string;
  pipeline: string | null;
  video: Record<string, unknown> | null;
  local_path: string | null;
  local_size: number | null;
  incomplete_bytes: number;
  commit: string | null;
  last_modified: number | null;
  files?: Array<Record<string, unknown>> | null;
  error: ErrorInfo | null;
}

export interface SearchResult {
  models: ModelInfo[];
  hub_error: ErrorInfo | string | null;
}

export interface SearchQuery {
  q?: string;
  task?: string | null;
  backend?: string | null;
  status?: string | null;
  format?: string | null;
  sort?: SortKey | null;
  limit?: number | null;
  hub?: boolean | null;
}

export type FitVerdict = 'gpu' | 'partial' | 'cpu' | 'no';

export interface FitResult {
  model: string;
  verdict: FitVerdict;
  message: string;
  quantization: string | null;
  context: number;
  weights_bytes: number;
  kv_cache_bytes: number;
  overhead_bytes: number;
  total_bytes: number;
  ram_free: number;
  gpus: Array<Record<string, unknown>>;
  gpu_index: number | null;
  gpu_layers: number;
  total_layers: number | null;
  approximate: boolean;
  notes: string[];
  fits: boolean;
}

export interface DeleteResult {
  model: string;
  freed_bytes: number;
  revisions?: unknown;
  deleted: boolean;
}

export interface Progress {
  done: number;
  total: number | null;
  unit: string;
  rate: number | null;
  eta: number | null;
  fraction: number | null;
  message: string;
  detail: Record<string, unknown>;
}

export interface Job {
  id: string;
  kind: string;
  state: JobStateName;
  title: string;
  params: Record<string, unknown>;
  progress: Progress;
  error: ErrorInfo | null;
  result: unknown;
  owner_pid: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  control?: string | null;
}

export interface StartDownload {
  model: string;
  quantization?: string | null;
  files?: string[] | null;
  include?: string[] | null;
  revision?: string | null;
}

export interface GpuProcess {
  pid: number;
  used_memory: number | null;
  name: string;
  kernel_id: string | null;
}

export interface GpuStats {
  index: number;
  name: string;
  uuid: string;
  memory_total: number;
  memory_used: number;
  memory_free: number;
  utilization: number | null;
  memory_utilization: number | null;
  temperature: number | null;
  power: number | null;
  power_limit: number | null;
  processes: GpuProcess[];
}

export interface DiskInfo {
  path?: string;
  mountpoint?: string;
  total: number;
  used: number;
  free: number;
  percent?: number;
  [key: string]: unknown;
}

export interface SystemSnapshot {
  time: number;
  cpu_percent: number;
  cpu_per_core: number[];
  cpu_count: number;
  load_average: number[] | null;
  memory_total: number;
  memory_available: number;
  memory_used: number;
  memory_percent: number;
  swap_total: number;
  swap_used: number;
  disks: DiskInfo[];
  gpus: GpuStats[];
  gpu_error: string | null;
}

export interface BackendInfo {
  name: string;
  installed: boolean;
  version: string | null;
  install: string | null;
  gpu: boolean;
  local_models: number;
  models: string[];
  suggestions: unknown[];
}

export interface SettingsResult {
  settings: Record<string, unknown>;
  mutable: string[];
  /** What was wrong with settings.json at start-up (each entry was skipped). */
  file_errors?: { setting: string | null; message: string; value?: unknown }[];
}

export type SettingsUpdate = Partial<{
  max_concurrent_downloads: number;
  files_per_download: number;
  memory_budget: number;
  idle_ttl: number;
  extra_model_dirs: string[];
}>;

/* ---- chat (engine/chat: ChatService, ChatStats, SamplingParams, LoadOptions) ---- */

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One entry of `chat.models`: a chat model this machine can load. */
export interface ChatModel {
  id: string;
  backends?: string[];
  loaded?: boolean;
  local?: boolean;
  size?: number | null;
  [key: string]: unknown;
}

/** One entry of `chat.loaded`: a model held in memory. */
export interface LoadedModel {
  /** The exact model loaded (org/name:QUANT for GGUF). */
  model: string;
  /** The model as a user names it (without :QUANT). */
  id?: string;
  backend: string;
  memory_bytes: number | null;
  context_length: number | null;
  idle_seconds: number | null;
  [key: string]: unknown;
}

/** `SamplingParams`: every field optional (the engine's defaults apply). */
export interface SamplingOptions {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  max_tokens?: number | null;
  seed?: number | null;
  repeat_penalty?: number | null;
  stop?: string[] | null;
}

/** `LoadOptions`: how a model is loaded (all optional). */
export interface LoadOptions {
  backend?: string | null;
  context_length?: number | null;
  threads?: number | null;
  gpu_layers?: number | null;
  dtype?: string | null;
  chat_template?: string | null;
  quantization?: string | null;
  adapter?: string | null;
}

export interface ChatStats {
  prompt_tokens?: number | null;
  completion_tokens: number | null;
  ttft: number | null;
  tokens_per_second: number | null;
  total_time: number | null;
  finish_reason: string | null;
}

export interface ChatResult {
  text: string;
  stats: ChatStats;
  finish_reason: string | null;
}

export interface ChatChunkEvent {
  request_id: string;
  text: string;
  tokens: number;
}

/** A running streamed answer: `promise` settles when it ends; `stop()` ends it early. */
export interface ChatStream {
  promise: Promise<ChatResult>;
  stop: () => void;
}

/* ---- training (engine/training: TrainingService, DatasetInfo) ---- */

/** LoRA fine-tuning options (`eng.training.start(base, dataset, **config)`); all optional. */
export interface TrainingConfig {
  steps?: number | null;
  epochs?: number | null;
  learning_rate?: number | null;
  lora_r?: number | null;
  lora_alpha?: number | null;
  lora_dropout?: number | null;
  target_modules?: string[] | null;
  batch_size?: number | null;
  grad_accum?: number | null;
  max_seq_length?: number | null;
  eval_every?: number | null;
  eval_fraction?: number | null;
  seed?: number | null;
  lr_scheduler?: string | null;
  warmup_steps?: number | null;
}

/** One row of `training.metrics`: a training step (loss) or an evaluation (eval_loss). */
export interface TrainingMetric {
  step: number;
  epoch?: number | null;
  loss?: number | null;
  eval_loss?: number | null;
  learning_rate?: number | null;
  grad_norm?: number | null;
  tokens_per_second?: number | null;
  elapsed?: number | null;
  energy_wh?: number | null;
}

/** `training.estimate`: memory and time a run would take. */
export interface TrainingEstimate {
  memory_bytes?: number | null;
  seconds_per_step?: number | null;
  seconds?: number | null;
  [key: string]: unknown;
}

/** One entry of `datasets.list` (`DatasetInfo`). */
export interface DatasetInfo {
  name: string;
  rows?: number | null;
  shape?: string | null;
  [key: string]: unknown;
}

/* ---- video (engine/video_plan: VideoProfile, Plan; engine/video: VideoService) ---- */

export type VideoOffload = 'auto' | 'none' | 'model' | 'sequential' | 'cpu';
export type VideoMediaKind = 'video' | 'thumbnail';

/** What a model accepts: sizes, frame counts and ranges (`[min, max]`, max may be null). */
export interface VideoRules {
  size_multiple: number;
  frame_step: number;
  frame_offset: number;
  min_frames: number;
  max_frames: number | null;
  steps: [number, number | null];
  guidance: [number, number | null];
  min_size: number;
  max_size: number | null;
  fps: [number, number | null];
  [key: string]: unknown;
}

export interface VideoDefaults {
  width: number;
  height: number;
  num_frames: number;
  fps: number;
  steps: number;
  guidance: number;
  [key: string]: unknown;
}

export interface VideoPreset {
  label: string;
  width: number;
  height: number;
}

/** One entry of `video.models`. */
export interface VideoModel {
  id: string;
  name: string;
  local: boolean;
  pipeline: string | null;
  family: string | null;
  task: Task | string | null;
  image_to_video: boolean;
  text_to_video: boolean;
  size: number | null;
  defaults: VideoDefaults;
  rules: VideoRules;
  presets: VideoPreset[];
  lora: boolean;
  [key: string]: unknown;
}

/** `video.plan` parameters (everything but `model` takes the model's defaults). */
export interface VideoPlanRequest {
  model: string;
  width?: number | null;
  height?: number | null;
  num_frames?: number | null;
  steps?: number | null;
  guidance?: number | null;
  fps?: number | null;
  offload?: VideoOffload | string | null;
  has_image?: boolean | null;
}

/** `video.generate` parameters. */
export interface VideoRequest {
  model: string;
  prompt: string;
  negative_prompt?: string | null;
  /** PNG/JPEG as base64 (a `data:` URL prefix is allowed). */
  image_base64?: string | null;
  width?: number | null;
  height?: number | null;
  num_frames?: number | null;
  fps?: number | null;
  steps?: number | null;
  guidance?: number | null;
  seed?: number | null;
  lora?: string | null;
  lora_scale?: number | null;
  offload?: VideoOffload | string | null;
}

/** One way to run a generation (`Strategy.to_dict()`). */
export interface VideoStrategy {
  name: string;
  offload: string;
  vae_tiling: boolean;
  vae_slicing: boolean;
  peak_bytes: number;
  fits: boolean;
  speed_rank: number;
  reason: string;
  [key: string]: unknown;
}

/** `video.plan`: where and how a generation would run, and its memory peak. */
export interface VideoPlan {
  device: string;
  device_name: string;
  free_bytes: number | null;
  total_bytes: number | null;
  dtype: string;
  strategy: VideoStrategy;
  options: VideoStrategy[];
  fits: boolean;
  weights_bytes: number | null;
  activation_bytes: number | null;
  vae_decode_bytes: number | null;
  latent_shape: number[] | null;
  tokens: number | null;
  reasoning: string[];
  gpu: boolean;
  [key: string]: unknown;
}

/** A completed video job's `result`. */
export interface VideoResult {
  video: string;
  thumbnail: string;
  params_file?: string;
  frames: number;
  width: number;
  height: number;
  fps: number;
  duration: number;
  elapsed: number | null;
  energy_wh: number | null;
  bytes: number | null;
  seed: number | null;
  [key: string]: unknown;
}

/** `video.delete`. */
export interface VideoDeleteResult {
  deleted: string;
  bytes: number;
}

/** One pipeline held in memory by the video engine (`video.loaded`; one per device at most). */
export interface VideoPipeline {
  device: string;
  model: string;
  path: string;
  revision: string | null;
  dtype: string;
  offload: 'cpu' | 'none' | 'model' | 'sequential' | string;
  memory_bytes: number;
  /** A generation is running on it (it cannot be unloaded then). */
  busy: boolean;
  idle_seconds: number;
  [key: string]: unknown;
}

/** `video.unload`. */
export interface VideoUnloadResult {
  unloaded: string[];
  freed_bytes: number;
}

/** `video.media` (for widgets, which cannot reach the file routes). */
export interface VideoMedia {
  mime: string;
  base64: string;
  bytes: number;
}
