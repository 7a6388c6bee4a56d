/**
 * The studio's commands (palette, launcher, restore): `model-studio:open` reveals the sidebar;
 * `open-chat`, `open-training`, `open-video`, `open-model`, `open-settings` and `open-jobs` open a
 * main-area panel (enabled once `views.tsx` has a component for it); `open-panel` reopens one from
 * its restore args.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import type { ILauncher } from '@jupyterlab/launcher';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import type { StudioTarget } from '../components/nav';
import { viewFor, type ViewKind } from '../components/views';
import { studioIcon } from '../icon';
import { OPEN_PANEL, type PanelManager } from './panels';

export const CATEGORY = 'Model Studio';

export namespace CommandIDs {
  export const open = 'model-studio:open';
  export const openPanel = OPEN_PANEL;
}

/** The command of each view kind. */
export const VIEW_COMMANDS: Record<ViewKind, string> = {
  chat: 'model-studio:open-chat',
  training: 'model-studio:open-training',
  video: 'model-studio:open-video',
  model: 'model-studio:open-model',
  settings: 'model-studio:open-settings',
  jobs: 'model-studio:open-jobs'
};

/** Launcher items, in order: the views that need no model. */
const LAUNCHER_KINDS: ViewKind[] = ['chat', 'training', 'video'];

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** A target from command args (`{model, conversation, variant}`). */
export function targetFromArgs(kind: string, args: ReadonlyPartialJSONObject): StudioTarget {
  const model = str(args.model);
  switch (kind) {
    case 'chat':
      return { kind, model, conversation: str(args.conversation) };
    case 'training':
    case 'video':
      return { kind, model };
    case 'model':
      return { kind, model: model ?? '', variant: str(args.variant) ?? null };
    default:
      return { kind } as StudioTarget;
  }
}

/** Command args for a target (the inverse of `targetFromArgs`). */
export function argsFromTarget(target: StudioTarget): ReadonlyPartialJSONObject {
  const args: Record<string, string> = {};
  for (const key of ['model', 'conversation', 'variant'] as const) {
    const value = (target as Record<string, unknown>)[key];
    if (typeof value === 'string' && value) {
      args[key] = value;
    }
  }
  return args;
}

export function addCommands(
  app: JupyterFrontEnd,
  panels: PanelManager,
  showSidebar: () => void,
  palette: ICommandPalette | null,
  launcher: ILauncher | null
): void {
  const { commands } = app;
  commands.addCommand(CommandIDs.open, {
    label: 'Open Model Studio',
    caption: 'Show the Model Studio sidebar',
    icon: studioIcon,
    execute: showSidebar
  });
  palette?.addItem({ command: CommandIDs.open, category: CATEGORY });

  for (const [kind, id] of Object.entries(VIEW_COMMANDS) as [ViewKind, string][]) {
    commands.addCommand(id, {
      label: args => {
        const view = viewFor(kind);
        const name = view?.label ?? kind;
        return args.isPalette ? `Open ${name}${kind === 'model' ? ' Page' : ''}` : name;
      },
      caption: () => viewFor(kind)?.caption ?? '',
      icon: args => (args.isPalette ? undefined : studioIcon),
      isEnabled: args => !!viewFor(kind) && (kind !== 'model' || !!str(args.model)),
      execute: args => {
        panels.open(targetFromArgs(kind, args));
      }
    });
    // The model page needs a model: it opens from the library, not from the palette.
    if (viewFor(kind) && kind !== 'model') {
      palette?.addItem({ command: id, category: CATEGORY, args: { isPalette: true } });
    }
  }
  LAUNCHER_KINDS.filter(kind => viewFor(kind)).forEach((kind, rank) =>
    launcher?.add({ command: VIEW_COMMANDS[kind], category: CATEGORY, rank })
  );

  commands.addCommand(CommandIDs.openPanel, {
    label: 'Open a Model Studio panel',
    execute: args => {
      const kind = str(args.kind);
      if (kind && viewFor(kind)) {
        panels.open(targetFromArgs(kind, args), str(args.panel));
      }
    }
  });
}
