import * as React from 'react';

import { ChatMarkdown } from '../ChatMarkdown';
import { BranchSwitcher, EditPrompt } from './Branching';
import { type Column, statsLine } from './session';

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
}

/** The conversation(s): one column of turns per model, side by side in compare mode. */
export function MessageList(props: MessageListProps): JSX.Element {
  const { active, compare, streaming = false, onEdit, onSwitch } = props;
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
                {t.role === 'assistant' ? (
                  <ChatMarkdown text={t.content + (t.streaming ? ' ▌' : '')} testId="chat-answer" />
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
