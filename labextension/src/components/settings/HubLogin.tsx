import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { AuthStatus } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';

/**
 * The Hugging Face login: who is logged in (the token masked, never the token itself), logout,
 * or a token field checked with the Hub's whoami before it is saved.
 */
export function HubLogin(props: { source: DataSource }): JSX.Element {
  const { source } = props;
  const [status, setStatus] = React.useState<AuthStatus | null>(null);
  const [token, setToken] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<Error | null>(null);

  React.useEffect(() => {
    let live = true;
    source.authStatus(true).then(
      s => live && setStatus(s),
      err => live && setError(err as Error)
    );
    return () => {
      live = false;
    };
  }, [source]);

  const run = async (call: () => Promise<AuthStatus>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      setStatus(await call());
      setToken('');
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const onSubmit = (e: React.FormEvent): void => {
    e.preventDefault();
    if (token.trim()) {
      void run(() => source.login(token.trim()));
    }
  };

  return (
    <section className="jp-ModelStudio-section" data-testid="settings-hf">
      <h3 className="jp-ModelStudio-sectionTitle">Hugging Face</h3>
      {status?.logged_in ? (
        <div className="jp-ModelStudio-settingsRow" data-testid="hf-status">
          <span>
            Logged in{status.user ? ' as ' : ''}
            {status.user && <strong data-testid="hf-user">{status.user}</strong>}
          </span>
          <code data-testid="hf-token-masked" title="The saved token (masked)">
            {status.token_masked}
          </code>
          <span className="jp-ModelStudio-muted">
            {status.source === 'env' ? 'from HF_TOKEN' : 'saved login'}
            {status.valid === false ? ' · the Hub refused this token' : ''}
          </span>
          <span className="jp-ModelStudio-spacer" />
          {status.source === 'file' && (
            <button
              className="jp-ModelStudio-button jp-mod-warn"
              data-testid="hf-logout"
              disabled={busy}
              onClick={() => void run(() => source.logout())}
            >
              Log out
            </button>
          )}
        </div>
      ) : (
        <form
          className="jp-ModelStudio-settingsRow"
          onSubmit={onSubmit}
          data-testid="hf-login-form"
        >
          <input
            type="password"
            className="jp-ModelStudio-input"
            placeholder="hf_… access token"
            aria-label="Hugging Face access token"
            autoComplete="off"
            data-testid="hf-token"
            value={token}
            onChange={e => setToken(e.target.value)}
          />
          <button
            type="submit"
            className="jp-ModelStudio-button"
            data-testid="hf-login"
            disabled={busy || !token.trim()}
          >
            {busy ? 'Checking…' : 'Log in'}
          </button>
        </form>
      )}
      {status?.warning && <div className="jp-ModelStudio-muted">{status.warning}</div>}
      {status?.error && !error && <ErrorBanner error={status.error} testId="hf-status-error" />}
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="hf-error" />
      <div className="jp-ModelStudio-muted">
        Needed for gated models (accept their terms on the model&apos;s Hub page) and private
        repositories. Stored where huggingface_hub keeps it
        {status ? ` (${status.token_path})` : ''}.
      </div>
    </section>
  );
}
