/**
 * The studio's views that open on their own (a JupyterLab main-area panel, or a tab of the
 * notebook `Studio` widget), one entry per `StudioTarget` kind. The lab plugin registers a command,
 * a palette item and a panel for each entry; the `Studio` widget a tab. A kind with no entry gets
 * no button anywhere, so adding a view (the model page, settings, the job center) is one line here.
 */
import * as React from 'react';

import type { DataSource } from '../api/source';
import { ChatPanel } from './chat';
import { JobCenter } from './jobs';
import { ModelPage } from './model';
import type { StudioTarget } from './nav';
import { SettingsPanel } from './settings';
import { TrainingPanel } from './training';
import { VideoPanel } from './video';

export type ViewKind = 'chat' | 'training' | 'video' | 'model' | 'settings' | 'jobs';

/** What a view is rendered with. */
export interface ViewContext {
  source: DataSource;
  /**
   * Record what the view now shows (a chat's model or conversation), so that a reload restores
   * the panel on it. Hosts without restore ignore it.
   */
  retarget: (target: StudioTarget) => void;
  /** The host restores the view on its target after a reload (the lab's panels); else the view
   * remembers what it showed itself (a chat's conversation, in localStorage). */
  restores?: boolean;
}

export interface StudioView {
  /** Tab and launcher label ("Chat"). */
  label: string;
  /** A verb for buttons and the palette ("Fine-tune"). */
  action: string;
  caption: string;
  render: (target: StudioTarget, ctx: ViewContext) => JSX.Element;
  /** The panel's title for a target (default: the label, then the model's short name). */
  title?: (target: StudioTarget) => string;
}

function modelOf(target: StudioTarget): string | undefined {
  return 'model' in target && target.model ? target.model : undefined;
}

export const VIEWS: Partial<Record<ViewKind, StudioView>> = {
  chat: {
    label: 'Chat',
    action: 'Chat',
    caption: 'Chat with a local model',
    render: (t, { source, retarget, restores }) => (
      <ChatPanel
        source={source}
        initialModel={modelOf(t)}
        onModelChange={model => retarget({ kind: 'chat', model })}
        conversation={t.kind === 'chat' ? t.conversation : undefined}
        remember={!restores}
        onConversationChange={id => retarget({ kind: 'chat', conversation: id || undefined })}
      />
    )
  },
  training: {
    label: 'Fine-tune',
    action: 'Fine-tune',
    caption: 'Fine-tune a model with LoRA and watch the loss',
    render: (_t, { source }) => <TrainingPanel source={source} />
  },
  video: {
    label: 'Video',
    action: 'Video',
    caption: 'Generate a video from a prompt or an image',
    render: (t, { source, retarget }) => (
      <VideoPanel
        source={source}
        initialModel={modelOf(t)}
        onModelChange={model => retarget({ ...t, kind: 'video', model })}
      />
    )
  },
  model: {
    label: 'Model',
    action: 'Open',
    caption: "A model's page: card, files, revisions, quantizations and what it can do here",
    render: (t, { source }) =>
      t.kind === 'model' ? (
        <ModelPage
          key={`${t.model}:${t.variant ?? ''}`}
          source={source}
          model={t.model}
          variant={t.variant}
        />
      ) : (
        <></>
      )
  },
  settings: {
    label: 'Settings',
    action: 'Settings',
    caption: 'Hugging Face login, memory budget, downloads, model folders and backends',
    render: (_t, { source }) => <SettingsPanel source={source} />
  },
  jobs: {
    label: 'Jobs',
    action: 'Jobs',
    caption: 'Every download, batch, training run and video generation',
    render: (_t, { source }) => <JobCenter source={source} />
  }
};

export function viewFor(kind: string): StudioView | undefined {
  return (VIEWS as Record<string, StudioView | undefined>)[kind];
}

/** The kinds that have a view, in the order above. */
export function viewKinds(): ViewKind[] {
  return Object.keys(VIEWS) as ViewKind[];
}

/** A panel title: "Chat", "Chat · SmolLM2-135M-Instruct". */
export function viewTitle(target: StudioTarget): string {
  const view = viewFor(target.kind);
  if (view?.title) {
    return view.title(target);
  }
  const model = modelOf(target);
  const label = view?.label ?? target.kind;
  return model ? `${label} · ${model.split('/').pop()}` : label;
}

/** Whether two targets of one kind differ in what they show (a model or a conversation). */
export function sameTarget(a: StudioTarget, b: StudioTarget): boolean {
  const conv = (t: StudioTarget): string | undefined =>
    'conversation' in t ? t.conversation : undefined;
  return a.kind === b.kind && modelOf(a) === modelOf(b) && conv(a) === conv(b);
}
