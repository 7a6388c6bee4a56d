/**
 * Types of the JSON the Python side returns (`model_studio.api` results).
 *
 * The result types are the OpenAPI document's schemas (`server/openapi.json`, generated from
 * `model_studio/schemas.py`), through `openapi.d.ts`, which openapi-typescript generates:
 * `jlpm build:api-types` after regenerating openapi.json (tests/server/test_openapi.py checks both
 * are fresh). Request bodies and queries are the operations' (`Body<'op'>`, `Query<'op'>`); only
 * front-end-only types and the chat/training option groups are written here by hand.
 * Sizes are bytes, times are seconds (epoch seconds for timestamps).
 */

import type { components, operations } from './openapi';

type Schemas = components['schemas'];

/** The JSON body an operation takes, as the OpenAPI document declares it. */
type Body<K extends keyof operations> = operations[K] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

/** The query parameters an operation takes. */
type Query<K extends keyof operations> = NonNullable<operations[K]['parameters']['query']>;

export type Task =
  | 'text-generation'
  | 'text-to-video'
  | 'image-to-video'
  | 'feature-extraction'
  | 'sentence-similarity';
export type Backend = 'llama-cpp' | 'transformers' | 'diffusers';
export type ModelStatus = 'available' | 'downloading' | 'local' | 'error' | 'remote';
export type ModelFormat = 'gguf' | 'safetensors' | 'diffusers' | 'pytorch';
export type SortKey = 'downloads' | 'size' | 'name' | 'likes' | 'recent';
export type JobStateName = Schemas['JobState'];

/**
 * `{"error": {...}}` body of a failed request, and a failed job's `error`; the front end makes its
 * own for failures that never reached the server (a lost connection), without details.
 */
export type ErrorInfo = Pick<Schemas['ErrorInfo'], 'type' | 'message'> & {
  details?: Schemas['ErrorInfo']['details'] | null;
  resolution_steps?: Schemas['ErrorInfo']['resolution_steps'] | null;
};

export type Quantization = Schemas['Quantization'];

export type ModelInfo = Schemas['ModelInfo'];

export type SearchResult = Schemas['SearchResult'];

export type SearchQuery = Query<'library.search'>;

export type FitVerdict = Schemas['FitResult']['verdict'];

export type FitResult = Schemas['FitResult'];

export type DeleteResult = Schemas['DeleteResult'];

/** `library.page`: a model's page (card, metadata, files, revisions, gating, fits). */
export type ModelPageData = Schemas['ModelPage'];

export type PageQuantization = Schemas['PageQuantization'];

export type EvalResult = Schemas['EvalResult'];

export type VerifyResult = Schemas['VerifyResult'];

export type Progress = Schemas['Progress'];

export type Job = Schemas['Job'];

export type StartDownload = Body<'downloads.start'>;

export type GpuProcess = Schemas['GpuProcess'];

export type GpuStats = Schemas['GpuStats'];

export interface DiskInfo {
  path?: string;
  mountpoint?: string;
  total: number;
  used: number;
  free: number;
  percent?: number;
  [key: string]: unknown;
}

/** `disks` are psutil's usage dicts, which the document leaves open. */
export type SystemSnapshot = Omit<Schemas['SystemSnapshot'], 'disks'> & { disks: DiskInfo[] };

export type BackendInfo = Schemas['BackendInfo'];

export type SettingsResult = Schemas['Settings'];

/** `system.versions`: OS, Python, packages (null: not installed), torch's CUDA/cuDNN, the driver, llama.cpp. */
export type SystemVersions = Schemas['Versions'];

export type SettingsUpdate = Body<'settings.update'>;

/* ---- chat (engine/chat: ChatService, ChatStats, SamplingParams, LoadOptions) ---- */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A function call an answer made (OpenAI's `tool_calls[]` item; `arguments` is JSON text). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A message as the OpenAI wire format has it (an assistant's `content` is null beside tool calls). */
export interface ChatMessage {
  role: ChatRole;
  content: string | null;
  /** An assistant message's function calls. */
  tool_calls?: ToolCall[];
  /** A `tool` message: the call it answers. */
  tool_call_id?: string;
}

/** A tool the model may call (OpenAI's `tools[]` item). */
export interface ToolDefinition {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export type ToolChoice =
  'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean };
    };

/** What a request carries beside sampling: tools, tool_choice and response_format (all optional). */
export interface ChatRequestExtras {
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  response_format?: ResponseFormat;
}

/** `streamChat`'s options beyond sampling. */
export interface ChatStreamOptions {
  extras?: ChatRequestExtras;
  /** The answer's tool calls so far, each time a `tool_calls` delta arrives. */
  onToolCalls?: (calls: ToolCall[]) => void;
}

/**
 * One entry of `chat.models`: a chat model this machine can load; the chat panel's fallback
 * (the library's local models) fills only `id` and `backends`. The server never sends `local`.
 */
export type ChatModel = Pick<Schemas['ChatModel'], 'id' | 'backends'> &
  Partial<Schemas['ChatModel']> & { local?: boolean };

/** One entry of `chat.loaded`: a model held in memory. */
export type LoadedModel = Schemas['LoadedModel'];

/** The operation that frees a memory holder (chat.unload, video.unload, training.cancel). */
export type UnloadAction = Schemas['UnloadAction'];
/** One holder's bytes on one device (`memory.holders`, and a ResourceError's `details.holders`). */
export type MemoryHolder = Schemas['MemoryHolder'];
/** `memory.holders`: each device's room and every holder. */
export type MemoryHolders = Schemas['MemoryHolders'];
/** `host.status`: the model host (up, down, crashed), its models and pipelines, and this engine's mode. */
export type HostStatus = Schemas['HostStatus'];
export type HostModel = Schemas['HostModel'];
export type HostCrash = Schemas['HostCrash'];
export type HostStop = Schemas['HostStop'];
export type HostLogs = Schemas['HostLogs'];
/** The `details` of a ResourceError from the arbiter: a load that does not fit, and who holds the memory. */
export type MemoryRefusal = Schemas['MemoryRefusal'];

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
  /** The function calls of the answer (finish_reason `tool_calls`). */
  tool_calls?: ToolCall[];
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
  /** cpu, all, a GPU index or GPU indices ("0,1"); default GPU 0, else the CPU. */
  devices?: string | null;
  /** Processes (one per GPU); more than one runs under torchrun. */
  num_processes?: number | null;
  strategy?: 'ddp' | 'fsdp' | 'deepspeed' | null;
}

/** Where an exported run goes (`training.export`): the multi-node answers and SLURM values. */
export interface ClusterAnswers {
  nnodes?: number | null;
  node_rank?: number | null;
  master_addr?: string | null;
  master_port?: number | null;
  partition?: string | null;
  time_limit?: string | null;
  out_dir?: string | null;
  include_zip?: boolean;
}

/** `training.export`: the launch command, the bundle's files, where it was written. */
export type TrainingExport = Schemas['TrainingExport'];

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
export type TrainingEstimate = Schemas['TrainingEstimate'];

/** One entry of `datasets.list`. */
export type DatasetInfo = Schemas['DatasetInfo'];

/* ---- video (engine/video_plan: VideoProfile, Plan; engine/video: VideoService) ---- */

export type VideoOffload = 'auto' | 'none' | 'model' | 'sequential' | 'cpu';
export type VideoMediaKind = 'video' | 'thumbnail';

/** `video.model`: whether a model is ready here (downloaded, verified, fits, loaded). */
export type VideoReadiness = Schemas['VideoReadiness'];

export type VideoRules = Schemas['VideoRules'];

export type VideoDefaults = Schemas['VideoDefaults'];

export type VideoPreset = Schemas['VideoPreset'];

/** One entry of `video.models`. */
export type VideoModel = Schemas['VideoModel'];

/** `video.plan` parameters (everything but `model` takes the model's defaults). */
export type VideoPlanRequest = Body<'video.plan'>;

/** `video.generate` parameters. */
export type VideoRequest = Body<'video.generate'>;

export type VideoStrategy = Schemas['VideoStrategy'];

/** `video.plan`: where and how a generation would run, and its memory peak. */
export type VideoPlan = Schemas['VideoPlan'];

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

export type VideoDeleteResult = Schemas['VideoDeleted'];

export type VideoPipeline = Schemas['VideoPipeline'];
export type VideoDevice = Schemas['VideoDevice'];

export type VideoUnloadResult = Schemas['VideoUnload'];

/** `video.media` (for widgets, which cannot reach the file routes). */
export type VideoMedia = Schemas['VideoMedia'];

/* ---- settings and integrations, the job center ---- */

/** `auth.status` / `auth.login` / `auth.logout`: the Hugging Face login (the token only masked). */
export type AuthStatus = Schemas['AuthStatus'];

/** `endpoints.*`: a remote OpenAI-compatible serving engine (its key never shown, only `has_key`). */
export type Endpoint = Schemas['Endpoint'];
/** `endpoints.test`: ok with its models, down (NetworkError) or unauthorized (a wrong key). */
export type EndpointHealth = Schemas['EndpointHealth'];

/** What `endpoints.add` / `endpoints.update` take (`api_key: ''` removes the key on update). */
export interface EndpointRequest {
  name: string;
  base_url?: string;
  api_key?: string;
  headers?: Record<string, string>;
  timeout?: number;
  concurrency?: number;
}

/** `capabilities`: models per task and per format, local and available. */
export type Capabilities = Schemas['Capabilities'];

export type BackendStats = Schemas['BackendStats'];

/** `jobs.list` filters (every one optional). */
export interface JobQuery {
  kind?: string | null;
  state?: JobStateName | null;
  q?: string | null;
  limit?: number | null;
}

export type JobDeleted = Schemas['JobDeleted'];

/** `jobs.cleanup` request. */
export interface JobCleanupRequest {
  older_than_days: number;
  kinds?: string[] | null;
  dry_run?: boolean;
  delete_files?: boolean;
}

export type JobCleanup = Schemas['JobCleanup'];
/* ---- conversations (core/conversations: ConversationStore) ---- */

export type Conversation = Schemas['Conversation'];
export type ConversationMessage = Schemas['ConversationMessage'];
export type ConversationSummary = Schemas['ConversationSummary'];
export type ConversationList = Schemas['ConversationList'];
export type ConversationAppend = Schemas['ConversationAppend'];
export type ConversationExport = Schemas['ConversationExport'];
export type ConversationDeleted = Schemas['ConversationDeleted'];

/** A message to save (`conversations.append`); ids, parents and lanes are the store's. */
export interface NewMessage {
  role: ChatRole;
  content: string;
  tool_calls?: ToolCall[] | null;
  tool_call_id?: string | null;
  model?: string | null;
  stats?: ChatStats | null;
  finish_reason?: string | null;
}

/** What a conversation is created or updated with (all optional). */
export interface ConversationMeta {
  title?: string | null;
  models?: string[] | null;
  system_prompt?: string | null;
  sampling?: Record<string, unknown> | null;
}

/** `library.import`: a path (relative to the server root over REST), an optional name, copy or not. */
export interface ImportRequest {
  path: string;
  name?: string | null;
  copy?: boolean;
}

/** `library.import_url`: an HTTPS URL of a .gguf, its sha256 (verifies it), an optional name. */
export interface ImportUrlRequest {
  url: string;
  sha256?: string | null;
  name?: string | null;
}

/** One entry of a server folder (Jupyter's contents API). */
export interface FolderEntry {
  name: string;
  path: string;
  type: 'directory' | 'file' | 'notebook';
}

// Disk use and energy (api.py's disk.* and energy.*).
export type DiskReport = Schemas['DiskReport'];
export type DiskStore = Schemas['DiskStore'];
export type Duplicate = Schemas['Duplicate'];
export type DiskFreed = Schemas['DiskFreed'];
export type DiskFreeWhat = DiskFreed['what'];
export type EnergySummary = Schemas['EnergySummary'];
export type EnergyGroup = Schemas['EnergyGroup'];
export type EnergyRow = Schemas['EnergyRow'];
export type EnergyExport = Schemas['EnergyExport'];
/** A period of energy rows: UTC days, YYYY-MM-DD (inclusive); absent: unbounded. */
export interface EnergyPeriod {
  since?: string | null;
  until?: string | null;
}
