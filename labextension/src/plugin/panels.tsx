/**
 * Main-area panels: one `MainAreaWidget` per target (several chats at once, a page per model),
 * tracked for layout restore. Each panel provides the studio's navigation and preferences to
 * its view.
 */
import type { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, ReactWidget, WidgetTracker } from '@jupyterlab/apputils';
import * as React from 'react';

import type { DataSource } from '../api/source';
import { NavContext, type StudioNav, type StudioTarget } from '../components/nav';
import { PrefsContext } from '../components/prefs';
import { sameTarget, viewFor, viewTitle } from '../components/views';
import { studioIcon } from '../icon';
import type { PrefsStore } from './prefs';

/** The command that (re)opens a panel from its restore args: a target plus `panel`, its key. */
export const OPEN_PANEL = 'model-studio:open-panel';

let counter = 0;

/** A fresh key for a target: one panel per model page and per view, a new one per chat. */
function keyFor(target: StudioTarget): string {
  if (target.kind === 'model') {
    return `model:${target.model}`;
  }
  if (target.kind === 'chat') {
    return target.conversation
      ? `chat:${target.conversation}`
      : `chat:${Date.now().toString(36)}${(counter++).toString(36)}`;
  }
  return target.kind;
}

export class StudioPanel extends ReactWidget {
  private nonce = 0;
  private readonly unsubscribe: () => void;

  constructor(
    public target: StudioTarget,
    readonly key: string,
    private readonly source: DataSource,
    private readonly nav: StudioNav,
    private readonly prefs: PrefsStore,
    private readonly onRetarget: (panel: StudioPanel) => void
  ) {
    super();
    this.addClass('jp-ModelStudio-mainPanel');
    this.unsubscribe = prefs.subscribe(() => this.update());
  }

  /** Show another target (the view is mounted afresh). */
  reopen(target: StudioTarget): void {
    this.target = target;
    this.nonce += 1;
    this.update();
  }

  dispose(): void {
    this.unsubscribe();
    super.dispose();
  }

  render(): JSX.Element {
    const view = viewFor(this.target.kind);
    // Merged into the current target: a chat records its model and its conversation separately.
    const retarget = (target: StudioTarget): void => {
      this.target = { ...this.target, ...target } as StudioTarget;
      this.onRetarget(this);
    };
    return (
      <PrefsContext.Provider value={this.prefs.current}>
        <NavContext.Provider value={this.nav}>
          <div
            className="jp-ModelStudio"
            data-testid={`studio-panel-${this.target.kind}`}
            data-panel-key={this.key}
          >
            <div key={this.nonce} className="jp-ModelStudio-tabPanel">
              {view
                ? view.render(this.target, { source: this.source, retarget, restores: true })
                : null}
            </div>
          </div>
        </NavContext.Provider>
      </PrefsContext.Provider>
    );
  }
}

export type StudioMainWidget = MainAreaWidget<StudioPanel>;

/** Opens, finds and restores the studio's main-area panels. */
export class PanelManager {
  readonly tracker = new WidgetTracker<StudioMainWidget>({ namespace: 'model-studio' });

  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly source: DataSource,
    private readonly nav: StudioNav,
    private readonly prefs: PrefsStore
  ) {}

  restore(restorer: ILayoutRestorer): void {
    void restorer.restore(this.tracker, {
      command: OPEN_PANEL,
      args: w => ({ ...w.content.target, panel: w.content.key }),
      name: w => w.content.key
    });
  }

  /** Reveal the panel on `target` (mounted afresh on a new model), or open a new one. */
  open(target: StudioTarget, key?: string): StudioMainWidget | null {
    if (!viewFor(target.kind)) {
      return null;
    }
    const existing = this.find(target, key);
    if (existing) {
      if (!key && target.kind !== 'chat' && !sameTarget(existing.content.target, target)) {
        existing.content.reopen(target);
        this.retitle(existing);
        void this.tracker.save(existing);
      }
      this.app.shell.activateById(existing.id);
      return existing;
    }
    const panelKey = key ?? keyFor(target);
    const content = new StudioPanel(target, panelKey, this.source, this.nav, this.prefs, p => {
      const w = this.tracker.find(x => x.content === p);
      if (w) {
        this.retitle(w);
        void this.tracker.save(w);
      }
    });
    const widget = new MainAreaWidget({ content });
    widget.id = `model-studio-${panelKey.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    widget.addClass('jp-ModelStudio-main');
    widget.title.icon = studioIcon;
    widget.title.closable = true;
    this.retitle(widget);
    void this.tracker.add(widget);
    this.app.shell.add(widget, 'main');
    this.app.shell.activateById(widget.id);
    return widget;
  }

  private find(target: StudioTarget, key?: string): StudioMainWidget | undefined {
    if (key) {
      return this.tracker.find(w => w.content.key === key);
    }
    if (target.kind === 'chat') {
      // A chat opens anew unless it names a conversation that is open already.
      const conversation = target.conversation;
      return conversation
        ? this.tracker.find(w => {
            const t = w.content.target;
            return t.kind === 'chat' && t.conversation === conversation;
          })
        : undefined;
    }
    if (target.kind === 'model') {
      return this.tracker.find(w => w.content.key === keyFor(target));
    }
    return this.tracker.find(w => w.content.target.kind === target.kind);
  }

  private retitle(widget: StudioMainWidget): void {
    widget.title.label = viewTitle(widget.content.target);
    widget.title.caption = `Model Studio: ${widget.title.label}`;
  }
}
