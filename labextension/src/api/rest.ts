/**
 * `RestSource`: the sidebar's data source over `/model-studio/api` (token and XSRF handled by
 * `ServerConnection`), with live updates from the `/events` Server-Sent Events stream
 * (`events.ts`), falling back to polling when the stream cannot be opened. The request helper
 * lives in `http.ts`, the chat stream in `chatStream.ts`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { OperationCalls } from './calls';
import { streamChat } from './chatStream';
import { EventFilter, JobEvents } from './events';
import { API_PREFIX, modelPath, OPENAI_PREFIX, type Query, requestAPI } from './http';
import { compact, DataSource, StudioApiError, Unsubscribe } from './source';
import type {
  BackendInfo,
  ChatMessage,
  ChatStreamOptions,
  ChatStream,
  SamplingOptions,
  DeleteResult,
  FitResult,
  FolderEntry,
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
  VerifyResult,
  VideoMediaKind
} from './types';

// Re-exported: these names were always imported from here.
export { API_PREFIX, modelPath, OPENAI_PREFIX, requestAPI } from './http';

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

  modelPage(model: string, variant?: string | null): Promise<ModelPageData> {
    return this.request(`models/${modelPath(model)}/page`, { query: { variant } });
  }

  verifyModel(model: string): Promise<VerifyResult> {
    return this.post(`models/${modelPath(model)}/verify`);
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

  async listFolder(path: string): Promise<FolderEntry[]> {
    // Jupyter's contents API: the same folders the lab's file browser shows, relative to its root.
    const url =
      URLExt.join(this.settings.baseUrl, 'api/contents', URLExt.encodeParts(path)) +
      '?content=1&type=directory';
    const response = await ServerConnection.makeRequest(url, { cache: 'no-cache' }, this.settings);
    if (!response.ok) {
      return [];
    }
    const data = (await response.json()) as { content?: FolderEntry[] };
    return (data.content ?? []).map(({ name, path, type }) => ({ name, path, type }));
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

  versions(): Promise<SystemVersions> {
    return this.request('system/versions');
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
    onChunk: (text: string, tokens: number) => void,
    options?: ChatStreamOptions
  ): ChatStream {
    return streamChat(this.settings, model, messages, sampling, onChunk, options);
  }

  /** `<server>/model-studio/v1`: what an `openai` client's `base_url` is. */
  get openaiBaseUrl(): string {
    return URLExt.join(this.settings.baseUrl, OPENAI_PREFIX);
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
   * host), opened with the first subscriber and closed with the last; it asks the server for the
   * union of the subscribers' filters.
   */
  subscribe(
    onJob: (job: Job) => void,
    onSystem?: (snapshot: SystemSnapshot) => void,
    filter?: EventFilter
  ): Unsubscribe {
    return this.liveEvents.subscribe(onJob, onSystem, filter);
  }

  private readonly liveEvents = new JobEvents(() => this.eventsUrl(), this);
}
