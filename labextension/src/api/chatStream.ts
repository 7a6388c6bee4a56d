/**
 * The chat completion stream: Server-Sent Events read from the body of a `fetch` to the
 * OpenAI-compatible route, with the answer's statistics measured on the way.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { OPENAI_PREFIX } from './http';
import { compact, StudioApiError } from './source';
import type {
  ChatMessage,
  ChatResult,
  ChatStream,
  ChatStreamOptions,
  SamplingOptions,
  ToolCall
} from './types';

/**
 * Tool calls assembled from streamed `delta.tool_calls` items, as OpenAI sends them: the first
 * item of a call (by `index`) carries its `id`, `type` and `function.name`; later items append
 * pieces of `function.arguments`. Returns whether anything changed.
 */
export function mergeToolCallDeltas(calls: ToolCall[], deltas: unknown): boolean {
  if (!Array.isArray(deltas)) {
    return false;
  }
  let changed = false;
  for (const d of deltas) {
    const index = typeof d?.index === 'number' ? d.index : calls.length;
    const call = (calls[index] ??= {
      id: '',
      type: 'function',
      function: { name: '', arguments: '' }
    });
    if (typeof d?.id === 'string' && d.id) {
      call.id = d.id;
    }
    const fn = d?.function ?? {};
    if (typeof fn.name === 'string' && fn.name) {
      call.function.name = call.function.name ? call.function.name : fn.name;
    }
    if (typeof fn.arguments === 'string') {
      call.function.arguments += fn.arguments;
    }
    changed = true;
  }
  return changed;
}

/**
 * `POST /model-studio/v1/chat/completions` with `stream: true`: Server-Sent Events read from
 * the response body; `stop()` aborts the request (the server stops generating).
 */
export function streamChat(
  settings: ServerConnection.ISettings,
  model: string,
  messages: ChatMessage[],
  sampling: SamplingOptions,
  onChunk: (text: string, tokens: number) => void,
  options: ChatStreamOptions = {}
): ChatStream {
  const controller = new AbortController();
  const url = URLExt.join(settings.baseUrl, OPENAI_PREFIX, 'chat/completions');
  const body = {
    ...compact({ ...sampling, stop: sampling.stop?.length ? sampling.stop : null }),
    ...compact({ ...(options.extras ?? {}) }),
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true }
  };
  const started = performance.now();
  let first: number | null = null;
  let tokens = 0;
  let text = '';
  const toolCalls: ToolCall[] = [];
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
    if (mergeToolCallDeltas(toolCalls, choice?.delta?.tool_calls)) {
      if (first === null) {
        first = performance.now();
      }
      options.onToolCalls?.(
        toolCalls.filter(Boolean).map(c => ({ ...c, function: { ...c.function } }))
      );
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
    const calls = toolCalls.filter(c => c !== undefined);
    return { text, stats, finish_reason: reason, ...(calls.length ? { tool_calls: calls } : {}) };
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
        settings
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
