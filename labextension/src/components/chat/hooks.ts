// The chat's model state: the models to pick from, those loaded, downloads started from the
// picker, and the load/unload/download actions.
import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { ChatModel, Job, LoadedModel } from '../../api/types';
import type { ModelEntry } from './session';

export interface ChatModels {
  models: ModelEntry[];
  loaded: LoadedModel[];
  downloads: Record<string, Job>;
  /** The model a load, unload or download is being asked for. */
  busy: string | null;
  refreshLoaded: () => Promise<void>;
  download: (model: string) => Promise<void>;
  loadToggle: (model: string, isLoaded: boolean) => Promise<void>;
}

/** The chat's models, kept fresh (loaded models polled, downloads followed live). */
export function useChatModels(
  source: DataSource,
  setError: (error: Error | null) => void
): ChatModels {
  const [models, setModels] = React.useState<ModelEntry[]>([]);
  const [loaded, setLoaded] = React.useState<LoadedModel[]>([]);
  const [busy, setBusy] = React.useState<string | null>(null);
  const [downloads, setDownloads] = React.useState<Record<string, Job>>({});

  const refreshModels = React.useCallback(async () => {
    let local: ChatModel[] = [];
    try {
      local = await source.chatModels();
    } catch (err) {
      // Fallback while the chat operations are missing: the library's local text models.
      try {
        local = (await source.localModels())
          .filter(m => !m.task || m.task === 'text-generation')
          .map(m => ({ id: m.id, backends: m.backends }));
      } catch {
        setError(err as Error);
      }
    }
    const entries: ModelEntry[] = local.map(m => ({
      id: m.id,
      local: m.local !== false,
      loaded: !!m.loaded,
      base: m.base_model ?? null,
      endpoint: m.endpoint ?? null
    }));
    try {
      const catalog = await source.searchModels({
        task: 'text-generation',
        hub: false,
        limit: 100
      });
      for (const m of catalog.models) {
        if (!entries.some(e => e.id === m.id) && m.status !== 'local') {
          entries.push({ id: m.id, local: false, loaded: false });
        }
      }
    } catch {
      // the catalog is a nicety; local models are enough to chat
    }
    setModels(entries);
  }, [source]);

  const refreshLoaded = React.useCallback(async () => {
    try {
      setLoaded(await source.loadedModels());
    } catch {
      // shown by the Running tab; the chat still works (models load on first use)
    }
  }, [source]);

  React.useEffect(() => {
    void refreshModels();
    void refreshLoaded();
    const timer = window.setInterval(() => void refreshLoaded(), 5000);
    const unsubscribe = source.subscribe(
      job => {
        if (job.kind !== 'download') {
          return;
        }
        setDownloads(prev => {
          const model = String(job.params.model ?? job.params.repo_id ?? '');
          if (!model || !(model in prev)) {
            return prev;
          }
          if (job.state === 'completed' && prev[model]?.state !== 'completed') {
            window.setTimeout(() => void refreshModels(), 300);
          }
          return { ...prev, [model]: job };
        });
      },
      undefined,
      { topics: ['jobs'], kinds: ['download'] }
    );
    return () => {
      window.clearInterval(timer);
      unsubscribe();
    };
  }, [source, refreshModels, refreshLoaded]);

  const download = async (model: string): Promise<void> => {
    setBusy(model);
    try {
      const job = await source.startDownload({ model });
      setDownloads(prev => ({ ...prev, [model]: job }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const loadToggle = async (model: string, isLoaded: boolean): Promise<void> => {
    setBusy(model);
    setError(null);
    try {
      if (isLoaded) {
        await source.unloadModel(model);
      } else {
        await source.loadModel(model);
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
      void refreshLoaded();
    }
  };

  return { models, loaded, downloads, busy, refreshLoaded, download, loadToggle };
}
