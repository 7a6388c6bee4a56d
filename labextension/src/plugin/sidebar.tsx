/**
 * The left sidebar: what is managed at a glance (Library, Downloads, Running, System), with
 * buttons that open the views of `views.tsx` (Chat, Fine-tune, Video, ...) as main-area panels.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import type { DataSource } from '../api/source';
import { NavContext, type StudioNav, type StudioTarget, useNav } from '../components/nav';
import { PrefsContext } from '../components/prefs';
import { SIDEBAR_TABS, StudioTabs } from '../components/StudioTabs';
import { viewFor, viewKinds } from '../components/views';
import { studioIcon } from '../icon';
import type { PrefsStore } from './prefs';

export const SIDEBAR_ID = 'model-studio-sidebar';

/** One button per view that has a component (no model needed to open it). */
function OpenButtons(): JSX.Element | null {
  const nav = useNav();
  const kinds = viewKinds().filter(k => k !== 'model');
  if (!nav || kinds.length === 0) {
    return null;
  }
  return (
    <div className="jp-ModelStudio-openBar" data-testid="sidebar-open-bar">
      {kinds.map(kind => {
        const view = viewFor(kind)!;
        return (
          <button
            key={kind}
            className="jp-ModelStudio-openButton"
            title={view.caption}
            data-testid={`sidebar-open-${kind}`}
            onClick={() => nav.open({ kind } as StudioTarget)}
          >
            {view.action}
          </button>
        );
      })}
    </div>
  );
}

export class StudioSidebar extends ReactWidget {
  /** The tabs' own navigation (selects Library, Downloads, Running or System). */
  readonly tabsNav: { current: StudioNav | null } = { current: null };
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: DataSource,
    private readonly nav: StudioNav,
    private readonly prefs: PrefsStore
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-ModelStudio-sidebar');
    this.title.icon = studioIcon;
    this.title.caption = 'Model Studio';
    this.unsubscribe = prefs.subscribe(() => this.update());
  }

  dispose(): void {
    this.unsubscribe();
    super.dispose();
  }

  render(): JSX.Element {
    // The tabs handle library/downloads/running/system themselves; the rest goes to `nav`.
    const openElsewhere = (target: StudioTarget): boolean => {
      this.nav.open(target);
      return true;
    };
    return (
      <PrefsContext.Provider value={this.prefs.current}>
        <NavContext.Provider value={this.nav}>
          <OpenButtons />
        </NavContext.Provider>
        <StudioTabs
          source={this.source}
          tabs={SIDEBAR_TABS}
          openElsewhere={openElsewhere}
          navRef={this.tabsNav}
        />
      </PrefsContext.Provider>
    );
  }
}
