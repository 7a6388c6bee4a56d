/**
 * `WidgetSource`: the notebook widgets' data source over an anywidget model.
 *
 * Protocol (custom messages, JSON, `{id, kind}` envelope):
 *   front end -> kernel  {id, kind: "call", method: "<operation name>", params: {...}}
 *   kernel -> front end  {id, kind: "result", result}            (answers the call with that id)
 *                        {id, kind: "error", error: {type, message, details, resolution_steps}}
 *                        {kind: "event", type: "job" | "system", data}   (pushed, no id)
 * Operation names and parameter names are exactly those of `model_studio.api.OPERATIONS`.
 */
import { OperationCalls } from './calls';
import { jobMatches, type EventFilter } from './events';
import { compact, DataSource, OPERATION, StudioApiError, Unsubscribe } from './source';
import type {
  BackendInfo,
  ChatChunkEvent,
  ChatMessage,
  ChatStreamOptions,
  ChatResult,
  ChatStream,
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
  VideoDeleteResult,
  VideoMediaKind,
  VerifyResult
} from './types';

/** The part of anywidget's `AnyModel` this module uses. */
export interface AnyModelLike {
  get(name: string): unknown;
  send(content: unknown, callbacks?: unknown, buffers?: unknown[]): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event?: string | null, callback?: ((...args: any[]) => void) | null): void;
}

type Message =
  | { id: string; kind: 'result'; result: unknown }
  | { id: string; kind: 'error'; error: ErrorInfo }
  | { kind: 'event'; type: 'job' | 'system' | string; data: unknown };

interface Pending {
  resolve: (value: any) => void;
  reject: (error: StudioApiError) => void;
}

let counter = 0;
function nextId(): string {
  counter += 1;
  return `${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export class WidgetSource extends OperationCalls implements DataSource {
  private readonly pending = new Map<string, Pending>();
  private readonly jobListeners = new Set<(job: Job) => void>();
  private readonly systemListeners = new Set<(snapshot: SystemSnapshot) => void>();
  private readonly chunkListeners = new Map<string, (text: string, tokens: number) => void>();
  private readonly onMessage = (msg: Message): void => this.handle(msg);
  /** Object URLs of generations' media, per `<job id>/<what>` (revoked on dispose). */
  private readonly mediaUrls = new Map<string, Promise<string>>();

  constructor(readonly model: AnyModelLike) {
    super();
    model.on('msg:custom', this.onMessage);
  }

  /** Stop listening to the model and reject calls still waiting for an answer. */
  dispose(): void {
    this.model.off('msg:custom', this.onMessage);
    for (const [, pending] of this.pending) {
      pending.reject(
        new StudioApiError({ type: 'CancelledError', message: 'The widget was closed' })
      );
    }
    this.pending.clear();
    for (const [, url] of this.mediaUrls) {
      url.then(
        u => URL.revokeObjectURL(u),
        () => undefined
      );
    }
    this.mediaUrls.clear();
    this.chunkListeners.clear();
    this.jobListeners.clear();
    this.systemListeners.clear();
  }

  /** Run one operation of `model_studio.api` in the kernel. */
  protected invoke<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.call<T>(method, params);
  }

  call<T>(method: string, params: Record<string, unknown> = {}, id: string = nextId()): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.model.send({ id, kind: 'call', method, params: compact(params) });
      } catch (error) {
        this.pending.delete(id);
        reject(StudioApiError.from(error));
      }
    });
  }

  private handle(msg: Message): void {
    if (!msg || typeof msg !== 'object') {
      return;
    }
    if (msg.kind === 'event') {
      if (msg.type === 'job') {
        this.jobListeners.forEach(fn => fn(msg.data as Job));
      } else if (msg.type === 'chat.chunk') {
        const data = msg.data as ChatChunkEvent;
        this.chunkListeners.get(data?.request_id)?.(data.text ?? '', data.tokens ?? 0);
      } else if (msg.type === 'system') {
        this.systemListeners.forEach(fn => fn(msg.data as SystemSnapshot));
      }
      return;
    }
    const pending = 'id' in msg ? this.pending.get(msg.id) : undefined;
    if (!pending) {
      return;
    }
    this.pending.delete(msg.id);
    if (msg.kind === 'result') {
      pending.resolve(msg.result);
    } else if (msg.kind === 'error') {
      pending.reject(new StudioApiError(msg.error ?? { type: 'Error', message: 'Unknown error' }));
    }
  }

  searchModels(query: SearchQuery): Promise<SearchResult> {
    return this.call(OPERATION.search, { ...query });
  }

  async localModels(): Promise<ModelInfo[]> {
    return (await this.call<{ models: ModelInfo[] }>(OPERATION.local)).models;
  }

  modelInfo(model: string, variant?: string | null, revision?: string | null): Promise<ModelInfo> {
    return this.call(OPERATION.info, { model, variant, revision });
  }

  fit(model: string, quantization?: string | null, context?: number | null): Promise<FitResult> {
    return this.call(OPERATION.fit, { model, quantization, context });
  }

  modelPage(model: string, variant?: string | null): Promise<ModelPageData> {
    return this.call(OPERATION.page, { model, variant });
  }

  verifyModel(model: string): Promise<VerifyResult> {
    return this.call(OPERATION.verify, { model });
  }

  deleteModel(model: string, dryRun = false): Promise<DeleteResult> {
    return this.call(OPERATION.delete, { model, dry_run: dryRun });
  }

  startDownload(request: StartDownload): Promise<Job> {
    return this.call(OPERATION.startDownload, { ...request });
  }

  async listDownloads(state?: JobStateName | null, limit?: number | null): Promise<Job[]> {
    return (await this.call<{ downloads: Job[] }>(OPERATION.listDownloads, { state, limit }))
      .downloads;
  }

  cancelDownload(jobId: string, discard = false): Promise<Job> {
    return this.call(OPERATION.cancel, { job_id: jobId, discard });
  }

  pauseDownload(jobId: string): Promise<Job> {
    return this.call(OPERATION.pause, { job_id: jobId });
  }

  resumeDownload(jobId: string): Promise<Job> {
    return this.call(OPERATION.resume, { job_id: jobId });
  }

  system(): Promise<SystemSnapshot> {
    return this.call(OPERATION.system);
  }

  versions(): Promise<SystemVersions> {
    return this.call(OPERATION.versions);
  }

  async backends(): Promise<BackendInfo[]> {
    return (await this.call<{ backends: BackendInfo[] }>(OPERATION.backends)).backends;
  }

  getSettings(): Promise<SettingsResult> {
    return this.call(OPERATION.getSettings);
  }

  updateSettings(changes: SettingsUpdate): Promise<SettingsResult> {
    return this.call(OPERATION.updateSettings, changes as Record<string, unknown>);
  }

  /** `chat.stream` in the kernel; chunks arrive as `chat.chunk` events carrying this call's id. */
  streamChat(
    model: string,
    messages: ChatMessage[],
    sampling: SamplingOptions,
    onChunk: (text: string, tokens: number) => void,
    options?: ChatStreamOptions
  ): ChatStream {
    if (options?.extras && Object.keys(compact({ ...options.extras })).length) {
      // the kernel's chat.stream takes sampling only: refuse rather than drop tools or JSON mode
      const error = new StudioApiError({
        type: 'ValidationError',
        message: 'Tools and JSON mode need the lab Chat panel (the OpenAI-compatible route)'
      });
      return { promise: Promise.reject(error), stop: () => undefined };
    }
    const id = nextId();
    this.chunkListeners.set(id, onChunk);
    const promise = this.call<ChatResult>(
      OPERATION.chatStream,
      { ...compact({ ...sampling }), model, messages },
      id
    ).finally(() => this.chunkListeners.delete(id));
    const stop = (): void => {
      this.call(OPERATION.chatStop, { request_id: id }).catch(() => undefined);
    };
    return { promise, stop };
  }

  /** `video.media` in the kernel, decoded into a Blob: an object URL, cached per job and kind. */
  videoUrl(job: Job | string, what: VideoMediaKind = 'video'): Promise<string> {
    const id = typeof job === 'string' ? job : job.id;
    const key = `${id}/${what}`;
    let url = this.mediaUrls.get(key);
    if (!url) {
      url = this.videoMedia(id, what).then(media => {
        const binary = atob(media.base64 ?? '');
        const bytes = new Uint8Array(binary.length);
        for (let i = 0; i < binary.length; i++) {
          bytes[i] = binary.charCodeAt(i);
        }
        const fallback = what === 'thumbnail' ? 'image/jpeg' : 'video/mp4';
        return URL.createObjectURL(new Blob([bytes], { type: media.mime || fallback }));
      });
      this.mediaUrls.set(key, url);
      url.catch(() => {
        if (this.mediaUrls.get(key) === url) {
          this.mediaUrls.delete(key); // not ready yet, or gone: ask again next time
        }
      });
    }
    return url;
  }

  /** Forget (and revoke) the media URLs of a generation, e.g. after deleting it. */
  forgetVideo(jobId: string): void {
    for (const what of ['video', 'thumbnail'] as VideoMediaKind[]) {
      const key = `${jobId}/${what}`;
      this.mediaUrls.get(key)?.then(
        u => URL.revokeObjectURL(u),
        () => undefined
      );
      this.mediaUrls.delete(key);
    }
  }

  async deleteVideo(jobId: string): Promise<VideoDeleteResult> {
    const result = await super.deleteVideo(jobId);
    this.forgetVideo(jobId);
    return result;
  }

  /** The kernel pushes every event on the comm; a `filter` is applied here. */
  subscribe(
    onJob: (job: Job) => void,
    onSystem?: (snapshot: SystemSnapshot) => void,
    filter?: EventFilter
  ): Unsubscribe {
    const topics = filter?.topics;
    const jobListener = (job: Job): void => {
      if (jobMatches(filter, job)) {
        onJob(job);
      }
    };
    const listensJobs = !topics || topics.includes('jobs');
    const systemListener = onSystem && (!topics || topics.includes('system')) ? onSystem : null;
    if (listensJobs) {
      this.jobListeners.add(jobListener);
    }
    if (systemListener) {
      this.systemListeners.add(systemListener);
    }
    return () => {
      this.jobListeners.delete(jobListener);
      if (systemListener) {
        this.systemListeners.delete(systemListener);
      }
    };
  }
}
