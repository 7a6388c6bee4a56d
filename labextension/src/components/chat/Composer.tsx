import * as React from 'react';

export interface ComposerProps {
  input: string;
  setInput: (input: string) => void;
  streaming: boolean;
  send: () => void;
  stop: () => void;
  regenerate: () => void;
  clear: () => void;
  exportJson: () => void;
  exportCode: () => void;
  /** A short message after an export. */
  note: string;
  /** The exported Python code, shown under the buttons. */
  code: string | null;
}

/** The message box with its actions: send or stop, regenerate, clear and the exports. */
export function Composer(props: ComposerProps): JSX.Element {
  const { input, setInput, streaming, send, stop, regenerate, clear, exportJson, exportCode } =
    props;
  const { note, code } = props;
  return (
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
  );
}
