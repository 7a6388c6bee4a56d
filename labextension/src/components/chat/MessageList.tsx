import * as React from 'react';

import { ChatMarkdown } from '../ChatMarkdown';
import { BranchSwitcher, EditPrompt } from './Branching';
import { type Column, statsLine, type Turn } from './session';
import { ToolCalls } from './ToolCalls';

export interface MessageListProps {
  /** The columns shown: one, or two in compare mode. */
  active: Column[];
  compare: boolean;
  /** While answers stream, editing and switching branches wait. */
  streaming?: boolean;
  /** Resend the user message at `index` of column `col` with new text, as a new branch. */
  onEdit?: (col: number, index: number, content: string) => void;
  /** Show another branch at the message at `index` of column `col`. */
  onSwitch?: (col: number, index: number, delta: number) => void;
  /** The user's results for the tool calls of the answer at `index` of `col`: send and continue. */
  onToolResults?: (col: number, index: number, results: Record<string, string>) => void;
}

/** Results already given to calls of the turns, by call id (the tool turns in the column). */
function answeredCalls(turns: Turn[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of turns) {
    if (t.role === 'tool' && t.toolCallId) {
      out[t.toolCallId] = t.content;
    }
  }
  return out;
}

/** The name of the function a tool turn answers (from the call in an earlier answer). */
function callName(turns: Turn[], id: string | undefined): string {
  for (const t of turns) {
    const call = t.toolCalls?.find(c => c.id === id);
    if (call) {
      return call.function.name;
    }
  }
  return 'tool';
}

/** The conversation(s): one column of turns per model, side by side in compare mode. */
export function MessageList(props: MessageListProps): JSX.Element {
  const { active, compare, streaming = false, onEdit, onSwitch, onToolResults } = props;
  const [editing, setEditing] = React.useState<string | null>(null); // "col/index"
  return (
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
                {t.role === 'tool' ? (
                  <div className="jp-ModelStudio-toolResult" data-testid="chat-tool-message">
                    <span className="jp-ModelStudio-muted">
                      Result of <code>{callName(c.turns, t.toolCallId)}</code> ({t.toolCallId})
                    </span>
                    <pre className="jp-ModelStudio-chatCode">{t.content}</pre>
                  </div>
                ) : t.role === 'assistant' ? (
                  <>
                    {(t.content || !t.toolCalls?.length) && (
                      <ChatMarkdown
                        text={t.content + (t.streaming ? ' ▌' : '')}
                        testId="chat-answer"
                      />
                    )}
                    {!!t.toolCalls?.length && (
                      <ToolCalls
                        calls={t.toolCalls}
                        streaming={!!t.streaming}
                        answered={answeredCalls(c.turns.slice(i + 1))}
                        disabled={streaming}
                        onResults={
                          onToolResults && i === c.turns.length - 1
                            ? results => onToolResults(col, i, results)
                            : undefined
                        }
                      />
                    )}
                  </>
                ) : editing === `${col}/${i}` && onEdit ? (
                  <EditPrompt
                    content={t.content}
                    onCancel={() => setEditing(null)}
                    onResend={text => {
                      setEditing(null);
                      onEdit(col, i, text);
                    }}
                  />
                ) : (
                  <div className="jp-ModelStudio-chatUser">{t.content}</div>
                )}
                <div className="jp-ModelStudio-chatTurnTools">
                  {onSwitch && (
                    <BranchSwitcher
                      turn={t}
                      disabled={streaming}
                      onSwitch={delta => onSwitch(col, i, delta)}
                    />
                  )}
                  {onEdit && t.role === 'user' && editing !== `${col}/${i}` && (
                    <button
                      className="jp-ModelStudio-linkButton"
                      data-testid="chat-edit"
                      disabled={streaming}
                      onClick={() => setEditing(`${col}/${i}`)}
                    >
                      Edit
                    </button>
                  )}
                </div>
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
  );
}
