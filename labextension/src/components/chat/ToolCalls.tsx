import * as React from 'react';

import type { ToolCall } from '../../api/types';

export interface ToolCallsProps {
  calls: ToolCall[];
  streaming: boolean;
  /** Results already given (tool turns after this answer), by call id. */
  answered: Record<string, string>;
  /** Offered while the calls wait for results: send them as `tool` messages and continue. */
  onResults?: (results: Record<string, string>) => void;
  disabled?: boolean;
}

/** Pretty JSON when the arguments parse, else the text as the model wrote it (it may still grow). */
function argumentsText(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

/** An answer's function calls as they stream (name, arguments growing), then a result box per call. */
export function ToolCalls(props: ToolCallsProps): JSX.Element {
  const { calls, streaming, answered, onResults, disabled = false } = props;
  const [results, setResults] = React.useState<Record<string, string>>({});
  const waiting = !streaming && calls.some(c => !(c.id in answered));
  const ready = calls.every(c => c.id in answered || (results[c.id] ?? '').trim());
  return (
    <div className="jp-ModelStudio-toolCalls" data-testid="chat-tool-calls">
      {calls.map((call, i) => (
        <div
          key={call.id || i}
          className="jp-ModelStudio-toolCall"
          data-testid="chat-tool-call"
          data-call-id={call.id}
        >
          <div className="jp-ModelStudio-toolCallHead">
            <span className="jp-ModelStudio-muted">Tool call</span>{' '}
            <code data-testid="chat-tool-call-name">{call.function.name || '…'}</code>
          </div>
          <pre className="jp-ModelStudio-chatCode" data-testid="chat-tool-call-arguments">
            {streaming ? call.function.arguments : argumentsText(call.function.arguments)}
          </pre>
          {call.id in answered ? null : waiting && onResults ? (
            <label className="jp-ModelStudio-field">
              <span>Result of {call.function.name}</span>
              <textarea
                className="jp-ModelStudio-textarea jp-ModelStudio-code"
                rows={2}
                placeholder='e.g. {"temperature": 21}'
                value={results[call.id] ?? ''}
                data-testid="chat-tool-result"
                disabled={disabled}
                onChange={e => setResults({ ...results, [call.id]: e.target.value })}
              />
            </label>
          ) : null}
        </div>
      ))}
      {waiting && onResults && (
        <button
          className="jp-ModelStudio-button jp-mod-accept"
          data-testid="chat-tool-send"
          disabled={disabled || !ready}
          onClick={() => onResults(results)}
        >
          Send {calls.length > 1 ? 'results' : 'result'}
        </button>
      )}
    </div>
  );
}
