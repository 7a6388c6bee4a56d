import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { BackendInfo, Capabilities } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { formatBytes } from '../format';

/**
 * The backends (providers): installed, version, GPU build, their statistics (local and loaded
 * models, downloads completed and failed, bytes on disk) and a few catalog models that fit this
 * machine; then the capabilities (models per task and format, local and available).
 */
export function BackendsStatus(props: { source: DataSource; refresh?: number }): JSX.Element {
  const { source } = props;
  const [backends, setBackends] = React.useState<BackendInfo[] | null>(null);
  const [caps, setCaps] = React.useState<Capabilities | null>(null);
  const [error, setError] = React.useState<Error | null>(null);

  const load = React.useCallback(() => {
    source.backends().then(setBackends, err => setError(err as Error));
    source.capabilities().then(setCaps, err => setError(err as Error));
  }, [source]);

  React.useEffect(load, [load, props.refresh]);

  return (
    <>
      <section className="jp-ModelStudio-section" data-testid="settings-backends">
        <h3 className="jp-ModelStudio-sectionTitle">
          Backends
          <button
            className="jp-ModelStudio-iconButton"
            title="Refresh"
            aria-label="Refresh backends"
            onClick={load}
          >
            ⟳
          </button>
        </h3>
        <ErrorBanner error={error} onDismiss={() => setError(null)} testId="backends-error" />
        {!backends && !error && <div className="jp-ModelStudio-muted">Checking backends…</div>}
        {backends && (
          <table className="jp-ModelStudio-table" data-testid="backends-table">
            <thead>
              <tr>
                <th>Backend</th>
                <th>Installed</th>
                <th>GPU</th>
                <th title="Local models / loaded now">Models</th>
                <th title="Downloads completed / failed">Downloads</th>
                <th>On disk</th>
              </tr>
            </thead>
            <tbody>
              {backends.map(b => (
                <tr key={b.name} data-testid={`backend-${b.name}`}>
                  <td>{b.name}</td>
                  <td title={b.install ?? ''}>{b.installed ? (b.version ?? 'yes') : 'no'}</td>
                  <td>{b.gpu ? 'GPU build' : 'CPU'}</td>
                  <td data-testid={`backend-models-${b.name}`}>
                    {b.stats?.local_models ?? b.local_models} local · {b.stats?.loaded_models ?? 0}{' '}
                    loaded
                  </td>
                  <td data-testid={`backend-downloads-${b.name}`}>
                    {b.stats?.downloads_completed ?? 0} done · {b.stats?.downloads_failed ?? 0}{' '}
                    failed
                  </td>
                  <td>{formatBytes(b.stats?.bytes_on_disk ?? 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {backends?.map(b =>
          !b.installed ? (
            <div key={`i-${b.name}`} className="jp-ModelStudio-muted">
              {b.name}: <code>{b.install}</code>
            </div>
          ) : b.suggestions.length ? (
            <div
              key={`s-${b.name}`}
              className="jp-ModelStudio-muted"
              data-testid={`backend-suggestions-${b.name}`}
            >
              {b.name} fits here:{' '}
              {b.suggestions
                .map(
                  s =>
                    `${s.id as string}${s.quantization ? `:${s.quantization as string}` : ''} (${s.verdict as string})`
                )
                .join(', ')}
            </div>
          ) : null
        )}
      </section>
      {caps && (
        <section className="jp-ModelStudio-section" data-testid="settings-capabilities">
          <h3 className="jp-ModelStudio-sectionTitle">
            Capabilities · {caps.local} local of {caps.available} models
          </h3>
          <table className="jp-ModelStudio-table">
            <thead>
              <tr>
                <th>Task / format</th>
                <th>Local</th>
                <th>Available</th>
              </tr>
            </thead>
            <tbody>
              {[...caps.tasks, ...caps.formats].map((row, i) => (
                <tr key={`${i}-${row.name}`} data-testid={`capability-${row.name}`}>
                  <td>{row.name}</td>
                  <td>{row.local}</td>
                  <td>{row.available}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}
