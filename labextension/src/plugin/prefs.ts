/**
 * The studio's JupyterLab settings (schema/plugin.json) as `StudioPrefs`, kept current: the
 * Settings Editor's changes reach every open panel at once.
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';

import { applyPrefs, DEFAULT_PREFS, readPrefs, type StudioPrefs } from '../components/prefs';

export class PrefsStore {
  private _current: StudioPrefs = DEFAULT_PREFS;
  private readonly listeners = new Set<() => void>();

  get current(): StudioPrefs {
    return this._current;
  }

  /** Call `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(raw: Record<string, unknown> | null | undefined): void {
    this._current = readPrefs(raw);
    applyPrefs(this._current);
    this.listeners.forEach(l => l());
  }

  /** Load the plugin's settings and follow their changes; defaults when there is no registry. */
  async load(registry: ISettingRegistry | null, pluginId: string): Promise<void> {
    if (!registry) {
      return;
    }
    try {
      const settings = await registry.load(pluginId);
      const update = (): void => this.set(settings.composite as Record<string, unknown>);
      settings.changed.connect(update);
      update();
    } catch (err) {
      console.warn('Model Studio: could not load its settings; using the defaults.', err);
    }
  }
}
