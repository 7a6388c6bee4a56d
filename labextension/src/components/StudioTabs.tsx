import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';
import { DownloadsPanel } from './DownloadsPanel';
import { LibraryPanel } from './LibraryPanel';
import { NavContext, type StudioNav, type StudioTarget } from './nav';
import { RunningPanel } from './RunningPanel';
import { SystemPanel } from './SystemPanel';
import { sameTarget, viewFor, viewKinds, viewTitle, type ViewKind } from './views';

/** What a tab gets to render itself with. */
export interface TabContext {
  source: DataSource;
  /** Switch to another tab by id. */
  select: (id: string) => void;
  /** What the tab was last opened on (`useNav().open(...)`), if anything. */
  target?: StudioTarget;
}

export interface StudioTab {
  id: string;
  label: string;
  render: (ctx: TabContext) => JSX.Element;
  /** A tab opened on demand (a model's page) that the user can close. */
  closable?: boolean;
}

const LIBRARY: StudioTab = {
  id: 'library',
  label: 'Library',
  render: ({ source, select }) => (
    <LibraryPanel source={source} onDownloadStarted={(_job: Job) => select('downloads')} />
  )
};
const DOWNLOADS: StudioTab = {
  id: 'downloads',
  label: 'Downloads',
  render: ({ source }) => <DownloadsPanel source={source} />
};
const RUNNING: StudioTab = {
  id: 'running',
  label: 'Running',
  render: ({ source }) => <RunningPanel source={source} />
};
const SYSTEM: StudioTab = {
  id: 'system',
  label: 'System',
  render: ({ source }) => <SystemPanel source={source} />
};

/** A tab for a view of `views.tsx` (chat, training, video, ...), on its target. */
export function viewTab(kind: ViewKind, id: string = kind, target?: StudioTarget): StudioTab {
  const view = viewFor(kind)!;
  return {
    id,
    label: target ? viewTitle(target) : view.label,
    closable: id !== kind,
    render: ({ source, target: opened }) =>
      view.render(opened ?? target ?? ({ kind } as StudioTarget), { source, retarget: () => {} })
  };
}

/** What the JupyterLab sidebar shows: what is managed at a glance. */
export const SIDEBAR_TABS: StudioTab[] = [LIBRARY, DOWNLOADS, RUNNING, SYSTEM];

const TAB_VIEWS: ViewKind[] = ['chat', 'training', 'video'];

/**
 * The notebook `Studio` widget's tabs, in order: it has no main area, so every view is a tab
 * (the settings and the job center once they are in `VIEWS`; a model's page opens as its own tab).
 */
export const DEFAULT_TABS: StudioTab[] = [
  LIBRARY,
  DOWNLOADS,
  ...TAB_VIEWS.filter(k => viewFor(k)).map(k => viewTab(k)),
  RUNNING,
  SYSTEM,
  ...viewKinds()
    .filter(k => k === 'settings' || k === 'jobs')
    .map(k => viewTab(k))
];

export interface StudioTabsProps {
  source: DataSource;
  tabs?: StudioTab[];
  initialTab?: string;
  /**
   * Open a target that is not one of the tabs (the lab sidebar: a main-area panel). Returns
   * whether it did; when it did not, a model's page opens as a tab of its own.
   */
  openElsewhere?: (target: StudioTarget) => boolean;
  /** Receives the tabs' navigation, for a host that opens tabs from outside (the lab's nav). */
  navRef?: { current: StudioNav | null };
}

interface Opened {
  target: StudioTarget;
  /** Bumped when the tab is opened on something else, to mount it afresh. */
  nonce: number;
}

/**
 * Every panel in tabs. A tab is mounted when first shown and then kept (hidden), so live
 * subscriptions and scroll positions survive switching. Provides the views' navigation
 * (`useNav()`): a target that is a tab selects it (mounted afresh when it names another model).
 */
export function StudioTabs(props: StudioTabsProps): JSX.Element {
  const [extra, setExtra] = React.useState<StudioTab[]>([]);
  const tabs = [...(props.tabs ?? DEFAULT_TABS), ...extra];
  const [current, setCurrent] = React.useState(props.initialTab ?? tabs[0]?.id);
  const [mounted, setMounted] = React.useState<Set<string>>(() => new Set([current]));
  const [opened, setOpened] = React.useState<Record<string, Opened>>({});
  const select = React.useCallback((id: string) => {
    setCurrent(id);
    setMounted(prev => (prev.has(id) ? prev : new Set(prev).add(id)));
  }, []);

  const latest = React.useRef({ tabs, opened, openElsewhere: props.openElsewhere });
  latest.current = { tabs, opened, openElsewhere: props.openElsewhere };
  const nav: StudioNav = React.useMemo(
    () => ({
      open(target: StudioTarget) {
        const { tabs, opened, openElsewhere } = latest.current;
        const model = target.kind === 'model' ? target.model : undefined;
        const id = model ? `model:${model}` : target.kind;
        if (tabs.some(t => t.id === id)) {
          const before = opened[id];
          if (!model && !sameTarget(before?.target ?? { kind: target.kind }, target)) {
            setOpened(prev => ({ ...prev, [id]: { target, nonce: (before?.nonce ?? 0) + 1 } }));
          }
          select(id);
        } else if (openElsewhere?.(target)) {
          return;
        } else if (model && viewFor('model')) {
          setExtra(prev => [...prev, viewTab('model', id, target)]);
          select(id);
        }
      }
    }),
    [select]
  );
  if (props.navRef) {
    props.navRef.current = nav;
  }

  const close = (id: string): void => {
    setExtra(prev => prev.filter(t => t.id !== id));
    setMounted(prev => {
      const next = new Set(prev);
      next.delete(id);
      return next;
    });
    if (current === id) {
      setCurrent(tabs[0]?.id);
    }
  };

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
          {tabs.map(tab => (
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
              {tab.closable && (
                <span
                  className="jp-ModelStudio-tabClose"
                  role="button"
                  aria-label={`Close ${tab.label}`}
                  data-testid={`tab-close-${tab.id}`}
                  onClick={e => {
                    e.stopPropagation();
                    close(tab.id);
                  }}
                >
                  ×
                </span>
              )}
            </button>
          ))}
        </div>
        {tabs
          .filter(tab => mounted.has(tab.id))
          .map(tab => (
            <div
              key={`${tab.id}:${opened[tab.id]?.nonce ?? 0}`}
              role="tabpanel"
              aria-labelledby={`jp-ModelStudio-tab-${tab.id}`}
              className="jp-ModelStudio-tabPanel"
              hidden={tab.id !== current}
              data-testid={`tabpanel-${tab.id}`}
            >
              {tab.render({ source: props.source, select, target: opened[tab.id]?.target })}
            </div>
          ))}
      </div>
    </NavContext.Provider>
  );
}
