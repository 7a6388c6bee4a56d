import * as React from 'react';

import type { DataSource } from '../api/source';
import type { LoadedModel } from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatDuration, testIdPart } from './format';

export interface RunningPanelProps {
  source: DataSource;
  /** Refresh period in ms. */
  interval?: number;
}

/** Models held in memory (`chat.loaded`): backend, memory, context, idle time, Unload. */
export function RunningPanel(props: RunningPanelProps): JSX.Element {
  const { source } = props;
  const [models, setModels] = React.useState<LoadedModel[] | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);

  const refresh = React.useCallback(async () => {
    try {
      setModels(await source.loadedModels());
      setError(null);
    } catch (err) {
      setError(err as Error);
    }
  }, [source]);

  React.useEffect(() => {
    void refresh();
    const timer = window.setInterval(() => void refresh(), props.interval ?? 3000);
    return () => window.clearInterval(timer);
  }, [refresh, props.interval]);

  const unload = async (model: string): Promise<void> => {
    setBusy(model);
    try {
      await source.unloadModel(model);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
      void refresh();
    }
  };

  const total = (models ?? []).reduce((sum, m) => sum + (m.memory_bytes ?? 0), 0);
  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-running" data-testid="running-panel">
      <div className="jp-ModelStudio-toolbar">
        <span className="jp-ModelStudio-count" data-testid="running-count">
          {models?.length ?? 0} loaded · {formatBytes(total)}
        </span>
        <span className="jp-ModelStudio-spacer" />
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="running-refresh"
          onClick={() => void refresh()}
        >
          ⟳
        </button>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="running-error" />
      <div className="jp-ModelStudio-list" data-testid="running-list">
        {(models ?? []).map(m => (
          <div
            className="jp-ModelStudio-job"
            key={m.model}
            data-testid={`running-model-${testIdPart(m.model)}`}
          >
            <div className="jp-ModelStudio-cardHead">
              <span className="jp-ModelStudio-cardTitle" title={m.model}>
                {m.model}
              </span>
              <span className="jp-ModelStudio-state">{m.backend}</span>
            </div>
            <div className="jp-ModelStudio-meta">
              <span title="Memory held">{formatBytes(m.memory_bytes)}</span>
              <span title="Context length">{m.context_length ?? '—'} ctx</span>
              <span title="Idle for">idle {formatDuration(m.idle_seconds)}</span>
              <span className="jp-ModelStudio-spacer" />
              <button
                className="jp-ModelStudio-button jp-mod-warn"
                disabled={busy === m.model}
                data-testid={`running-unload-${testIdPart(m.model)}`}
                onClick={() => void unload(m.model)}
              >
                Unload
              </button>
            </div>
          </div>
        ))}
        {models !== null && models.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="running-empty">
            No models loaded. Chat with one to load it.
          </div>
        )}
      </div>
    </div>
  );
}
