import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Endpoint, EndpointHealth } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';

/** "Name: value" lines as a header object (blank lines skipped). */
function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (line.trim() && at > 0) {
      out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
  }
  return out;
}

function HealthBadge(props: { name: string; health?: EndpointHealth | null }): JSX.Element {
  const { name, health } = props;
  if (!health) {
    return <span className="jp-ModelStudio-muted">not checked</span>;
  }
  const label =
    health.status === 'ok'
      ? `ok · ${health.models.length} model${health.models.length === 1 ? '' : 's'}`
      : health.status === 'unauthorized'
        ? 'wrong key'
        : health.status;
  return (
    <span
      data-testid={`endpoint-health-${name}`}
      data-status={health.status}
      title={health.error?.message ?? health.models.join('\n')}
      className={health.status === 'ok' ? 'jp-ModelStudio-ok' : 'jp-ModelStudio-warn'}
    >
      {label}
      {health.error ? `: ${health.error.message}` : ''}
    </span>
  );
}

/**
 * Remote serving engines (vLLM, TGI, Ollama, llama_cpp.server, another studio): each with its
 * health (ok with its models, down, wrong key), Test and Remove; a form adds one. The API key is
 * a password field and comes back only as "key set" with a masked form.
 */
export function RemoteEndpoints(props: {
  source: DataSource;
  onChanged?: () => void;
}): JSX.Element {
  const { source, onChanged } = props;
  const [endpoints, setEndpoints] = React.useState<Endpoint[] | null>(null);
  const [health, setHealth] = React.useState<Record<string, EndpointHealth>>({});
  const [form, setForm] = React.useState({
    name: '',
    base_url: '',
    api_key: '',
    headers: '',
    timeout: '60',
    concurrency: '4'
  });
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<Error | null>(null);

  const refresh = React.useCallback(async (): Promise<void> => {
    const list = await source.endpoints(true);
    setEndpoints(list);
    setHealth(Object.fromEntries(list.filter(e => e.health).map(e => [e.name, e.health!])));
  }, [source]);

  React.useEffect(() => {
    refresh().catch(err => setError(err as Error));
  }, [refresh]);

  const run = async (call: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await call();
      onChanged?.();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const test = (name: string): Promise<void> =>
    run(async () => {
      const h = await source.testEndpoint(name);
      setHealth(prev => ({ ...prev, [name]: h }));
    });

  const onSubmit = (e: React.FormEvent): void => {
    e.preventDefault();
    void run(async () => {
      await source.addEndpoint({
        name: form.name.trim(),
        base_url: form.base_url.trim(),
        api_key: form.api_key || undefined,
        headers: parseHeaders(form.headers),
        timeout: Number(form.timeout),
        concurrency: Number(form.concurrency)
      });
      setForm({ ...form, name: '', base_url: '', api_key: '', headers: '' });
      await refresh();
    });
  };

  const field =
    (key: keyof typeof form) =>
    (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>): void =>
      setForm({ ...form, [key]: e.target.value });

  return (
    <section className="jp-ModelStudio-section" data-testid="settings-endpoints">
      <h3 className="jp-ModelStudio-sectionTitle">Remote endpoints</h3>
      {endpoints?.length ? (
        <table className="jp-ModelStudio-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Base URL</th>
              <th>Key</th>
              <th>Concurrency</th>
              <th>Health</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {endpoints.map(ep => (
              <tr key={ep.name} data-testid={`endpoint-${ep.name}`}>
                <td>{ep.name}</td>
                <td>
                  <code>{ep.base_url}</code>
                </td>
                <td>
                  {ep.has_key ? <code title="the saved key (masked)">{ep.key_masked}</code> : '-'}
                </td>
                <td>{ep.concurrency}</td>
                <td>
                  <HealthBadge name={ep.name} health={health[ep.name]} />
                </td>
                <td>
                  <button
                    className="jp-ModelStudio-button"
                    data-testid={`endpoint-test-${ep.name}`}
                    disabled={busy}
                    onClick={() => void test(ep.name)}
                  >
                    Test
                  </button>{' '}
                  <button
                    className="jp-ModelStudio-button jp-mod-warn"
                    data-testid={`endpoint-remove-${ep.name}`}
                    disabled={busy}
                    onClick={() =>
                      void run(async () => {
                        await source.removeEndpoint(ep.name);
                        await refresh();
                      })
                    }
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-ModelStudio-muted">
          {endpoints ? 'No remote endpoints yet.' : 'Loading…'}
        </div>
      )}
      <form className="jp-ModelStudio-endpointForm" onSubmit={onSubmit} data-testid="endpoint-form">
        <input
          className="jp-ModelStudio-input"
          placeholder="name"
          aria-label="Endpoint name"
          data-testid="endpoint-name"
          value={form.name}
          onChange={field('name')}
        />
        <input
          className="jp-ModelStudio-input"
          placeholder="http://gpu-server:8000/v1"
          aria-label="Base URL"
          data-testid="endpoint-url"
          value={form.base_url}
          onChange={field('base_url')}
        />
        <input
          type="password"
          className="jp-ModelStudio-input"
          placeholder="API key (optional)"
          aria-label="API key"
          autoComplete="off"
          data-testid="endpoint-key"
          value={form.api_key}
          onChange={field('api_key')}
        />
        <label className="jp-ModelStudio-endpointField">
          Timeout (s)
          <input
            type="number"
            className="jp-ModelStudio-input"
            aria-label="Timeout (seconds)"
            title="Seconds without an answer before the endpoint counts as down"
            min={0.1}
            step="any"
            data-testid="endpoint-timeout"
            value={form.timeout}
            onChange={field('timeout')}
          />
        </label>
        <label className="jp-ModelStudio-endpointField">
          Batch concurrency
          <input
            type="number"
            className="jp-ModelStudio-input"
            aria-label="Batch concurrency"
            title="Requests a batch sends at once (serving engines batch them)"
            min={1}
            max={64}
            data-testid="endpoint-concurrency"
            value={form.concurrency}
            onChange={field('concurrency')}
          />
        </label>
        <textarea
          className="jp-ModelStudio-input"
          placeholder="Extra headers, one 'Name: value' a line"
          aria-label="Extra headers"
          rows={2}
          data-testid="endpoint-headers"
          value={form.headers}
          onChange={field('headers')}
        />
        <button
          type="submit"
          className="jp-ModelStudio-button"
          data-testid="endpoint-add"
          disabled={busy || !form.name.trim() || !form.base_url.trim()}
        >
          {busy ? 'Saving…' : 'Add endpoint'}
        </button>
      </form>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="endpoint-error" />
      <div className="jp-ModelStudio-muted">
        Any OpenAI-compatible server. Its models show in the Chat picker as{' '}
        <code>remote/&lt;name&gt;/&lt;model&gt;</code>. Keys are kept apart from the settings file
        (readable only by you) and never shown again.
      </div>
    </section>
  );
}
