import * as React from 'react';

import type { Turn } from './session';

export interface BranchSwitcherProps {
  turn: Turn;
  disabled: boolean;
  /** Show the sibling `delta` places away (-1: the previous branch, +1: the next). */
  onSwitch: (delta: number) => void;
}

/** "< 2/3 >" on a message that has other branches (edited prompts, regenerated answers). */
export function BranchSwitcher(props: BranchSwitcherProps): JSX.Element | null {
  const { turn, disabled, onSwitch } = props;
  const count = turn.siblings?.length ?? 0;
  if (count < 2) {
    return null;
  }
  const index = turn.siblingIndex ?? 0;
  return (
    <span className="jp-ModelStudio-branchSwitch" data-testid="chat-branch-switch">
      <button
        className="jp-ModelStudio-linkButton"
        title="Previous branch"
        data-testid="chat-branch-prev"
        disabled={disabled || index === 0}
        onClick={() => onSwitch(-1)}
      >
        ‹
      </button>
      <span data-testid="chat-branch-position">
        {index + 1}/{count}
      </span>
      <button
        className="jp-ModelStudio-linkButton"
        title="Next branch"
        data-testid="chat-branch-next"
        disabled={disabled || index >= count - 1}
        onClick={() => onSwitch(1)}
      >
        ›
      </button>
    </span>
  );
}

export interface EditPromptProps {
  content: string;
  onResend: (content: string) => void;
  onCancel: () => void;
}

/** A user message being edited: resending it starts a new branch from there. */
export function EditPrompt(props: EditPromptProps): JSX.Element {
  const [text, setText] = React.useState(props.content);
  return (
    <div className="jp-ModelStudio-chatEdit">
      <textarea
        className="jp-ModelStudio-textarea"
        value={text}
        rows={2}
        autoFocus
        data-testid="chat-edit-input"
        onChange={e => setText(e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter' && !e.shiftKey && text.trim()) {
            e.preventDefault();
            props.onResend(text.trim());
          } else if (e.key === 'Escape') {
            props.onCancel();
          }
        }}
      />
      <div className="jp-ModelStudio-cardActions">
        <button
          className="jp-ModelStudio-button jp-mod-accept"
          data-testid="chat-edit-resend"
          disabled={!text.trim()}
          onClick={() => props.onResend(text.trim())}
        >
          Resend
        </button>
        <button className="jp-ModelStudio-button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
