/**
 * `RestSource`: the sidebar's data source over `/model-studio/api` (token and XSRF handled by
 * `ServerConnection`), with live updates from the `/events` Server-Sent Events stream, falling
 * back to polling when the stream cannot be opened.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { OperationCalls } from './calls';
import { compact, DataSource, StudioApiError, Unsubscribe } from './source';
import type {
  BackendInfo,
  ChatMessage,
  ChatResult,
  ChatStream,
  SamplingOptions,
  DeleteResult,
  ErrorInfo,
  FitResult,
  Job,
  JobStateName,
  ModelInfo,
  SearchQuery,
  SearchResult,
  SettingsResult,
  SettingsUpdate,
  StartDownload,
  SystemSnapshot,
  VideoMediaKind
} from './types';

export const API_PREFIX = 'model-studio/api';
export const OPENAI_PREFIX = 'model-studio/v1';
const POLL_MS = 2000;
const MAX_POLL_MS = 30000;

type Query = Record<string, string | number | boolean | null | undefined>;

/** The URL path of a model: `org/name` stays a path, each part encoded. */
export function modelPath(model: string): string {
  return model
    .split('/')
    .map(part => encodeURIComponent(part))
    .join('/');
}

function queryString(query?: Query): string {
  if (!query) {
    return '';
  }
  const parts = Object.entries(compact(query)).map(
    ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
  );
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * Call one REST route of the studio and return its JSON body. Failures become a
 * `StudioApiError` carrying the server's `{"error": {...}}` body.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit & { query?: Query } = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const { query, ...request } = init;
  // 'no-store' (the ServerConnection default) appends a bare `?<timestamp>` cache buster that
  // the API's strict parameter check would reject; 'no-cache' always revalidates instead.
  request.cache = request.cache ?? 'no-cache';
  const url = URLExt.join(settings.baseUrl, API_PREFIX, endPoint) + queryString(query);
  if (
    request.body !== undefined &&
    !(request.headers as Record<string, string>)?.['Content-Type']
  ) {
    request.headers = {
      ...(request.headers as Record<string, string>),
      'Content-Type': 'application/json'
    };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, request, settings);
  } catch (error) {
    throw new StudioApiError({
      type: 'NetworkError',
      message: `Cannot reach the Jupyter server: ${(error as Error).message ?? error}`,
      resolution_steps: ['Check that the Jupyter server is still running, then retry.']
    });
  }
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const body = data as { error?: ErrorInfo; message?: string } | string | null;
    if (body && typeof body === 'object' && body.error && typeof body.error === 'object') {
      throw new StudioApiError(body.error, response.status);
    }
    const message =
      (body && typeof body === 'object' && body.message) ||
      (typeof body === 'string' && body.length < 500 ? body : '') ||
      response.statusText ||
      `HTTP ${response.status}`;
    const hint =
      response.status === 404
        ? ['Is the model_studio server extension enabled? Run: jupyter server extension list']
        : [];
    throw new StudioApiError(
      {
        type: response.status === 404 ? 'NotFoundError' : 'ServerError',
        message,
        resolution_steps: hint
      },
      response.status
    );
  }
  return data as T;
}

export class RestSource extends OperationCalls implements DataSource {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    super();
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  private request<T>(endPoint: string, init: RequestInit & { query?: Query } = {}): Promise<T> {
    return requestAPI<T>(endPoint, init, this.settings);
  }

  private post<T>(
    endPoint: string,
    body: Record<string, unknown> = {},
    method = 'POST'
  ): Promise<T> {
    return this.request<T>(endPoint, { method, body: JSON.stringify(compact(body)) });
  }

  searchModels(query: SearchQuery): Promise<SearchResult> {
    return this.request('library', { query: query as Query });
  }

  async localModels(): Promise<ModelInfo[]> {
    return (await this.request<{ models: ModelInfo[] }>('library/local')).models;
  }

  modelInfo(model: string, variant?: string | null, revision?: string | null): Promise<ModelInfo> {
    return this.request(`models/${modelPath(model)}`, { query: { variant, revision } });
  }

  fit(model: string, quantization?: string | null, context?: number | null): Promise<FitResult> {
    return this.request(`models/${modelPath(model)}/fit`, { query: { quantization, context } });
  }

  deleteModel(model: string, dryRun = false): Promise<DeleteResult> {
    return this.request(`models/${modelPath(model)}`, {
      method: 'DELETE',
      query: { dry_run: dryRun }
    });
  }

  startDownload(request: StartDownload): Promise<Job> {
    return this.post('downloads', { ...request });
  }

  async listDownloads(state?: JobStateName | null, limit?: number | null): Promise<Job[]> {
    return (await this.request<{ downloads: Job[] }>('downloads', { query: { state, limit } }))
      .downloads;
  }

  cancelDownload(jobId: string, discard = false): Promise<Job> {
    return this.post(`downloads/${encodeURIComponent(jobId)}/cancel`, { discard });
  }

  pauseDownload(jobId: string): Promise<Job> {
    return this.post(`downloads/${encodeURIComponent(jobId)}/pause`);
  }

  resumeDownload(jobId: string): Promise<Job> {
    return this.post(`downloads/${encodeURIComponent(jobId)}/resume`);
  }

  system(): Promise<SystemSnapshot> {
    return this.request('system');
  }

  async backends(): Promise<BackendInfo[]> {
    return (await this.request<{ backends: BackendInfo[] }>('backends')).backends;
  }

  getSettings(): Promise<SettingsResult> {
    return this.request('settings');
  }

  updateSettings(changes: SettingsUpdate): Promise<SettingsResult> {
    return this.post('settings', changes as Record<string, unknown>, 'PATCH');
  }

  // Chat ---------------------------------------------------------------------------------------

  private routes: Promise<Map<string, { method: string; path: string }>> | null = null;

  /** Operation name -> REST route, read once from the server's OpenAPI document. */
  private routeOf(name: string): Promise<{ method: string; path: string }> {
    if (!this.routes) {
      this.routes = this.request<{
        paths: Record<string, Record<string, { operationId?: string }>>;
      }>('openapi.json').then(doc => {
        const map = new Map<string, { method: string; path: string }>();
        for (const [path, methods] of Object.entries(doc.paths ?? {})) {
          for (const [method, op] of Object.entries(methods ?? {})) {
            if (op && typeof op === 'object' && op.operationId) {
              map.set(op.operationId, { method: method.toUpperCase(), path });
            }
          }
        }
        return map;
      });
      this.routes.catch(() => {
        this.routes = null; // retry on the next call
      });
    }
    return this.routes.then(map => {
      const route = map.get(name);
      if (!route) {
        throw new StudioApiError({
          type: 'NotFoundError',
          message: `The server has no '${name}' operation`,
          resolution_steps: [
            'Update jupyter-model-studio in the server environment and restart it.'
          ]
        });
      }
      return route;
    });
  }

  /** Run one operation of `model_studio.api` by name (path parameters filled from `params`). */
  protected invoke<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.operation<T>(method, params);
  }

  async operation<T>(name: string, params: Record<string, unknown> = {}): Promise<T> {
    const route = await this.routeOf(name);
    const rest: Record<string, unknown> = { ...params };
    let path = route.path.replace(/^\//, '');
    path = path.replace(/\{(\w+)\}/g, (_m, key: string) => {
      const value = String(rest[key] ?? '');
      delete rest[key];
      return key === 'model' ? modelPath(value) : encodeURIComponent(value);
    });
    if (route.method === 'GET' || route.method === 'DELETE') {
      return this.request<T>(path, { method: route.method, query: rest as Query });
    }
    return this.post<T>(path, rest, route.method);
  }

  /**
   * `POST /model-studio/v1/chat/completions` with `stream: true`: Server-Sent Events read from
   * the response body; `stop()` aborts the request (the server stops generating).
   */
  streamChat(
    model: string,
    messages: ChatMessage[],
    sampling: SamplingOptions,
    onChunk: (text: string, tokens: number) => void
  ): ChatStream {
    const controller = new AbortController();
    const url = URLExt.join(this.settings.baseUrl, OPENAI_PREFIX, 'chat/completions');
    const body = {
      ...compact({ ...sampling, stop: sampling.stop?.length ? sampling.stop : null }),
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true }
    };
    const started = performance.now();
    let first: number | null = null;
    let tokens = 0;
    let text = '';
    let finish: string | null = null;
    let usage: Record<string, number> | null = null;
    let serverStats: Record<string, unknown> | null = null;

    const handleData = (data: string): void => {
      if (data === '[DONE]') {
        return;
      }
      let chunk: any;
      try {
        chunk = JSON.parse(data);
      } catch {
        return;
      }
      if (chunk?.error) {
        throw new StudioApiError(chunk.error);
      }
      const choice = chunk?.choices?.[0];
      const piece: string = choice?.delta?.content ?? '';
      if (piece) {
        if (first === null) {
          first = performance.now();
        }
        text += piece;
        tokens += 1;
        onChunk(piece, 1);
      }
      if (choice?.finish_reason) {
        finish = choice.finish_reason;
      }
      if (chunk?.usage) {
        usage = chunk.usage;
      }
      if (chunk?.stats || chunk?.x_stats) {
        serverStats = chunk.stats ?? chunk.x_stats;
      }
    };

    const result = (): ChatResult => {
      const end = performance.now();
      const completion = usage?.completion_tokens ?? tokens;
      const gen = first !== null ? (end - first) / 1000 : 0;
      const reason = controller.signal.aborted ? 'cancelled' : (finish ?? 'stop');
      const stats = {
        prompt_tokens: usage?.prompt_tokens ?? null,
        completion_tokens: completion,
        ttft: first !== null ? (first - started) / 1000 : null,
        tokens_per_second: gen > 0 && completion ? completion / gen : null,
        total_time: (end - started) / 1000,
        ...(serverStats ?? {}),
        finish_reason: reason
      };
      return { text, stats, finish_reason: reason };
    };

    const run = async (): Promise<ChatResult> => {
      let response: Response;
      try {
        response = await ServerConnection.makeRequest(
          url,
          {
            method: 'POST',
            body: JSON.stringify(body),
            headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
            signal: controller.signal
          },
          this.settings
        );
      } catch (error) {
        if (controller.signal.aborted) {
          return result();
        }
        throw new StudioApiError({
          type: 'NetworkError',
          message: `Cannot reach the Jupyter server: ${(error as Error).message ?? error}`
        });
      }
      if (!response.ok) {
        const raw = await response.text();
        let info: any = null;
        try {
          info = JSON.parse(raw)?.error;
        } catch {
          info = null;
        }
        throw new StudioApiError(
          info && typeof info === 'object'
            ? { type: info.type || 'ServerError', ...info, message: info.message ?? raw }
            : { type: 'ServerError', message: raw || `HTTP ${response.status}` },
          response.status
        );
      }
      const reader = response.body?.getReader();
      if (!reader) {
        return result();
      }
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            break;
          }
          buffer += decoder.decode(value, { stream: true });
          let cut: number;
          while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
            const data = event
              .split(/\r?\n/)
              .filter(line => line.startsWith('data:'))
              .map(line => line.slice(5).replace(/^ /, ''))
              .join('\n');
            if (data) {
              handleData(data);
            }
          }
        }
      } catch (error) {
        if (!controller.signal.aborted) {
          throw StudioApiError.from(error);
        }
      }
      return result();
    };
    return { promise: run(), stop: () => controller.abort() };
  }

  /**
   * The authenticated file route of a generation's mp4 or thumbnail (HTTP Range, so `<video>`
   * can seek). The token goes in the query only when the settings carry one (cookies otherwise).
   */
  videoUrl(job: Job | string, what: VideoMediaKind = 'video'): Promise<string> {
    const id = typeof job === 'string' ? job : job.id;
    const file = what === 'thumbnail' ? 'thumbnail.jpg' : 'video.mp4';
    const url = URLExt.join(
      this.settings.baseUrl,
      API_PREFIX,
      'video',
      encodeURIComponent(id),
      file
    );
    const token = this.settings.token;
    return Promise.resolve(token ? `${url}?token=${encodeURIComponent(token)}` : url);
  }

  /** The event-stream URL; the token goes in the query because EventSource cannot set headers. */
  eventsUrl(): string {
    const url = URLExt.join(this.settings.baseUrl, API_PREFIX, 'events');
    const token = this.settings.token;
    return token ? `${url}?token=${encodeURIComponent(token)}` : url;
  }

  /**
   * Live updates. Every subscriber shares one `EventSource` (browsers allow few connections per
   * host), opened with the first subscriber and closed with the last.
   */
  subscribe(onJob: (job: Job) => void, onSystem?: (snapshot: SystemSnapshot) => void): Unsubscribe {
    this.jobListeners.add(onJob);
    if (onSystem) {
      this.systemListeners.add(onSystem);
    }
    this.connect();
    return () => {
      this.jobListeners.delete(onJob);
      if (onSystem) {
        this.systemListeners.delete(onSystem);
      }
      if (this.jobListeners.size === 0 && this.systemListeners.size === 0) {
        this.disconnect();
      }
    };
  }

  private readonly jobListeners = new Set<(job: Job) => void>();
  private readonly systemListeners = new Set<(snapshot: SystemSnapshot) => void>();
  private events: EventSource | null = null;
  private pollTimer: number | null = null;
  private polling = false;
  private pollDelay = POLL_MS;

  private emitJob(job: Job): void {
    this.jobListeners.forEach(fn => fn(job));
  }

  private emitSystem(snapshot: SystemSnapshot): void {
    this.systemListeners.forEach(fn => fn(snapshot));
  }

  private connect(): void {
    if (this.events || this.polling) {
      return;
    }
    if (typeof EventSource === 'undefined') {
      this.startPolling();
      return;
    }
    let opened = false;
    let source: EventSource;
    try {
      source = new EventSource(this.eventsUrl(), { withCredentials: true });
    } catch {
      this.startPolling();
      return;
    }
    this.events = source;
    const parse = <T>(event: Event): T | null => {
      try {
        return JSON.parse((event as MessageEvent).data) as T;
      } catch {
        return null; // a malformed event is skipped
      }
    };
    source.addEventListener('open', () => {
      opened = true;
    });
    source.addEventListener('job', event => {
      const job = parse<Job>(event);
      if (job) {
        this.emitJob(job);
      }
    });
    source.addEventListener('system', event => {
      const snapshot = parse<SystemSnapshot>(event);
      if (snapshot) {
        this.emitSystem(snapshot);
      }
    });
    source.addEventListener('error', () => {
      // Never opened (no route, auth refused): poll instead. After a successful open the
      // browser reconnects by itself unless it gave up (readyState CLOSED).
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close();
        if (this.events === source) {
          this.events = null;
          this.startPolling();
        }
      }
    });
  }

  private disconnect(): void {
    this.events?.close();
    this.events = null;
    this.polling = false;
    if (this.pollTimer !== null) {
      window.clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }
  }

  /** Poll downloads (and the system, when someone listens) every 2 s; back off while failing. */
  private startPolling(): void {
    if (this.polling) {
      return;
    }
    this.polling = true;
    const tick = async (): Promise<void> => {
      this.pollTimer = null;
      if (!this.polling) {
        return;
      }
      try {
        const wantSystem = this.systemListeners.size > 0;
        const [jobs, snapshot] = await Promise.all([
          this.jobListeners.size > 0 ? this.listDownloads(null, 50) : Promise.resolve([]),
          wantSystem ? this.system() : Promise.resolve(null)
        ]);
        if (this.polling) {
          jobs.forEach(job => this.emitJob(job));
          if (snapshot) {
            this.emitSystem(snapshot);
          }
        }
        this.pollDelay = POLL_MS;
      } catch {
        // Panels show their own errors; here we only slow down (e.g. server extension missing).
        this.pollDelay = Math.min(this.pollDelay * 2, MAX_POLL_MS);
      }
      if (this.polling) {
        this.pollTimer = window.setTimeout(() => void tick(), this.pollDelay);
      }
    };
    void tick();
  }
}
