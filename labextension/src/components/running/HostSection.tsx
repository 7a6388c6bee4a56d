import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { HostStatus } from '../../api/types';
import { formatDuration } from '../format';

export interface HostSectionProps {
  source: DataSource;
  /** The last `host.status` (null before the first answer). */
  status: HostStatus | null;
  /** Called after Stop host, so the panel refreshes. */
  onChanged: () => void;
  onError: (error: Error) => void;
}

const TONE: Record<string, string> = { up: 'completed', down: 'paused', crashed: 'failed' };

/** "3 min ago" from a Unix time in seconds. */
export function ago(unixSeconds: number | null | undefined): string {
  if (!unixSeconds) {
    return '—';
  }
  return `${formatDuration(Math.max(0, Date.now() / 1000 - unixSeconds))} ago`;
}

/**
 * The model host (`host.status`): state, pid, since, restarts; the last crash with its log tail;
 * View log (`host.logs`, last 200 lines) and Stop host. In `in_process` mode, one line says so.
 */
export function HostSection(props: HostSectionProps): JSX.Element | null {
  const { source, status, onChanged, onError } = props;
  const [log, setLog] = React.useState<string | null>(null);
  const [stopping, setStopping] = React.useState(false);
  if (status === null) {
    return null;
  }
  if (status.mode === 'in_process') {
    return (
      <section className="jp-ModelStudio-section" data-testid="running-host" data-mode="in_process">
        <div className="jp-ModelStudio-muted" data-testid="running-host-inprocess">
          Models load in this server's process (model host off: setting model_host).
        </div>
      </section>
    );
  }
  const stop = async (): Promise<void> => {
    if (
      !window.confirm('Stop the model host? Its models unload; the next chat starts a new host.')
    ) {
      return;
    }
    setStopping(true);
    try {
      await source.hostStop();
    } catch (err) {
      onError(err as Error);
    } finally {
      setStopping(false);
      onChanged();
    }
  };
  const viewLog = async (): Promise<void> => {
    try {
      setLog((await source.hostLogs(200)).log);
    } catch (err) {
      onError(err as Error);
    }
  };
  const crash = status.last_crash;
  return (
    <section
      className="jp-ModelStudio-section"
      data-testid="running-host"
      data-mode="host"
      data-state={status.state}
    >
      <div className="jp-ModelStudio-cardHead">
        <h3 className="jp-ModelStudio-sectionTitle">Model host</h3>
        <span
          className={`jp-ModelStudio-state jp-ModelStudio-state-${TONE[status.state] ?? 'paused'}`}
          data-testid="running-host-state"
        >
          {status.state}
        </span>
      </div>
      <div className="jp-ModelStudio-meta" data-testid="running-host-meta">
        {status.state === 'up' && <span data-testid="running-host-pid">pid {status.pid}</span>}
        {status.state === 'up' && <span title="Started">since {ago(status.since)}</span>}
        {status.state !== 'up' && <span>the next chat or video starts it</span>}
        <span title="Hosts started after a crash">restarts {status.restarts ?? 0}</span>
        <span className="jp-ModelStudio-spacer" />
        <button
          className="jp-ModelStudio-button"
          data-testid="running-host-log"
          onClick={() => void viewLog()}
        >
          View log
        </button>
        {status.state === 'up' && (
          <button
            className="jp-ModelStudio-button jp-mod-warn"
            disabled={stopping}
            data-testid="running-host-stop"
            onClick={() => void stop()}
          >
            Stop host
          </button>
        )}
      </div>
      {crash && (
        <details className="jp-ModelStudio-error" data-testid="running-host-crash">
          <summary>
            Crashed {ago(crash.at)}: {crash.signal ?? crash.exit_code ?? ''} {crash.reason}
            {crash.pid ? ` (pid ${crash.pid})` : ''}
          </summary>
          <pre className="jp-ModelStudio-trainingLog">{crash.log_tail || '(empty log)'}</pre>
        </details>
      )}
      {log !== null && (
        <details open data-testid="running-host-logview">
          <summary>Host log (last 200 lines) · {status.log}</summary>
          <pre className="jp-ModelStudio-trainingLog">{log || '(empty log)'}</pre>
        </details>
      )}
    </section>
  );
}
