// The chat's values and pure helpers: turns and columns, the sampling form, the messages a
// column sends, and the exports (statistics line, Python code).
import type { ChatMessage, ChatStats, SamplingOptions, ToolCall } from '../../api/types';
import { pyLiteral } from './playground';

export interface Turn {
  role: 'user' | 'assistant' | 'tool';
  content: string;
  /** An answer's function calls (growing while it streams). */
  toolCalls?: ToolCall[];
  /** A tool turn: the call whose result it carries. */
  toolCallId?: string;
  streaming?: boolean;
  stats?: ChatStats | null;
  error?: string | null;
  /** The saved message's id (once saved to the conversation). */
  id?: string;
  /** Ids of the saved messages with the same parent (other branches), and this one's place. */
  siblings?: string[];
  siblingIndex?: number;
}

export interface Column {
  model: string;
  turns: Turn[];
}

export interface ModelEntry {
  id: string;
  local: boolean;
  loaded: boolean;
  /** A fine-tuned training run (`run/<job id>`): the model it was trained from. */
  base?: string | null;
  /** A model a remote endpoint serves (`remote/<endpoint>/<model>`): nothing loads here. */
  endpoint?: string | null;
}

export const DEFAULT_SAMPLING = {
  temperature: '0.7',
  top_p: '0.95',
  top_k: '40',
  max_tokens: '512',
  seed: '',
  repeat_penalty: '1.1',
  stop: ''
};
export type SamplingForm = typeof DEFAULT_SAMPLING;

export function toSampling(form: SamplingForm): SamplingOptions {
  const num = (v: string): number | null => (v.trim() === '' ? null : Number(v));
  const stop = form.stop
    .split('\n')
    .map(s => s.replace(/\\n/g, '\n'))
    .filter(s => s.length > 0);
  return {
    temperature: num(form.temperature),
    top_p: num(form.top_p),
    top_k: num(form.top_k),
    max_tokens: num(form.max_tokens),
    seed: num(form.seed),
    repeat_penalty: num(form.repeat_penalty),
    stop: stop.length ? stop : null
  };
}

export function statsLine(stats: ChatStats | null | undefined): string {
  if (!stats) {
    return '';
  }
  const parts = [`${stats.completion_tokens ?? 0} tokens`];
  if (stats.tokens_per_second) {
    parts.push(`${stats.tokens_per_second.toFixed(1)} tok/s`);
  }
  if (stats.ttft !== null && stats.ttft !== undefined) {
    parts.push(`TTFT ${stats.ttft.toFixed(2)} s`);
  }
  if (stats.finish_reason === 'cancelled') {
    parts.push('stopped');
  } else if (stats.finish_reason && stats.finish_reason !== 'stop') {
    parts.push(stats.finish_reason);
  }
  return parts.join(' · ');
}

/** The messages a column sends: system prompt + its turns (without the answer being written). */
export function history(system: string, turns: Turn[]): ChatMessage[] {
  const out: ChatMessage[] = system.trim() ? [{ role: 'system', content: system }] : [];
  for (const t of turns) {
    if (t.role === 'tool') {
      out.push({ role: 'tool', tool_call_id: t.toolCallId ?? '', content: t.content });
    } else if (t.role === 'assistant' && t.toolCalls?.length && !t.error) {
      out.push({ role: 'assistant', content: t.content || null, tool_calls: t.toolCalls });
    } else if (!t.error || t.role === 'user') {
      out.push({ role: t.role, content: t.content });
    }
  }
  return out;
}

/** Python that repeats the conversation through the engine (the "notebook cell" export). */
export function pythonCode(
  model: string,
  messages: ChatMessage[],
  sampling: SamplingOptions
): string {
  const kwargs = Object.entries(sampling)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `, ${k}=${Array.isArray(v) ? JSON.stringify(v) : String(v)}`)
    .join('');
  return [
    'import model_studio as ms',
    '',
    'eng = ms.engine()',
    `messages = ${pyLiteral(messages)}`,
    `answer = eng.chat.complete(${JSON.stringify(model)}, messages${kwargs})`,
    'print(answer["text"])',
    ''
  ].join('\n');
}

export function entryOf(models: ModelEntry[], id: string): ModelEntry | undefined {
  return models.find(m => m.id === id);
}

export function isLocal(models: ModelEntry[], id: string): boolean {
  const e = entryOf(models, id);
  return e ? e.local : true; // a model typed in from Python: let the engine decide
}
