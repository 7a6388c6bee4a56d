/**
 * The JupyterLab plugin. The left sidebar keeps what is managed at a glance (Library, Downloads,
 * Running, System); Chat, Fine-tune, Video (and the views `components/views.tsx` adds) open as
 * main-area panels, from the sidebar, the launcher ("Model Studio" category) and the command
 * palette, restored on reload. Front-end preferences come from the JupyterLab settings
 * (schema/plugin.json). The parts live in `plugin/`.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { RestSource } from './api/rest';
import type { StudioNav, StudioTarget } from './components/nav';
import { viewFor } from './components/views';
import { addCommands, argsFromTarget, CommandIDs, VIEW_COMMANDS } from './plugin/commands';
import { PanelManager } from './plugin/panels';
import { PrefsStore } from './plugin/prefs';
import { SIDEBAR_ID, StudioSidebar } from './plugin/sidebar';

export * from './api/types';
export { RestSource, requestAPI } from './api/rest';
export { StudioApiError } from './api/source';
export type { DataSource } from './api/source';

const PLUGIN_ID = 'jupyter-model-studio:plugin';

/** The targets the sidebar's own tabs show. */
const SIDEBAR_KINDS = new Set(['library', 'downloads', 'running', 'system']);

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Model Studio: find, download and run local AI models; chat, fine-tune, video.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ILauncher, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    settings: ISettingRegistry | null
  ) => {
    const source = new RestSource();
    const prefs = new PrefsStore();
    void prefs.load(settings, PLUGIN_ID);

    let sidebar: StudioSidebar | null = null;
    const showSidebar = (): void => app.shell.activateById(SIDEBAR_ID);
    // useNav().open(...) anywhere in the lab: the sidebar's tabs or a panel's command.
    const nav: StudioNav = {
      open(target: StudioTarget) {
        if (SIDEBAR_KINDS.has(target.kind)) {
          showSidebar();
          sidebar?.tabsNav.current?.open(target);
          return;
        }
        const command = (VIEW_COMMANDS as Record<string, string | undefined>)[target.kind];
        if (command && viewFor(target.kind)) {
          void app.commands.execute(command, argsFromTarget(target));
        }
      }
    };

    sidebar = new StudioSidebar(source, nav, prefs);
    app.shell.add(sidebar, 'left', { rank: 600 });
    const panels = new PanelManager(app, source, nav, prefs);
    addCommands(app, panels, showSidebar, palette, launcher);
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
      panels.restore(restorer);
    }
  }
};

export { CommandIDs };
export default plugin;
