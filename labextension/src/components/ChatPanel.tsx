import * as React from 'react';

import type { DataSource } from '../api/source';
import type {
  ChatMessage,
  ChatModel,
  ChatStats,
  ChatStream,
  Job,
  LoadedModel,
  SamplingOptions
} from '../api/types';
import { ChatMarkdown } from './ChatMarkdown';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes } from './format';
import { ProgressBar } from './ProgressBar';

export interface ChatPanelProps {
  source: DataSource;
  /** The model chosen at start (the widget's `model` trait). */
  initialModel?: string;
  initialSystemPrompt?: string;
  /** Hear the chosen model change (the widget syncs it back to Python). */
  onModelChange?: (model: string) => void;
}

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  streaming?: boolean;
  stats?: ChatStats | null;
  error?: string | null;
}

interface Column {
  model: string;
  turns: Turn[];
}

interface ModelEntry {
  id: string;
  local: boolean;
  loaded: boolean;
}

const DEFAULT_SAMPLING = {
  temperature: '0.7',
  top_p: '0.95',
  top_k: '40',
  max_tokens: '512',
  seed: '',
  repeat_penalty: '1.1',
  stop: ''
};
type SamplingForm = typeof DEFAULT_SAMPLING;

function toSampling(form: SamplingForm): SamplingOptions {
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
function history(system: string, turns: Turn[]): ChatMessage[] {
  const out: ChatMessage[] = system.trim() ? [{ role: 'system', content: system }] : [];
  for (const t of turns) {
    if (!t.error || t.role === 'user') {
      out.push({ role: t.role, content: t.content });
    }
  }
  return out;
}

function pyRepr(value: unknown): string {
  return JSON.stringify(value, null, 4)
    .replace(/\btrue\b/g, 'True')
    .replace(/\bfalse\b/g, 'False')
    .replace(/\bnull\b/g, 'None');
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
    `messages = ${pyRepr(messages)}`,
    `answer = eng.chat.complete(${JSON.stringify(model)}, messages${kwargs})`,
    'print(answer["text"])',
    ''
  ].join('\n');
}

/** A chat playground: model picker, load status, sampling, streaming conversation, compare. */
export function ChatPanel(props: ChatPanelProps): JSX.Element {
  const { source } = props;
  const [models, setModels] = React.useState<ModelEntry[]>([]);
  const [loaded, setLoaded] = React.useState<LoadedModel[]>([]);
  const [error, setError] = React.useState<Error | null>(null);
  const [columns, setColumns] = React.useState<Column[]>([
    { model: props.initialModel ?? '', turns: [] }
  ]);
  const [compare, setCompare] = React.useState(false);
  const [system, setSystem] = React.useState(props.initialSystemPrompt ?? '');
  const [form, setForm] = React.useState<SamplingForm>(DEFAULT_SAMPLING);
  const [input, setInput] = React.useState('');
  const [note, setNote] = React.useState('');
  const [code, setCode] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);
  const [downloads, setDownloads] = React.useState<Record<string, Job>>({});
  const streams = React.useRef<Map<number, ChatStream>>(new Map());
  const onModelChange = React.useRef(props.onModelChange);
  onModelChange.current = props.onModelChange;

  const active = compare ? columns.slice(0, 2) : columns.slice(0, 1);
  const streaming = active.some(c => c.turns.some(t => t.streaming));

  const refreshModels = React.useCallback(async () => {
    let local: ChatModel[] = [];
    try {
      local = await source.chatModels();
    } catch (err) {
      // Fallback while the chat operations are missing: the library's local text models.
      try {
        local = (await source.localModels())
          .filter(m => !m.task || m.task === 'text-generation')
          .map(m => ({ id: m.id, backends: m.backends }));
      } catch {
        setError(err as Error);
      }
    }
    const entries: ModelEntry[] = local.map(m => ({
      id: m.id,
      local: m.local !== false,
      loaded: !!m.loaded
    }));
    try {
      const catalog = await source.searchModels({
        task: 'text-generation',
        hub: false,
        limit: 100
      });
      for (const m of catalog.models) {
        if (!entries.some(e => e.id === m.id) && m.status !== 'local') {
          entries.push({ id: m.id, local: false, loaded: false });
        }
      }
    } catch {
      // the catalog is a nicety; local models are enough to chat
    }
    setModels(entries);
  }, [source]);

  const refreshLoaded = React.useCallback(async () => {
    try {
      setLoaded(await source.loadedModels());
    } catch {
      // shown by the Running tab; the chat still works (models load on first use)
    }
  }, [source]);

  React.useEffect(() => {
    void refreshModels();
    void refreshLoaded();
    const timer = window.setInterval(() => void refreshLoaded(), 5000);
    const unsubscribe = source.subscribe(job => {
      if (job.kind !== 'download') {
        return;
      }
      setDownloads(prev => {
        const model = String(job.params.model ?? job.params.repo_id ?? '');
        if (!model || !(model in prev)) {
          return prev;
        }
        if (job.state === 'completed' && prev[model]?.state !== 'completed') {
          window.setTimeout(() => void refreshModels(), 300);
        }
        return { ...prev, [model]: job };
      });
    });
    return () => {
      window.clearInterval(timer);
      unsubscribe();
      streams.current.forEach(s => s.stop());
    };
  }, [source, refreshModels, refreshLoaded]);

  const setModel = (index: number, model: string): void => {
    setColumns(prev => {
      const next = [...prev];
      next[index] = { ...(next[index] ?? { turns: [] }), model };
      return next;
    });
    if (index === 0) {
      onModelChange.current?.(model);
    }
  };

  const entryOf = (id: string): ModelEntry | undefined => models.find(m => m.id === id);
  const isLocal = (id: string): boolean => {
    const e = entryOf(id);
    return e ? e.local : true; // a model typed in from Python: let the engine decide
  };

  const updateTurn = (col: number, index: number, change: (t: Turn) => Turn): void => {
    setColumns(prev => {
      const next = [...prev];
      const turns = [...next[col].turns];
      turns[index] = change(turns[index]);
      next[col] = { ...next[col], turns };
      return next;
    });
  };

  /** Stream one answer into column `col`, after `turns` (which end with the user's message). */
  const answer = (col: number, model: string, turns: Turn[]): void => {
    const index = turns.length;
    const messages = history(system, turns);
    setColumns(prev => {
      const next = [...prev];
      next[col] = {
        ...next[col],
        turns: [...turns, { role: 'assistant', content: '', streaming: true }]
      };
      return next;
    });
    const stream = source.streamChat(model, messages, toSampling(form), text => {
      updateTurn(col, index, t => ({ ...t, content: t.content + text }));
    });
    streams.current.set(col, stream);
    stream.promise
      .then(
        result => {
          updateTurn(col, index, t => ({
            ...t,
            content: result.text || t.content,
            streaming: false,
            stats: result.stats
          }));
        },
        err => {
          updateTurn(col, index, t => ({ ...t, streaming: false, error: (err as Error).message }));
          setError(err as Error);
        }
      )
      .finally(() => {
        streams.current.delete(col);
        void refreshLoaded();
      });
  };

  const send = (): void => {
    const prompt = input.trim();
    if (!prompt || streaming) {
      return;
    }
    const missing = active.find(c => !c.model || !isLocal(c.model));
    if (missing) {
      setError(
        new Error(missing.model ? `Download ${missing.model} first` : 'Choose a model first')
      );
      return;
    }
    setError(null);
    setInput('');
    active.forEach((c, col) =>
      answer(col, c.model, [...c.turns, { role: 'user', content: prompt }])
    );
  };

  const stop = (): void => {
    streams.current.forEach(s => s.stop());
  };

  const regenerate = (): void => {
    if (streaming) {
      return;
    }
    active.forEach((c, col) => {
      let turns = c.turns;
      while (turns.length && turns[turns.length - 1].role === 'assistant') {
        turns = turns.slice(0, -1);
      }
      if (turns.length) {
        answer(col, c.model, turns);
      }
    });
  };

  const clear = (): void => {
    stop();
    setColumns(prev => prev.map(c => ({ ...c, turns: [] })));
    setError(null);
    setCode(null);
  };

  const exportJson = (): void => {
    const data = {
      system,
      sampling: toSampling(form),
      conversations: active.map(c => ({
        model: c.model,
        messages: history(system, c.turns),
        stats: c.turns.filter(t => t.role === 'assistant').map(t => t.stats ?? null)
      }))
    };
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `chat-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    setNote('Exported JSON');
  };

  const exportCode = (): void => {
    const c = active[0];
    let messages = history(system, c.turns);
    // Repeat the conversation up to (and asking for) the last answer.
    if (messages.length && messages[messages.length - 1].role === 'assistant') {
      messages = messages.slice(0, -1);
    }
    const text = pythonCode(c.model, messages, toSampling(form));
    setCode(text);
    navigator.clipboard?.writeText(text).then(
      () => setNote('Copied the code to the clipboard'),
      () => setNote('Copy the code below')
    );
  };

  const download = async (model: string): Promise<void> => {
    setBusy(model);
    try {
      const job = await source.startDownload({ model });
      setDownloads(prev => ({ ...prev, [model]: job }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const loadToggle = async (model: string, isLoaded: boolean): Promise<void> => {
    setBusy(model);
    setError(null);
    try {
      if (isLoaded) {
        await source.unloadModel(model);
      } else {
        await source.loadModel(model);
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
      void refreshLoaded();
    }
  };

  const field = (name: keyof SamplingForm, label: string, attrs: Record<string, unknown> = {}) => (
    <label className="jp-ModelStudio-field" key={name}>
      <span>{label}</span>
      <input
        type="number"
        value={form[name]}
        data-testid={`chat-${name.replace(/_/g, '-')}`}
        onChange={e => setForm({ ...form, [name]: e.target.value })}
        {...attrs}
      />
    </label>
  );

  const picker = (index: number): JSX.Element => {
    const model = columns[index]?.model ?? '';
    const entry = entryOf(model);
    const local = isLocal(model);
    const held = loaded.find(l => l.model === model || l.id === model);
    const job = downloads[model];
    const testSuffix = index === 0 ? '' : '-b';
    return (
      <div className="jp-ModelStudio-chatModel" data-testid={`chat-model-box${testSuffix}`}>
        <select
          className="jp-ModelStudio-select"
          value={model}
          data-testid={`chat-model${testSuffix}`}
          aria-label={index === 0 ? 'Model' : 'Second model'}
          disabled={streaming}
          onChange={e => setModel(index, e.target.value)}
        >
          <option value="">Choose a model…</option>
          {model && !entry && <option value={model}>{model}</option>}
          {models.map(m => (
            <option key={m.id} value={m.id}>
              {m.id}
              {m.local ? '' : ' (download first)'}
            </option>
          ))}
        </select>
        {model && local && (
          <span
            className="jp-ModelStudio-chatStatus"
            data-testid={`chat-load-status${testSuffix}`}
            data-loaded={held ? 'true' : 'false'}
          >
            {held
              ? `Loaded · ${held.backend} · ${formatBytes(held.memory_bytes)}`
              : 'Not loaded (loads on first message)'}
            <button
              className="jp-ModelStudio-linkButton"
              data-testid={`chat-load${testSuffix}`}
              disabled={busy === model || streaming}
              onClick={() => void loadToggle(model, !!held)}
            >
              {held ? 'Unload' : 'Load'}
            </button>
          </span>
        )}
        {model && !local && (
          <span
            className="jp-ModelStudio-chatStatus"
            data-testid={`chat-download-box${testSuffix}`}
          >
            {job ? (
              <>
                <ProgressBar
                  fraction={job.state === 'completed' ? 1 : job.progress.fraction}
                  label={`Download of ${model}`}
                  testId={`chat-download-progress${testSuffix}`}
                />
                <span>{job.state}</span>
              </>
            ) : (
              <>
                Download first
                <button
                  className="jp-ModelStudio-button"
                  data-testid={`chat-download${testSuffix}`}
                  disabled={busy === model}
                  onClick={() => void download(model)}
                >
                  Download
                </button>
              </>
            )}
          </span>
        )}
      </div>
    );
  };

  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-chat" data-testid="chat-panel">
      <div className="jp-ModelStudio-toolbar jp-ModelStudio-chatPickers">
        {picker(0)}
        {compare && picker(1)}
        <label className="jp-ModelStudio-check">
          <input
            type="checkbox"
            checked={compare}
            data-testid="chat-compare"
            disabled={streaming}
            onChange={e => {
              setCompare(e.target.checked);
              if (e.target.checked && columns.length < 2) {
                setColumns(prev => [...prev, { model: '', turns: [] }]);
              }
            }}
          />
          Compare
        </label>
      </div>
      <details className="jp-ModelStudio-chatSettings" data-testid="chat-settings">
        <summary>System prompt &amp; sampling</summary>
        <textarea
          className="jp-ModelStudio-textarea"
          placeholder="System prompt (optional)"
          value={system}
          rows={2}
          data-testid="chat-system"
          onChange={e => setSystem(e.target.value)}
        />
        <div className="jp-ModelStudio-chatFields">
          {field('temperature', 'Temperature', { min: 0, max: 5, step: 0.1 })}
          {field('top_p', 'Top p', { min: 0, max: 1, step: 0.05 })}
          {field('top_k', 'Top k', { min: 0, step: 1 })}
          {field('max_tokens', 'Max tokens', { min: 1, step: 1 })}
          {field('seed', 'Seed', { step: 1, placeholder: 'random' })}
          {field('repeat_penalty', 'Repeat penalty', { min: 0, max: 5, step: 0.05 })}
          <label className="jp-ModelStudio-field">
            <span>Stop strings (one a line)</span>
            <textarea
              rows={1}
              value={form.stop}
              data-testid="chat-stop-strings"
              onChange={e => setForm({ ...form, stop: e.target.value })}
            />
          </label>
        </div>
      </details>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="chat-error" />
      <div className={`jp-ModelStudio-chatColumns${compare ? ' jp-mod-compare' : ''}`}>
        {active.map((c, col) => (
          <div className="jp-ModelStudio-chatColumn" key={col} data-testid={`chat-column-${col}`}>
            {compare && <div className="jp-ModelStudio-chatColumnHead">{c.model || '—'}</div>}
            <div
              className="jp-ModelStudio-chatMessages"
              data-testid={col === 0 ? 'chat-messages' : `chat-messages-${col}`}
            >
              {c.turns.length === 0 && (
                <div className="jp-ModelStudio-empty">Ask something to start the conversation.</div>
              )}
              {c.turns.map((t, i) => (
                <div
                  key={i}
                  className={`jp-ModelStudio-chatTurn jp-ModelStudio-chatTurn-${t.role}`}
                  data-testid={`chat-message-${col}-${i}`}
                  data-role={t.role}
                  data-streaming={t.streaming ? 'true' : 'false'}
                >
                  {t.role === 'assistant' ? (
                    <ChatMarkdown
                      text={t.content + (t.streaming ? ' ▌' : '')}
                      testId="chat-answer"
                    />
                  ) : (
                    <div className="jp-ModelStudio-chatUser">{t.content}</div>
                  )}
                  {t.role === 'assistant' && !t.streaming && t.stats && (
                    <div className="jp-ModelStudio-chatStats" data-testid="chat-stats">
                      {statsLine(t.stats)}
                    </div>
                  )}
                  {t.error && <div className="jp-ModelStudio-muted">{t.error}</div>}
                </div>
              ))}
            </div>
          </div>
        ))}
      </div>
      <div className="jp-ModelStudio-chatInput">
        <textarea
          className="jp-ModelStudio-textarea"
          placeholder="Message (Enter to send, Shift+Enter for a new line)"
          value={input}
          rows={2}
          data-testid="chat-input"
          onChange={e => setInput(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              send();
            }
          }}
        />
        <div className="jp-ModelStudio-cardActions">
          {streaming ? (
            <button
              className="jp-ModelStudio-button jp-mod-warn"
              data-testid="chat-stop"
              onClick={stop}
            >
              Stop
            </button>
          ) : (
            <button
              className="jp-ModelStudio-button jp-mod-accept"
              data-testid="chat-send"
              disabled={!input.trim()}
              onClick={send}
            >
              Send
            </button>
          )}
          <button
            className="jp-ModelStudio-button"
            data-testid="chat-regenerate"
            disabled={streaming}
            onClick={regenerate}
          >
            Regenerate
          </button>
          <button className="jp-ModelStudio-button" data-testid="chat-clear" onClick={clear}>
            Clear
          </button>
          <span className="jp-ModelStudio-spacer" />
          <button
            className="jp-ModelStudio-button"
            data-testid="chat-export-json"
            onClick={exportJson}
          >
            Export JSON
          </button>
          <button
            className="jp-ModelStudio-button"
            data-testid="chat-export-code"
            onClick={exportCode}
          >
            Copy as code
          </button>
        </div>
        {note && (
          <div className="jp-ModelStudio-muted" data-testid="chat-note">
            {note}
          </div>
        )}
        {code && (
          <pre className="jp-ModelStudio-chatCode" data-testid="chat-code">
            {code}
          </pre>
        )}
      </div>
    </div>
  );
}
