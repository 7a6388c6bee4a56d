/**
 * The one interface the UI components talk to. Two implementations: `RestSource` (the JupyterLab
 * sidebar, over `/model-studio/api`) and `WidgetSource` (notebook widgets, over the anywidget comm).
 * Method names map one to one onto the operations in `model_studio/api.py` (see `OPERATION`).
 */
import type {
  AuthStatus,
  BackendInfo,
  Capabilities,
  JobCleanup,
  JobCleanupRequest,
  JobDeleted,
  JobQuery,
  ChatMessage,
  ChatModel,
  ChatStream,
  ChatStreamOptions,
  Endpoint,
  EndpointHealth,
  EndpointRequest,
  LoadedModel,
  LoadOptions,
  MemoryHolders,
  HostLogs,
  HostStatus,
  HostStop,
  SamplingOptions,
  DeleteResult,
  ErrorInfo,
  FitResult,
  Job,
  JobStateName,
  ModelInfo,
  ModelPageData,
  SearchQuery,
  SearchResult,
  SettingsResult,
  SettingsUpdate,
  StartDownload,
  SystemSnapshot,
  SystemVersions,
  UnloadAction,
  DatasetInfo,
  ClusterAnswers,
  TrainingConfig,
  TrainingEstimate,
  TrainingExport,
  TrainingMetric,
  VideoDeleteResult,
  VideoMedia,
  VideoMediaKind,
  VideoModel,
  VideoPipeline,
  VideoDevice,
  VideoPlan,
  VideoPlanRequest,
  VideoReadiness,
  VideoRequest,
  VideoUnloadResult,
  VerifyResult,
  Conversation,
  ConversationAppend,
  ConversationDeleted,
  ConversationExport,
  ConversationList,
  ConversationMeta,
  NewMessage,
  FolderEntry,
  ImportRequest,
  ImportUrlRequest,
  DiskFreed,
  DiskFreeWhat,
  DiskReport,
  EnergyExport,
  EnergyPeriod,
  EnergyRow,
  EnergySummary
} from './types';

import type { EventFilter } from './events';

export type { EventFilter } from './events';
export type Unsubscribe = () => void;

export interface DataSource {
  searchModels(query: SearchQuery): Promise<SearchResult>;
  localModels(): Promise<ModelInfo[]>;
  modelInfo(model: string, variant?: string | null, revision?: string | null): Promise<ModelInfo>;
  fit(model: string, quantization?: string | null, context?: number | null): Promise<FitResult>;
  /** A model's page (`library.page`): card, metadata, files, revisions, gating, fits. */
  modelPage(model: string, variant?: string | null): Promise<ModelPageData>;
  /** Re-check a local model's files against the Hub's checksums (`library.verify`). */
  verifyModel(model: string): Promise<VerifyResult>;
  /** Verify as a job with bytes and files done (`library.verify_start`); its result is a VerifyResult. */
  startVerify(model: string): Promise<Job>;
  /** With `dryRun`, only reports the bytes that would be freed. */
  deleteModel(model: string, dryRun?: boolean): Promise<DeleteResult>;
  /** A .gguf file or a safetensors folder by path as `local/<name>`, in place unless `copy` (`library.import`). */
  importModel(request: ImportRequest): Promise<ModelInfo>;
  /** A .gguf by HTTPS URL: a job, verified when `sha256` is given (`library.import_url`). */
  importUrl(request: ImportUrlRequest): Promise<Job>;
  /**
   * The entries of a server folder (Jupyter's contents API, relative to its root), for the import
   * path box's completion; absent where there is no contents API (a notebook widget).
   */
  listFolder?(path: string): Promise<FolderEntry[]>;
  startDownload(request: StartDownload): Promise<Job>;
  listDownloads(state?: JobStateName | null, limit?: number | null): Promise<Job[]>;
  cancelDownload(jobId: string, discard?: boolean): Promise<Job>;
  pauseDownload(jobId: string): Promise<Job>;
  resumeDownload(jobId: string): Promise<Job>;
  system(): Promise<SystemSnapshot>;
  /** OS, Python, CUDA, cuDNN, the NVIDIA driver, llama.cpp and library versions (`system.versions`). */
  versions(): Promise<SystemVersions>;
  backends(): Promise<BackendInfo[]>;
  getSettings(): Promise<SettingsResult>;
  updateSettings(changes: SettingsUpdate): Promise<SettingsResult>;
  /** Read settings.json again after an edit by hand (`settings.reload`): valid keys applied, bad ones listed. */
  reloadSettings(): Promise<SettingsResult>;
  /**
   * Live job and system updates; returns a function that stops them. `filter` narrows them (the
   * REST source asks the server for only what its subscribers want; see `events.ts`).
   */
  subscribe(
    onJob: (job: Job) => void,
    onSystem?: (snapshot: SystemSnapshot) => void,
    filter?: EventFilter
  ): Unsubscribe;
  /** Chat models this machine can load (`chat.models`). */
  chatModels(): Promise<ChatModel[]>;
  /** Models held in memory (`chat.loaded`). */
  loadedModels(): Promise<LoadedModel[]>;
  loadModel(model: string, options?: LoadOptions): Promise<unknown>;
  unloadModel(model: string): Promise<unknown>;
  /** Who holds RAM and GPU memory (`memory.holders`). */
  memoryHolders(): Promise<MemoryHolders>;
  /** Free a holder a ResourceError (or `memoryHolders`) names, through its `unload` action. */
  freeHolder(action: UnloadAction): Promise<unknown>;
  /** The model host: state, pid, restarts, last crash, its models and pipelines (`host.status`). */
  hostStatus(): Promise<HostStatus>;
  /** Stop the model host (`host.stop`). */
  hostStop(): Promise<HostStop>;
  /** The model host's log, last `lines` lines (`host.logs`). */
  hostLogs(lines?: number): Promise<HostLogs>;
  /** Bytes per model store, duplicates across stores, what could be freed (`disk.usage`). */
  diskUsage(): Promise<DiskReport>;
  /** Delete what the studio owns: a duplicate copy at `path`, or a whole category (`disk.free`). */
  diskFree(what: DiskFreeWhat, path?: string | null): Promise<DiskFreed>;
  /** Wh and gCO2e over a period, per kind, model and day (`energy.summary`). */
  energySummary(period?: EnergyPeriod): Promise<EnergySummary>;
  /** One job's energy, or null when none was recorded (`energy.job`). */
  energyJob(jobId: string): Promise<EnergyRow | null>;
  /** Every energy row of a period as a CSV file (`energy.export`). */
  energyExport(period?: EnergyPeriod): Promise<EnergyExport>;
  /**
   * Stream an answer: `onChunk` hears each piece of text as it is generated; `options` adds
   * tools, tool_choice and response_format (only where `openaiBaseUrl` is set) and hears tool calls.
   */
  streamChat(
    model: string,
    messages: ChatMessage[],
    sampling: SamplingOptions,
    onChunk: (text: string, tokens: number) => void,
    options?: ChatStreamOptions
  ): ChatStream;
  /**
   * The OpenAI-compatible base URL the chat streams from (`<server>/model-studio/v1`), when the
   * source speaks it (the lab's REST source): tools, JSON mode and "copy as code" for the
   * `openai` client need it. Unset for a notebook widget (its kernel's engine answers).
   */
  readonly openaiBaseUrl?: string;
  /** Training runs (jobs of kind "train"), newest first (`training.runs`). */
  trainingRuns(): Promise<Job[]>;
  /** Metrics of a run after `sinceStep` (`training.metrics`). */
  trainingMetrics(jobId: string, sinceStep?: number): Promise<TrainingMetric[]>;
  /** The last `tail` lines of a run's log (`training.logs`). */
  trainingLogs(jobId: string, tail?: number): Promise<string>;
  startTraining(base: string, dataset: string, config: TrainingConfig): Promise<Job>;
  estimateTraining(
    base: string,
    dataset: string,
    config: TrainingConfig
  ): Promise<TrainingEstimate>;
  /** The run config as a bundle for a cluster (`training.export`): torchrun command, SLURM script, files. */
  exportTraining(
    base: string,
    dataset: string,
    config: TrainingConfig,
    cluster: ClusterAnswers
  ): Promise<TrainingExport>;
  cancelTraining(jobId: string): Promise<Job>;
  resumeTraining(jobId: string): Promise<Job>;
  mergeTraining(jobId: string): Promise<unknown>;
  /** Datasets known to the studio (`datasets.list`). */
  datasets(): Promise<DatasetInfo[]>;
  /** Import a dataset from its text content (`datasets.upload`). */
  uploadDataset(filename: string, content: string, name?: string | null): Promise<DatasetInfo>;
  /** Video models the studio knows, local or downloadable (`video.models`). */
  videoModels(): Promise<VideoModel[]>;
  /** Whether a video model is ready here: downloaded, verified, fits, loaded (`video.model`). */
  videoModel(model: string): Promise<VideoReadiness>;
  /** Where and how a generation would run, and its memory peak (`video.plan`). */
  videoPlan(request: VideoPlanRequest): Promise<VideoPlan>;
  /** Queue a generation (`video.generate`): a job of kind "video". */
  generateVideo(request: VideoRequest): Promise<Job>;
  /** Generations, newest first (`video.list`). */
  videoGenerations(state?: JobStateName | null, limit?: number | null): Promise<Job[]>;
  /** One generation (`video.get`). */
  videoGeneration(jobId: string): Promise<Job>;
  cancelVideo(jobId: string): Promise<Job>;
  /** Run a stopped or failed generation again, same parameters and seed (`video.resume`). */
  resumeVideo(jobId: string): Promise<Job>;
  /** Delete a generation and its files (`video.delete`). */
  deleteVideo(jobId: string): Promise<VideoDeleteResult>;
  /**
   * A URL a `<video>`/`<img>` can load for a completed generation: the server's file route
   * (RestSource) or an object URL of the bytes from `video.media` (WidgetSource).
   */
  videoUrl(job: Job | string, what?: VideoMediaKind): Promise<string>;
  /** A generation's file as base64 (`video.media`); "image" is an image-to-video input. */
  videoMedia(jobId: string, what: VideoMediaKind | 'image' | 'last_image'): Promise<VideoMedia>;
  /** Video pipelines held in memory, one per device at most (`video.loaded`). */
  videoLoaded(): Promise<VideoPipeline[]>;
  /** Devices a generation may pick: auto, each GPU with its free memory, the CPU (`video.devices`). */
  videoDevices(): Promise<VideoDevice[]>;
  /** Free the pipeline held on `device`, or on every device (`video.unload`; refused while it generates). */
  unloadVideo(device?: string): Promise<VideoUnloadResult>;
  /** Batch jobs (kind "batch"), newest first (`batch.list`). */
  batches(state?: JobStateName | null, limit?: number | null): Promise<Job[]>;
  /** Stop a batch; the answers so far are kept (`batch.cancel`). */
  cancelBatch(jobId: string): Promise<Job>;
  /** Continue a stopped batch with its unanswered prompts only (`batch.resume`). */
  resumeBatch(jobId: string): Promise<Job>;
  /** The Hugging Face login (`auth.status`); `check` asks the Hub's whoami. */
  authStatus(check?: boolean): Promise<AuthStatus>;
  /** Check a token with whoami and save it (`auth.login`); the answer shows it masked. */
  login(token: string): Promise<AuthStatus>;
  /** Delete the saved token (`auth.logout`). */
  logout(): Promise<AuthStatus>;
  /** Models per task and format, local and available (`capabilities`). */
  capabilities(): Promise<Capabilities>;
  /** Jobs of every kind, newest first (`jobs.list`). */
  listJobs(query?: JobQuery): Promise<Job[]>;
  /** Stop a job of any kind (`jobs.cancel`). */
  cancelJob(jobId: string): Promise<Job>;
  /** Resume or retry a stopped or failed job with the same parameters (`jobs.resume`). */
  resumeJob(jobId: string): Promise<Job>;
  /** Delete a finished job (`jobs.delete`). */
  deleteJob(jobId: string, deleteFiles?: boolean): Promise<JobDeleted>;
  /** Delete finished jobs older than N days (`jobs.cleanup`). */
  cleanupJobs(request: JobCleanupRequest): Promise<JobCleanup>;
  /** Remote serving endpoints (`endpoints.list`); `check` adds each one's health. */
  endpoints(check?: boolean): Promise<Endpoint[]>;
  /** Register a remote endpoint (`endpoints.add`). */
  addEndpoint(request: EndpointRequest): Promise<Endpoint>;
  /** Change a remote endpoint (`endpoints.update`). */
  updateEndpoint(request: EndpointRequest): Promise<Endpoint>;
  /** Forget a remote endpoint and its key (`endpoints.remove`). */
  removeEndpoint(name: string): Promise<{ removed: string }>;
  /** Ask an endpoint for its models (`endpoints.test`). */
  testEndpoint(name: string): Promise<EndpointHealth>;
  /** Saved conversations, newest first; `q` searches titles and text (`conversations.list`). */
  listConversations(q?: string, limit?: number, offset?: number): Promise<ConversationList>;
  createConversation(meta: ConversationMeta): Promise<Conversation>;
  /** One conversation with the branch shown in each lane (`conversations.get`). */
  getConversation(id: string): Promise<Conversation>;
  updateConversation(id: string, meta: ConversationMeta): Promise<Conversation>;
  renameConversation(id: string, title: string): Promise<Conversation>;
  deleteConversation(id: string): Promise<ConversationDeleted>;
  /** Save messages (a chain) after `parentId`, or after the lane's last message. */
  appendMessages(
    id: string,
    messages: NewMessage[],
    parentId?: string | null,
    lane?: number
  ): Promise<ConversationAppend>;
  /** Edit a message as a new branch (`conversations.branch`); the old branch is kept. */
  branchConversation(id: string, messageId: string, content: string): Promise<Conversation>;
  /** Show the branch through `messageId` (`conversations.select`). */
  selectBranch(id: string, messageId: string): Promise<Conversation>;
  exportConversation(id: string, format: 'json' | 'markdown'): Promise<ConversationExport>;
  /** Import a conversation file: its parsed JSON or its text (`conversations.import`). */
  importConversation(file: unknown): Promise<Conversation>;
}

/** A job from an operation result that may be the job itself or `{job: ...}`. */
export function asJob(result: unknown): Job {
  if (result && typeof result === 'object' && 'job' in (result as Record<string, unknown>)) {
    const inner = (result as Record<string, unknown>).job;
    if (inner && typeof inner === 'object') {
      return inner as Job;
    }
  }
  return result as Job;
}

/** Log text from `training.logs`: a string, or `{logs|text|log|lines}`. */
export function asText(result: unknown): string {
  if (typeof result === 'string') {
    return result;
  }
  if (result && typeof result === 'object') {
    for (const key of ['logs', 'text', 'log', 'lines', 'tail']) {
      const value = (result as Record<string, unknown>)[key];
      if (typeof value === 'string') {
        return value;
      }
      if (Array.isArray(value)) {
        return value.join('\n');
      }
    }
  }
  return '';
}

/** The first object with a `name` (a dataset) in an operation result. */
export function asDataset(result: unknown): DatasetInfo {
  if (result && typeof result === 'object' && !('name' in (result as object))) {
    const inner = (result as Record<string, unknown>).dataset;
    if (inner && typeof inner === 'object') {
      return inner as DatasetInfo;
    }
  }
  return result as DatasetInfo;
}

/** `chat.models` / `chat.loaded` results may be a list or `{models|loaded: [...]}`. */
export function asList<T>(result: unknown, ...keys: string[]): T[] {
  if (Array.isArray(result)) {
    return result as T[];
  }
  if (result && typeof result === 'object') {
    for (const key of [...keys, 'models', 'loaded', 'items']) {
      const value = (result as Record<string, unknown>)[key];
      if (Array.isArray(value)) {
        return value as T[];
      }
    }
  }
  return [];
}

/** Operation names of `model_studio.api.OPERATIONS` used by the data sources. */
export const OPERATION = {
  search: 'library.search',
  local: 'library.local',
  info: 'library.info',
  fit: 'library.fit',
  page: 'library.page',
  verify: 'library.verify',
  verifyStart: 'library.verify_start',
  delete: 'library.delete',
  importModel: 'library.import',
  importUrl: 'library.import_url',
  backends: 'library.backends',
  startDownload: 'downloads.start',
  listDownloads: 'downloads.list',
  cancel: 'downloads.cancel',
  pause: 'downloads.pause',
  resume: 'downloads.resume',
  getSettings: 'settings.get',
  updateSettings: 'settings.update',
  reloadSettings: 'settings.reload',
  system: 'system.snapshot',
  versions: 'system.versions',
  memoryHolders: 'memory.holders',
  hostStatus: 'host.status',
  hostStop: 'host.stop',
  hostLogs: 'host.logs',
  diskUsage: 'disk.usage',
  diskFree: 'disk.free',
  energySummary: 'energy.summary',
  energyJobs: 'energy.jobs',
  energyJob: 'energy.job',
  energyExport: 'energy.export',
  chatModels: 'chat.models',
  chatLoaded: 'chat.loaded',
  chatLoad: 'chat.load',
  chatUnload: 'chat.unload',
  chatStream: 'chat.stream',
  chatStop: 'chat.stop',
  trainingStart: 'training.start',
  trainingRuns: 'training.runs',
  trainingGet: 'training.get',
  trainingMetrics: 'training.metrics',
  trainingLogs: 'training.logs',
  trainingCancel: 'training.cancel',
  trainingResume: 'training.resume',
  trainingMerge: 'training.merge',
  trainingEstimate: 'training.estimate',
  trainingExport: 'training.export',
  datasetsList: 'datasets.list',
  datasetsUpload: 'datasets.upload',
  videoModels: 'video.models',
  videoModel: 'video.model',
  videoPlan: 'video.plan',
  videoGenerate: 'video.generate',
  videoList: 'video.list',
  videoGet: 'video.get',
  videoCancel: 'video.cancel',
  videoResume: 'video.resume',
  videoDelete: 'video.delete',
  videoMedia: 'video.media',
  videoLoaded: 'video.loaded',
  videoDevices: 'video.devices',
  videoUnload: 'video.unload',
  batchList: 'batch.list',
  batchCancel: 'batch.cancel',
  batchResume: 'batch.resume',
  authStatus: 'auth.status',
  authLogin: 'auth.login',
  authLogout: 'auth.logout',
  capabilities: 'capabilities',
  jobsList: 'jobs.list',
  jobsCancel: 'jobs.cancel',
  jobsResume: 'jobs.resume',
  jobsDelete: 'jobs.delete',
  jobsCleanup: 'jobs.cleanup',
  endpointsList: 'endpoints.list',
  endpointsAdd: 'endpoints.add',
  endpointsUpdate: 'endpoints.update',
  endpointsRemove: 'endpoints.remove',
  endpointsTest: 'endpoints.test',
  conversationsList: 'conversations.list',
  conversationsCreate: 'conversations.create',
  conversationsGet: 'conversations.get',
  conversationsUpdate: 'conversations.update',
  conversationsRename: 'conversations.rename',
  conversationsDelete: 'conversations.delete',
  conversationsAppend: 'conversations.append',
  conversationsBranch: 'conversations.branch',
  conversationsSelect: 'conversations.select',
  conversationsExport: 'conversations.export',
  conversationsImport: 'conversations.import'
} as const;

/** A failed operation, carrying the server's typed error (`{"error": {...}}`). */
export class StudioApiError extends Error implements ErrorInfo {
  readonly type: string;
  readonly details: Record<string, unknown> | null;
  readonly resolution_steps: string[];
  /** HTTP status for REST errors; `null` for widget errors. */
  readonly status: number | null;

  constructor(info: ErrorInfo, status: number | null = null) {
    super(info.message);
    this.name = 'StudioApiError';
    this.type = info.type || 'StudioError';
    this.details = info.details ?? null;
    this.resolution_steps = info.resolution_steps ?? [];
    this.status = status;
  }

  static from(err: unknown): StudioApiError {
    if (err instanceof StudioApiError) {
      return err;
    }
    const message = err instanceof Error ? err.message : String(err);
    return new StudioApiError({ type: 'Error', message });
  }
}

/** Drop `null`/`undefined` values so optional parameters take the server's defaults. */
export function compact<T extends Record<string, unknown>>(params: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') {
      (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}
