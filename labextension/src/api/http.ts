/**
 * The HTTP request helper of the studio's REST API (`/model-studio/api`): URLs, query strings,
 * and the server's `{"error": {...}}` bodies turned into `StudioApiError`s.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { compact, StudioApiError } from './source';
import type { ErrorInfo } from './types';

export const API_PREFIX = 'model-studio/api';
export const OPENAI_PREFIX = 'model-studio/v1';

export type Query = Record<string, string | number | boolean | null | undefined>;

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
