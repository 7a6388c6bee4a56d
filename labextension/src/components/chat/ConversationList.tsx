import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { ConversationSummary } from '../../api/types';
import { download } from './conversation';

export interface ConversationListProps {
  source: DataSource;
  /** The conversation the chat shows. */
  current: string | null;
  /** Changes after every save: the list reloads. */
  version: number;
  onOpen: (id: string) => void;
  onNew: () => void;
  onDeleted: (id: string) => void;
  onRenamed: (id: string, title: string) => void;
  onError: (error: Error) => void;
}

const PAGE = 50;

/** Saved conversations: search, new, open, rename, delete, export and import. */
export function ConversationList(props: ConversationListProps): JSX.Element {
  const { source, current, version, onError } = props;
  const [q, setQ] = React.useState('');
  const [items, setItems] = React.useState<ConversationSummary[]>([]);
  const [total, setTotal] = React.useState(0);
  const [limit, setLimit] = React.useState(PAGE);
  const [renaming, setRenaming] = React.useState<{ id: string; title: string } | null>(null);
  const [deleting, setDeleting] = React.useState<string | null>(null);
  const fileInput = React.useRef<HTMLInputElement>(null);

  const refresh = React.useCallback(async () => {
    try {
      const list = await source.listConversations(q.trim(), limit, 0);
      setItems(list.conversations);
      setTotal(list.total);
    } catch (err) {
      onError(err as Error);
    }
  }, [source, q, limit, version]);

  React.useEffect(() => {
    const timer = window.setTimeout(() => void refresh(), 150); // typing in the search box
    return () => window.clearTimeout(timer);
  }, [refresh]);

  const rename = async (): Promise<void> => {
    if (!renaming || !renaming.title.trim()) {
      setRenaming(null);
      return;
    }
    try {
      const conv = await source.renameConversation(renaming.id, renaming.title.trim());
      setRenaming(null);
      props.onRenamed(conv.id, conv.title);
      void refresh();
    } catch (err) {
      onError(err as Error);
    }
  };

  const remove = async (id: string): Promise<void> => {
    try {
      await source.deleteConversation(id);
      setDeleting(null);
      props.onDeleted(id);
      void refresh();
    } catch (err) {
      onError(err as Error);
    }
  };

  const exportAs = async (id: string, format: 'json' | 'markdown'): Promise<void> => {
    try {
      const file = await source.exportConversation(id, format);
      download(file.content, file.filename, file.media_type);
    } catch (err) {
      onError(err as Error);
    }
  };

  const importFile = async (file: File | undefined): Promise<void> => {
    if (!file) {
      return;
    }
    try {
      const text = await file.text();
      let data: unknown = text; // not JSON: the server names the problem
      try {
        data = JSON.parse(text);
      } catch {
        // sent as text
      }
      const conv = await source.importConversation(data);
      props.onOpen(conv.id);
      void refresh();
    } catch (err) {
      onError(err as Error);
    } finally {
      if (fileInput.current) {
        fileInput.current.value = '';
      }
    }
  };

  return (
    <div className="jp-ModelStudio-convList" data-testid="conversation-list">
      <div className="jp-ModelStudio-toolbar">
        <input
          className="jp-ModelStudio-search"
          placeholder="Search conversations"
          value={q}
          data-testid="conversation-search"
          onChange={e => setQ(e.target.value)}
        />
        <button
          className="jp-ModelStudio-button jp-mod-accept"
          data-testid="conversation-new"
          onClick={props.onNew}
        >
          New
        </button>
        <button
          className="jp-ModelStudio-button"
          data-testid="conversation-import"
          onClick={() => fileInput.current?.click()}
        >
          Import
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".json,application/json"
          style={{ display: 'none' }}
          data-testid="conversation-import-file"
          onChange={e => void importFile(e.target.files?.[0])}
        />
      </div>
      {items.length === 0 && (
        <div className="jp-ModelStudio-empty">
          {q.trim() ? 'No conversation matches.' : 'No saved conversations yet.'}
        </div>
      )}
      <ul className="jp-ModelStudio-convItems">
        {items.map(c => (
          <li
            key={c.id}
            className={`jp-ModelStudio-convItem${c.id === current ? ' jp-mod-current' : ''}`}
            data-testid={`conversation-${c.id}`}
            data-current={c.id === current ? 'true' : 'false'}
          >
            {renaming?.id === c.id ? (
              <input
                className="jp-ModelStudio-search"
                autoFocus
                value={renaming?.title ?? ''}
                data-testid="conversation-rename-input"
                onChange={e => setRenaming({ id: c.id, title: e.target.value })}
                onBlur={() => void rename()}
                onKeyDown={e => {
                  if (e.key === 'Enter') {
                    void rename();
                  } else if (e.key === 'Escape') {
                    setRenaming(null);
                  }
                }}
              />
            ) : (
              <button
                className="jp-ModelStudio-convOpen"
                title={c.preview}
                data-testid="conversation-open"
                onClick={() => props.onOpen(c.id)}
              >
                <span className="jp-ModelStudio-convTitle" data-testid="conversation-title">
                  {c.title || 'Untitled'}
                </span>
                <span className="jp-ModelStudio-muted">
                  {c.message_count} messages · {new Date(c.updated_at * 1000).toLocaleString()}
                </span>
              </button>
            )}
            <span className="jp-ModelStudio-convActions">
              {deleting === c.id ? (
                <>
                  <button
                    className="jp-ModelStudio-button jp-mod-warn"
                    data-testid="conversation-delete-confirm"
                    onClick={() => void remove(c.id)}
                  >
                    Delete?
                  </button>
                  <button className="jp-ModelStudio-button" onClick={() => setDeleting(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <>
                  <button
                    className="jp-ModelStudio-button"
                    data-testid="conversation-rename"
                    onClick={() => setRenaming({ id: c.id, title: c.title })}
                  >
                    Rename
                  </button>
                  <button
                    className="jp-ModelStudio-button"
                    data-testid="conversation-export-json"
                    onClick={() => void exportAs(c.id, 'json')}
                  >
                    JSON
                  </button>
                  <button
                    className="jp-ModelStudio-button"
                    data-testid="conversation-export-markdown"
                    onClick={() => void exportAs(c.id, 'markdown')}
                  >
                    MD
                  </button>
                  <button
                    className="jp-ModelStudio-button"
                    data-testid="conversation-delete"
                    onClick={() => setDeleting(c.id)}
                  >
                    Delete
                  </button>
                </>
              )}
            </span>
          </li>
        ))}
      </ul>
      {total > items.length && (
        <button
          className="jp-ModelStudio-button"
          data-testid="conversation-more"
          onClick={() => setLimit(l => l + PAGE)}
        >
          Show more ({total - items.length})
        </button>
      )}
    </div>
  );
}
