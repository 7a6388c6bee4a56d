/**
 * The JupyterLab plugin: a left-sidebar "Model Studio" panel (the tabs of `StudioTabs`: library,
 * downloads, chat, training, video, running, system) over the REST API, restored on reload, plus
 * a palette command that reveals it.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { RestSource } from './api/rest';
import { StudioTabs } from './components/StudioTabs';
import { studioIcon } from './icon';

export * from './api/types';
export { RestSource, requestAPI } from './api/rest';
export { StudioApiError } from './api/source';
export type { DataSource } from './api/source';

const SIDEBAR_ID = 'model-studio-sidebar';

namespace CommandIDs {
  export const open = 'model-studio:open';
}

class StudioSidebar extends ReactWidget {
  private readonly source = new RestSource();

  constructor() {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-ModelStudio-sidebar');
    this.title.icon = studioIcon;
    this.title.caption = 'Model Studio';
  }

  render(): JSX.Element {
    return <StudioTabs source={this.source} />;
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-model-studio:plugin',
  description: 'Model Studio: find, download and manage local AI models; watch CPU, RAM and GPU.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new StudioSidebar();
    app.shell.add(sidebar, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open Model Studio',
      caption: 'Show the Model Studio sidebar',
      icon: studioIcon,
      execute: () => {
        app.shell.activateById(sidebar.id);
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'Model Studio' });
    }
  }
};

export default plugin;
