import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { ChatRequestExtras, ChatStream } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { samplingDefaults, usePrefs } from '../prefs';
import { Composer } from './Composer';
import { columnsOf, formOf } from './conversation';
import { ConversationBar } from './ConversationBar';
import { useChatModels } from './hooks';
import { MessageList } from './MessageList';
import { ModelPicker } from './ModelPicker';
import { DEFAULT_PLAYGROUND, extrasOf, openaiCode, type PlaygroundForm } from './playground';
import { SamplingSettings } from './SamplingSettings';
import { ToolsSettings } from './ToolsSettings';
import {
  type Column,
  DEFAULT_SAMPLING,
  history,
  isLocal,
  pythonCode,
  type SamplingForm,
  toSampling,
  type Turn
} from './session';
import { useConversation } from './useConversation';

export interface ChatPanelProps {
  source: DataSource;
  /** The model chosen at start (the widget's `model` trait). */
  initialModel?: string;
  initialSystemPrompt?: string;
  /** Hear the chosen model change (the widget syncs it back to Python). */
  onModelChange?: (model: string) => void;
  /** Open this saved conversation (a host's choice: a widget trait, `useNav().open`). */
  conversation?: string | null;
  /** Remember the open conversation in localStorage and reopen it on reload (default: true). */
  remember?: boolean;
  /** Hear the open conversation change ('' for a new one; the widget syncs it back to Python). */
  onConversationChange?: (id: string) => void;
}

/** A chat playground: model picker, load status, sampling, streaming conversation, compare. */
export function ChatPanel(props: ChatPanelProps): JSX.Element {
  const { source } = props;
  const prefs = usePrefs();
  const [error, setError] = React.useState<Error | null>(null);
  const [columns, setColumns] = React.useState<Column[]>([
    { model: props.initialModel || prefs.defaultChatModel, turns: [] }
  ]);
  const [compare, setCompare] = React.useState(false);
  const [system, setSystem] = React.useState(props.initialSystemPrompt ?? '');
  const [form, setForm] = React.useState<SamplingForm>(() => ({
    ...DEFAULT_SAMPLING,
    ...samplingDefaults(prefs)
  }));
  const [playground, setPlayground] = React.useState<PlaygroundForm>(DEFAULT_PLAYGROUND);
  // Tools, JSON mode and the openai client code need the OpenAI-compatible route (the lab panel)
  const openaiBase = source.openaiBaseUrl;
  const [input, setInput] = React.useState('');
  const [note, setNote] = React.useState('');
  const [code, setCode] = React.useState<string | null>(null);
  const streams = React.useRef<Map<number, ChatStream>>(new Map());
  const onModelChange = React.useRef(props.onModelChange);
  onModelChange.current = props.onModelChange;

  const active = compare ? columns.slice(0, 2) : columns.slice(0, 1);
  const streaming = active.some(c => c.turns.some(t => t.streaming));

  const { models, loaded, downloads, busy, refreshLoaded, download, loadToggle } = useChatModels(
    source,
    setError
  );

  // The saved conversation: restored on reload, each message saved as it completes.
  const conv = useConversation({
    source,
    initial: props.conversation,
    remember: props.remember ?? true,
    onChange: props.onConversationChange,
    onError: setError,
    busy: () => streams.current.size > 0,
    onLoaded: c => {
      streams.current.forEach(s => s.stop());
      const next = columnsOf(c, columns);
      setColumns(next.length ? next : [{ model: columns[0]?.model ?? '', turns: [] }]);
      setCompare(next.length > 1);
      setSystem(c.system_prompt);
      if (Object.keys(c.sampling ?? {}).length) {
        setForm(formOf(c.sampling));
      }
      if (next[0]?.model && next[0].model !== columns[0]?.model) {
        onModelChange.current?.(next[0].model);
      }
      setError(null);
    },
    onSiblings: c =>
      setColumns(prev =>
        prev.map((col, k) => {
          const byId = new Map((c.lanes[k]?.messages ?? []).map(m => [m.id, m]));
          const turns = col.turns.map(t => {
            const m = t.id ? byId.get(t.id) : undefined;
            return m ? { ...t, siblings: m.siblings, siblingIndex: m.sibling_index } : t;
          });
          return { ...col, turns };
        })
      )
  });
  const meta = () => ({
    models: active.map(c => c.model),
    system_prompt: system,
    sampling: toSampling(form) as Record<string, unknown>
  });

  React.useEffect(() => {
    const running = streams.current;
    return () => running.forEach(s => s.stop());
  }, [source]);

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

  const updateTurn = (col: number, index: number, change: (t: Turn) => Turn): void => {
    setColumns(prev => {
      const next = [...prev];
      const turns = [...next[col].turns];
      turns[index] = change(turns[index]);
      next[col] = { ...next[col], turns };
      return next;
    });
  };

  /** Stream one answer into column `col`, after `turns` (which end with the user's message);
   * saved after `after` (the prompt's saved id) when it ends. */
  /** The request's tools and response_format, or null (after showing why) when the form is invalid. */
  const requestExtras = (): ChatRequestExtras | null => {
    if (!openaiBase) {
      return {};
    }
    const { extras, error: problem } = extrasOf(playground);
    if (problem) {
      setError(new Error(problem));
      return null;
    }
    return extras;
  };

  const answer = (
    col: number,
    model: string,
    turns: Turn[],
    after: Promise<string | null>,
    extras: ChatRequestExtras = {}
  ) => {
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
    const stream = source.streamChat(
      model,
      messages,
      toSampling(form),
      text => {
        updateTurn(col, index, t => ({ ...t, content: t.content + text }));
      },
      { extras, onToolCalls: calls => updateTurn(col, index, t => ({ ...t, toolCalls: calls })) }
    );
    streams.current.set(col, stream);
    stream.promise
      .then(
        result => {
          updateTurn(col, index, t => ({
            ...t,
            content: result.text || t.content,
            streaming: false,
            stats: result.stats,
            ...(result.tool_calls ? { toolCalls: result.tool_calls } : {})
          }));
          const finish = result.stats?.finish_reason ?? result.finish_reason;
          void conv
            .saveAnswer(col, after, {
              role: 'assistant',
              content: result.text,
              model,
              stats: result.stats,
              finish_reason: finish,
              ...(result.tool_calls ? { tool_calls: result.tool_calls } : {})
            })
            .then(id => id && updateTurn(col, index, t => ({ ...t, id, siblings: [id] })));
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
    const missing = active.find(c => !c.model || !isLocal(models, c.model));
    if (missing) {
      setError(
        new Error(missing.model ? `Download ${missing.model} first` : 'Choose a model first')
      );
      return;
    }
    const extras = requestExtras();
    if (!extras) {
      return;
    }
    setError(null);
    setInput('');
    active.forEach((c, col) => {
      const saved = conv.saveUser(col, prompt, meta());
      const index = c.turns.length;
      void saved.then(id => id && updateTurn(col, index, t => ({ ...t, id, siblings: [id] })));
      answer(col, c.model, [...c.turns, { role: 'user', content: prompt }], saved, extras);
    });
  };

  /** The user's results for the tool calls of the answer at `index`: `tool` messages, then the next answer. */
  const sendToolResults = (col: number, index: number, results: Record<string, string>): void => {
    const c = active[col];
    const calls = c?.turns[index]?.toolCalls ?? [];
    const extras = requestExtras();
    if (!c || streaming || !calls.length || !extras) {
      return;
    }
    setError(null);
    let turns = c.turns;
    let saved: Promise<string | null> = Promise.resolve(null);
    for (const call of calls) {
      const content = results[call.id] ?? '';
      const at = turns.length;
      saved = conv.saveMessage(col, { role: 'tool', content, tool_call_id: call.id }, meta());
      void saved.then(id => id && updateTurn(col, at, t => ({ ...t, id, siblings: [id] })));
      turns = [...turns, { role: 'tool', content, toolCallId: call.id }];
    }
    answer(col, c.model, turns, saved, extras);
  };

  /** Edit and resend the user message at `index` of `col`: a new branch from there. */
  const resend = async (col: number, index: number, content: string): Promise<void> => {
    const c = active[col];
    const turn = c?.turns[index];
    if (!turn || streaming) {
      return;
    }
    if (turn.id && conv.id) {
      const branched = await conv.branch(turn.id, content);
      const lane = branched?.lanes[col];
      if (lane) {
        const head = lane.messages[lane.messages.length - 1];
        const turns = columnsOf(branched, columns)[col].turns;
        answer(col, c.model, turns, Promise.resolve(head.id), requestExtras() ?? {});
      }
      return;
    }
    // not saved (yet): resend here, saved as a new message after the one before it
    const before = c.turns.slice(0, index);
    void conv.restartFrom(col, before[before.length - 1]?.id ?? null);
    const saved = conv.saveUser(col, content, meta());
    void saved.then(id => id && updateTurn(col, index, t => ({ ...t, id, siblings: [id] })));
    answer(col, c.model, [...before, { role: 'user', content }], saved, requestExtras() ?? {});
  };

  const switchBranch = (col: number, index: number, delta: number): void => {
    const turn = active[col]?.turns[index];
    const target = turn?.siblings?.[(turn.siblingIndex ?? 0) + delta];
    if (target && !streaming) {
      void conv.select(target);
    }
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
      const extras = requestExtras();
      if (turns.length && extras) {
        answer(
          col,
          c.model,
          turns,
          conv.restartFrom(col, turns[turns.length - 1].id ?? null),
          extras
        );
      }
    });
  };

  const clear = (): void => {
    stop();
    setColumns(prev => prev.map(c => ({ ...c, turns: [] })));
    setError(null);
    setCode(null);
    conv.startNew(); // the saved conversation stays in the list
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
    let text: string;
    if (openaiBase) {
      const extras = requestExtras();
      if (!extras) {
        return;
      }
      text = openaiCode(openaiBase, c.model, messages, toSampling(form), extras);
    } else {
      text = pythonCode(c.model, messages, toSampling(form));
    }
    setCode(text);
    navigator.clipboard?.writeText(text).then(
      () => setNote('Copied the code to the clipboard'),
      () => setNote('Copy the code below')
    );
  };

  const picker = (index: number): JSX.Element => (
    <ModelPicker
      index={index}
      model={columns[index]?.model ?? ''}
      models={models}
      loaded={loaded}
      downloads={downloads}
      busy={busy}
      streaming={streaming}
      onChange={model => setModel(index, model)}
      onLoadToggle={loadToggle}
      onDownload={download}
    />
  );

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
      <ConversationBar
        source={source}
        conv={conv}
        streaming={streaming}
        onNew={clear}
        onError={setError}
      />
      <SamplingSettings system={system} setSystem={setSystem} form={form} setForm={setForm} />
      {openaiBase && <ToolsSettings form={playground} setForm={setPlayground} />}
      <ErrorBanner
        error={error}
        onDismiss={() => setError(null)}
        onFree={action => source.freeHolder(action)}
        testId="chat-error"
      />
      <MessageList
        active={active}
        compare={compare}
        streaming={streaming}
        onEdit={(col, index, content) => void resend(col, index, content)}
        onSwitch={switchBranch}
        onToolResults={sendToolResults}
      />
      <Composer
        input={input}
        setInput={setInput}
        streaming={streaming}
        send={send}
        stop={stop}
        regenerate={regenerate}
        clear={clear}
        exportJson={exportJson}
        exportCode={exportCode}
        note={note}
        code={code}
      />
    </div>
  );
}
