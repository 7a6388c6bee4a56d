import * as React from 'react';

import { ChatMarkdown } from '../ChatMarkdown';
import { type Column, statsLine } from './session';

export interface MessageListProps {
  /** The columns shown: one, or two in compare mode. */
  active: Column[];
  compare: boolean;
}

/** The conversation(s): one column of turns per model, side by side in compare mode. */
export function MessageList(props: MessageListProps): JSX.Element {
  const { active, compare } = props;
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
  );
}
