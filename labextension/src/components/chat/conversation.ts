// A saved conversation as the chat's columns, and the browser's memory of the one last open.
import type { Conversation, ConversationMessage } from '../../api/types';
import { type Column, DEFAULT_SAMPLING, type SamplingForm, type Turn } from './session';

/** localStorage key of the conversation the Chat panel had open (restored on reload). */
export const LAST_CONVERSATION_KEY = 'model-studio:chat:last-conversation';

export function rememberedConversation(): string | null {
  try {
    return window.localStorage.getItem(LAST_CONVERSATION_KEY);
  } catch {
    return null; // storage blocked
  }
}

export function rememberConversation(id: string | null): void {
  try {
    if (id) {
      window.localStorage.setItem(LAST_CONVERSATION_KEY, id);
    } else {
      window.localStorage.removeItem(LAST_CONVERSATION_KEY);
    }
  } catch {
    // storage blocked: the panel still works, it only forgets on reload
  }
}

export function turnOf(m: ConversationMessage): Turn {
  return {
    id: m.id,
    role: m.role === 'assistant' || m.role === 'tool' ? m.role : 'user',
    content: m.content,
    ...(m.tool_calls?.length ? { toolCalls: m.tool_calls } : {}),
    ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}),
    stats: (m.stats as Turn['stats']) ?? (m.finish_reason ? statsOfFinish(m.finish_reason) : null),
    siblings: m.siblings ?? [m.id],
    siblingIndex: m.sibling_index ?? 0
  };
}

function statsOfFinish(finish: string): Turn['stats'] {
  return {
    completion_tokens: null,
    ttft: null,
    tokens_per_second: null,
    total_time: null,
    finish_reason: finish
  };
}

/** Each lane's branch as a column (system messages are the system prompt, not turns). */
export function columnsOf(conv: Conversation, current: Column[]): Column[] {
  return conv.lanes.map((lane, k) => ({
    model: lane.model || conv.models[k] || current[k]?.model || current[0]?.model || '',
    turns: lane.messages.filter(m => m.role !== 'system').map(turnOf)
  }));
}

/** The sampling form a conversation was saved with (its missing fields keep their defaults). */
export function formOf(sampling: Record<string, unknown> | null | undefined): SamplingForm {
  const form: SamplingForm = { ...DEFAULT_SAMPLING };
  for (const key of Object.keys(form) as (keyof SamplingForm)[]) {
    const value = sampling?.[key];
    if (value === null || value === undefined) {
      continue;
    }
    form[key] = Array.isArray(value) ? value.join('\n') : String(value);
  }
  return form;
}

/** Start a browser download of `content` as `filename`. */
export function download(content: string | Uint8Array, filename: string, mediaType: string): void {
  const blob = new Blob([content], { type: mediaType });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}
