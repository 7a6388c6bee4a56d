import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';
import { ChatPanel } from './chat';
import { DownloadsPanel } from './DownloadsPanel';
import { JobCenter } from './jobs';
import { LibraryPanel } from './LibraryPanel';
import { ModelPage } from './model';
import { NavContext, type StudioNav, type StudioTarget } from './nav';
import { RunningPanel } from './RunningPanel';
import { SettingsPanel } from './settings';
import { SystemPanel } from './SystemPanel';
import { TrainingPanel } from './training';
import { VideoPanel } from './video';

/** What a tab gets to render itself with. */
export interface TabContext {
  source: DataSource;
  /** Switch to another tab by id. */
  select: (id: string) => void;
}

export interface StudioTab {
  id: string;
  label: string;
  render: (ctx: TabContext) => JSX.Element;
}

/** The studio's tabs, in order. Adding a tab (Chat, Training, Video) is one line here. */
export const DEFAULT_TABS: StudioTab[] = [
  {
    id: 'library',
    label: 'Library',
    render: ({ source, select }) => (
      <LibraryPanel source={source} onDownloadStarted={(_job: Job) => select('downloads')} />
    )
  },
  {
    id: 'downloads',
    label: 'Downloads',
    render: ({ source }) => <DownloadsPanel source={source} />
  },
  { id: 'chat', label: 'Chat', render: ({ source }) => <ChatPanel source={source} /> },
  {
    id: 'training',
    label: 'Training',
    render: ({ source }) => <TrainingPanel source={source} />
  },
  { id: 'video', label: 'Video', render: ({ source }) => <VideoPanel source={source} /> },
  { id: 'running', label: 'Running', render: ({ source }) => <RunningPanel source={source} /> },
  { id: 'system', label: 'System', render: ({ source }) => <SystemPanel source={source} /> },
  { id: 'jobs', label: 'Jobs', render: ({ source }) => <JobCenter source={source} /> },
  { id: 'settings', label: 'Settings', render: ({ source }) => <SettingsPanel source={source} /> }
];

export interface StudioTabsProps {
  source: DataSource;
  tabs?: StudioTab[];
  initialTab?: string;
}

/**
 * Every panel in tabs. A tab is mounted when first shown and then kept (hidden), so live
 * subscriptions and scroll positions survive switching.
 */
export function StudioTabs(props: StudioTabsProps): JSX.Element {
  const tabs = props.tabs ?? DEFAULT_TABS;
  const [current, setCurrent] = React.useState(props.initialTab ?? tabs[0]?.id);
  const [mounted, setMounted] = React.useState<Set<string>>(() => new Set([current]));
  const select = React.useCallback((id: string) => {
    setCurrent(id);
    setMounted(prev => (prev.has(id) ? prev : new Set(prev).add(id)));
  }, []);
  const ctx: TabContext = { source: props.source, select };
  // A minimal navigation host (the JupyterLab shell's main-area panels replace it there): a model's
  // page opens in a "Model" tab; other targets switch to their tab when there is one.
  const [opened, setOpened] = React.useState<Extract<StudioTarget, { kind: 'model' }> | null>(null);
  const nav = React.useMemo<StudioNav>(
    () => ({
      open: target => {
        if (target.kind === 'model') {
          setOpened(target);
          select('model');
        } else if (tabs.some(t => t.id === target.kind)) {
          select(target.kind);
        }
      }
    }),
    [select, tabs]
  );
  const shown: StudioTab[] = opened
    ? [
        ...tabs,
        {
          id: 'model',
          label: opened.model.split('/').pop() ?? 'Model',
          render: ({ source }) => (
            <ModelPage
              key={`${opened.model}:${opened.variant ?? ''}`}
              source={source}
              model={opened.model}
              variant={opened.variant}
            />
          )
        }
      ]
    : tabs;

  const onKeyDown = (e: React.KeyboardEvent): void => {
    const i = tabs.findIndex(t => t.id === current);
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
      select(next.id);
      e.preventDefault();
    }
  };

  return (
    <NavContext.Provider value={nav}>
      <div className="jp-ModelStudio" data-testid="model-studio">
        <div className="jp-ModelStudio-tabBar" role="tablist" onKeyDown={onKeyDown}>
          {shown.map(tab => (
            <button
              key={tab.id}
              role="tab"
              id={`jp-ModelStudio-tab-${tab.id}`}
              aria-selected={tab.id === current}
              tabIndex={tab.id === current ? 0 : -1}
              className={`jp-ModelStudio-tab${tab.id === current ? ' jp-mod-current' : ''}`}
              data-testid={`tab-${tab.id}`}
              onClick={() => select(tab.id)}
            >
              {tab.label}
            </button>
          ))}
        </div>
        {shown
          .filter(tab => mounted.has(tab.id))
          .map(tab => (
            <div
              key={tab.id}
              role="tabpanel"
              aria-labelledby={`jp-ModelStudio-tab-${tab.id}`}
              className="jp-ModelStudio-tabPanel"
              hidden={tab.id !== current}
              data-testid={`tabpanel-${tab.id}`}
            >
              {tab.render(ctx)}
            </div>
          ))}
      </div>
    </NavContext.Provider>
  );
}
