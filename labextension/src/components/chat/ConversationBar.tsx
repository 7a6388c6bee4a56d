import * as React from 'react';

import type { DataSource } from '../../api/source';
import { ConversationList } from './ConversationList';
import type { ConversationControl } from './useConversation';

export interface ConversationBarProps {
  source: DataSource;
  conv: ConversationControl;
  streaming: boolean;
  /** Start a new conversation (the chat is cleared; the saved one stays in the list). */
  onNew: () => void;
  onError: (error: Error) => void;
}

/** The open conversation's title, and the list of saved ones in a drawer that folds away. */
export function ConversationBar(props: ConversationBarProps): JSX.Element {
  const { source, conv, streaming, onError } = props;
  const [open, setOpen] = React.useState(false);
  return (
    <div className="jp-ModelStudio-convPane">
      <div className="jp-ModelStudio-convBar">
        <button
          className="jp-ModelStudio-button"
          aria-expanded={open}
          data-testid="conversations-toggle"
          onClick={() => setOpen(o => !o)}
        >
          {open ? '▾' : '▸'} Conversations
        </button>
        <span
          className="jp-ModelStudio-convCurrent"
          data-testid="conversation-current"
          data-id={conv.id ?? ''}
          title={conv.title}
        >
          {conv.id ? conv.title || 'Untitled' : 'New conversation'}
        </span>
      </div>
      {open && (
        <ConversationList
          source={source}
          current={conv.id}
          version={conv.version}
          onOpen={id => {
            if (!streaming) {
              void conv.open(id);
            }
          }}
          onNew={props.onNew}
          onDeleted={id => {
            if (id === conv.id) {
              props.onNew();
            }
          }}
          onRenamed={(id, title) => {
            if (id === conv.id) {
              conv.renamed(title);
            }
          }}
          onError={onError}
        />
      )}
    </div>
  );
}
