// The chat's saved conversation: which one is open, and saving its messages as they complete.
//
// Saves are chained per column (lane): each message is appended after the one saved before it
// in that column, so the answer's parent is its prompt even while the prompt's save is in
// flight. A conversation is created with the first message.
import * as React from 'react';

import type { DataSource } from '../../api/source';
import { StudioApiError } from '../../api/source';
import type { Conversation, ConversationMeta, NewMessage } from '../../api/types';
import { rememberConversation, rememberedConversation } from './conversation';

export interface ConversationOptions {
  source: DataSource;
  /** The conversation to open first (a host's choice); else the remembered one when `remember`. */
  initial?: string | null;
  /** Keep the open conversation's id in localStorage, and restore it on reload. */
  remember: boolean;
  /** A conversation was opened, branched or switched: show it. */
  onLoaded: (conv: Conversation) => void;
  /** Sibling ids changed (an answer was regenerated): update the turns' branch switchers. */
  onSiblings: (conv: Conversation) => void;
  onError: (error: Error) => void;
  onChange?: (id: string) => void;
  /** True while answers stream (a reload from another window waits). */
  busy: () => boolean;
}

export interface ConversationControl {
  id: string | null;
  title: string;
  /** Bumped after every save: the list refreshes on it. */
  version: number;
  open: (id: string) => Promise<void>;
  startNew: () => void;
  saveUser: (col: number, content: string, meta: ConversationMeta) => Promise<string | null>;
  /** Save a message the user gives (a prompt, or a tool's result) after the column's last. */
  saveMessage: (col: number, m: NewMessage, meta: ConversationMeta) => Promise<string | null>;
  saveAnswer: (col: number, after: Promise<string | null>, m: NewMessage) => Promise<string | null>;
  /** The last saved message of `col` is `id` (a regenerate answers it again). */
  restartFrom: (col: number, id: string | null) => Promise<string | null>;
  branch: (messageId: string, content: string) => Promise<Conversation | null>;
  select: (messageId: string) => Promise<void>;
  /** The open conversation was renamed (from the list). */
  renamed: (title: string) => void;
}

const NOT_YET = Promise.resolve<string | null>(null);

export function useConversation(options: ConversationOptions): ConversationControl {
  const { source } = options;
  const opts = React.useRef(options);
  opts.current = options;
  const [id, setId] = React.useState<string | null>(null);
  const [title, setTitle] = React.useState('');
  const [version, setVersion] = React.useState(0);
  const conv = React.useRef<Promise<string> | null>(null);
  const tails = React.useRef<Promise<string | null>[]>([]);
  const meta = React.useRef('');
  const known = React.useRef(0); // updated_at of the last change this panel made or saw
  const pending = React.useRef(0);
  const shown = React.useRef<string | null>(null); // the id shown (set before React re-renders)

  const bump = (updatedAt?: number): void => {
    if (updatedAt) {
      known.current = Math.max(known.current, updatedAt);
    }
    setVersion(v => v + 1);
  };

  const current = (cid: string | null): void => {
    shown.current = cid;
    setId(cid);
    if (opts.current.remember) {
      rememberConversation(cid);
    }
    opts.current.onChange?.(cid ?? ''); // '' : a new, not yet saved conversation
  };

  const loaded = (c: Conversation): void => {
    conv.current = Promise.resolve(c.id);
    tails.current = c.lanes.map(lane =>
      Promise.resolve(lane.messages.length ? lane.messages[lane.messages.length - 1].id : null)
    );
    meta.current = JSON.stringify([c.models, c.system_prompt, c.sampling]);
    known.current = c.updated_at;
    setTitle(c.title);
    current(c.id);
    opts.current.onLoaded(c);
  };

  const fail = (err: unknown): null => {
    opts.current.onError(StudioApiError.from(err));
    return null;
  };

  /** Track a save, so a reload from elsewhere never lands in the middle of one. */
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.current += 1;
    return p.finally(() => {
      pending.current -= 1;
    });
  };

  const open = React.useCallback(
    async (cid: string): Promise<void> => {
      try {
        loaded(await source.getConversation(cid));
      } catch (err) {
        if (err instanceof StudioApiError && err.type === 'NotFoundError') {
          startNew(); // deleted meanwhile: start afresh rather than show an error
        } else {
          fail(err);
        }
      }
    },
    [source]
  );

  const startNew = (): void => {
    conv.current = null;
    tails.current = [];
    meta.current = '';
    known.current = 0;
    setTitle('');
    current(null);
  };

  const ensure = (m: ConversationMeta): Promise<string> => {
    const wanted = JSON.stringify([m.models, m.system_prompt ?? '', m.sampling ?? {}]);
    if (!conv.current) {
      const created = source.createConversation(m).then(c => {
        meta.current = JSON.stringify([c.models, c.system_prompt, c.sampling]);
        setTitle(c.title);
        current(c.id);
        bump(c.updated_at);
        return c.id;
      });
      created.catch(() => {
        if (conv.current === created) {
          conv.current = null;
        }
      });
      conv.current = created;
    } else if (wanted !== meta.current) {
      meta.current = wanted;
      void conv.current
        .then(cid => source.updateConversation(cid, m))
        .then(c => bump(c.updated_at), fail);
    }
    return conv.current;
  };

  const append = (
    col: number,
    after: Promise<string | null>,
    m: NewMessage,
    cid: Promise<string>
  ) => {
    const p = track(
      Promise.all([cid, after]).then(async ([c, parent]) => {
        const r = await source.appendMessages(c, [m], parent, col);
        bump(r.updated_at);
        setTitle(r.title);
        return r.head;
      })
    ).catch(fail);
    tails.current[col] = p;
    return p;
  };

  const saveMessage = (col: number, message: NewMessage, m: ConversationMeta) => {
    const after = tails.current[col] ?? NOT_YET;
    return append(col, after, message, ensure(m));
  };

  const saveUser = (col: number, content: string, m: ConversationMeta): Promise<string | null> =>
    saveMessage(col, { role: 'user', content }, m);

  const saveAnswer = (
    col: number,
    after: Promise<string | null>,
    m: NewMessage
  ): Promise<string | null> => {
    if (!conv.current) {
      return NOT_YET;
    }
    const cid = conv.current;
    const p = append(col, after, m, cid);
    // a regenerated answer has siblings now: refresh the branch switchers
    void p.then(async saved => {
      if (saved) {
        try {
          opts.current.onSiblings(await source.getConversation(await cid));
        } catch {
          // the switchers catch up on the next load
        }
      }
    });
    return p;
  };

  const restartFrom = (col: number, mid: string | null): Promise<string | null> => {
    const p = mid ? Promise.resolve(mid) : (tails.current[col] ?? NOT_YET);
    tails.current[col] = p;
    return p;
  };

  const branch = async (messageId: string, content: string): Promise<Conversation | null> => {
    if (!conv.current) {
      return null;
    }
    try {
      const c = await track(source.branchConversation(await conv.current, messageId, content));
      loaded(c);
      bump(c.updated_at);
      return c;
    } catch (err) {
      return fail(err);
    }
  };

  const select = async (messageId: string): Promise<void> => {
    if (!conv.current) {
      return;
    }
    try {
      loaded(await source.selectBranch(await conv.current, messageId));
    } catch (err) {
      fail(err);
    }
  };

  // Open the host's choice or the remembered conversation; follow a new choice of the host.
  const [remembered] = React.useState(() => (options.remember ? rememberedConversation() : null));
  const initial = options.initial || remembered;
  React.useEffect(() => {
    if (initial && initial !== shown.current) {
      void open(initial);
    }
  }, [initial, open]);

  // Messages another window or a %%chat cell added: reload when idle (on focus, and every 10 s).
  React.useEffect(() => {
    const check = async (): Promise<void> => {
      const cid = id;
      if (!cid || pending.current || opts.current.busy()) {
        return;
      }
      try {
        const c = await source.getConversation(cid);
        if (c.updated_at > known.current + 1e-6 && !pending.current && !opts.current.busy()) {
          loaded(c);
        }
      } catch {
        // a deleted conversation stays on screen until another is opened
      }
    };
    const onFocus = (): void => void check();
    window.addEventListener('focus', onFocus);
    const timer = window.setInterval(() => void check(), 10_000);
    return () => {
      window.removeEventListener('focus', onFocus);
      window.clearInterval(timer);
    };
  }, [id, source]);

  return {
    id,
    title,
    version,
    open,
    startNew,
    saveUser,
    saveMessage,
    saveAnswer,
    restartFrom,
    branch,
    select,
    renamed: setTitle
  };
}
