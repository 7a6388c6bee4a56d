import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatDuration, formatRate } from './format';
import { JobHead } from './JobHead';
import { ProgressBar } from './ProgressBar';
import { useDownloadJobs } from './useJobs';

export interface DownloadsPanelProps {
  source: DataSource;
}

type Action = 'pause' | 'resume' | 'cancel';

/** Which buttons a job in each state offers. */
function actionsFor(job: Job): Action[] {
  switch (job.state) {
    case 'running':
    case 'queued':
      return ['pause', 'cancel'];
    case 'paused':
      return ['resume', 'cancel'];
    case 'interrupted':
    case 'cancelled':
    case 'failed':
      return ['resume'];
    default:
      return [];
  }
}

const ACTION_LABEL: Record<Action, string> = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

/** Download jobs with live progress, pause / resume / cancel, and typed errors. */
export function DownloadsPanel(props: DownloadsPanelProps): JSX.Element {
  const { source } = props;
  const { jobs, error: loadError, reload, upsert } = useDownloadJobs(source);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState<Set<string>>(() => new Set());
  const [showFinished, setShowFinished] = React.useState(true);

  const act = async (job: Job, action: Action): Promise<void> => {
    setBusy(prev => new Set(prev).add(job.id));
    setError(null);
    try {
      const updated =
        action === 'pause'
          ? await source.pauseDownload(job.id)
          : action === 'resume'
            ? await source.resumeDownload(job.id)
            : await source.cancelDownload(job.id);
      upsert(updated);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(prev => {
        const next = new Set(prev);
        next.delete(job.id);
        return next;
      });
    }
  };

  const visible = showFinished ? jobs : jobs.filter(j => j.state !== 'completed');
  const active = jobs.filter(j => j.state === 'running' || j.state === 'queued').length;

  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-downloads" data-testid="downloads-panel">
      <div className="jp-ModelStudio-toolbar">
        <span className="jp-ModelStudio-count" data-testid="downloads-active-count">
          {active} active · {jobs.length} total
        </span>
        <span className="jp-ModelStudio-spacer" />
        <label className="jp-ModelStudio-check">
          <input
            type="checkbox"
            checked={showFinished}
            onChange={e => setShowFinished(e.target.checked)}
          />
          Show completed
        </label>
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="downloads-refresh"
          onClick={reload}
        >
          ⟳
        </button>
      </div>
      <ErrorBanner
        error={error ?? loadError}
        onDismiss={() => setError(null)}
        testId="downloads-error"
      />
      <div className="jp-ModelStudio-list" data-testid="downloads-list">
        {visible.map(job => (
          <JobRow key={job.id} job={job} busy={busy.has(job.id)} onAction={a => void act(job, a)} />
        ))}
        {visible.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="downloads-empty">
            No downloads yet. Start one from the Library.
          </div>
        )}
      </div>
    </div>
  );
}

function JobRow(props: { job: Job; busy: boolean; onAction: (a: Action) => void }): JSX.Element {
  const { job } = props;
  const p = job.progress;
  const running = job.state === 'running';
  const moving = job.state === 'running' || job.state === 'queued';
  // Unknown total: an indeterminate bar while moving, an empty one once stopped.
  const fraction = job.state === 'completed' ? 1 : (p.fraction ?? (moving ? null : 0));
  const detail = p.detail ?? {};
  const files = detail.files_total as number | undefined;
  const counts = (detail.file_counts ?? {}) as Record<string, number>;
  return (
    <div
      className={`jp-ModelStudio-job jp-ModelStudio-job-${job.state}`}
      data-testid={`job-${job.id}`}
      data-job-id={job.id}
      data-state={job.state}
    >
      <JobHead job={job} testPrefix="job" />
      <ProgressBar
        fraction={fraction}
        label={`Download progress of ${job.title}`}
        testId={`job-progress-${job.id}`}
        tone={
          job.state === 'failed'
            ? 'bad'
            : job.state === 'paused' || job.state === 'interrupted'
              ? 'warn'
              : 'normal'
        }
      />
      <div className="jp-ModelStudio-meta">
        <span data-testid={`job-bytes-${job.id}`}>
          {formatBytes(p.done)} / {formatBytes(p.total)}
          {fraction !== null && fraction !== undefined ? ` (${Math.floor(fraction * 100)}%)` : ''}
        </span>
        {running && <span title="Transfer rate">{formatRate(p.rate)}</span>}
        {running && <span title="Time left">ETA {formatDuration(p.eta)}</span>}
        {files ? (
          <span title="Files done / total">
            {counts.done ?? 0}/{files} files
          </span>
        ) : null}
        {p.message && <span className="jp-ModelStudio-muted">{p.message}</span>}
      </div>
      {job.error && <ErrorBanner error={job.error} testId={`job-error-${job.id}`} />}
      <div className="jp-ModelStudio-cardActions">
        <span className="jp-ModelStudio-spacer" />
        {actionsFor(job).map(action => (
          <button
            key={action}
            className={`jp-ModelStudio-button${action === 'cancel' ? ' jp-mod-warn' : ''}`}
            data-testid={`job-${action}-${job.id}`}
            disabled={props.busy}
            onClick={() => props.onAction(action)}
          >
            {ACTION_LABEL[action]}
          </button>
        ))}
      </div>
    </div>
  );
}
