import * as React from 'react';

import type { Job } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { formatBytes, formatDuration, formatRate } from '../format';
import { JobHead } from '../JobHead';
import { ProgressBar } from '../ProgressBar';

export type JobAction = 'cancel' | 'resume' | 'retry' | 'delete';

const KIND_LABEL: Record<string, string> = {
  download: 'Download',
  batch: 'Batch',
  train: 'Training',
  video: 'Video'
};

const ACTION_LABEL: Record<JobAction, string> = {
  cancel: 'Cancel',
  resume: 'Resume',
  retry: 'Retry',
  delete: 'Delete'
};

/** The actions a job offers in its state (retry: a failed job run again with the same parameters). */
export function actionsFor(job: Job): JobAction[] {
  switch (job.state) {
    case 'queued':
    case 'running':
      return ['cancel'];
    case 'paused':
      return ['resume', 'cancel', 'delete'];
    case 'cancelled':
    case 'interrupted':
      return ['resume', 'delete'];
    case 'failed':
      return ['retry', 'delete'];
    default:
      return ['delete'];
  }
}

function progressText(job: Job): string {
  const p = job.progress;
  if (!p.total && !p.done) {
    return '';
  }
  if (p.unit === 'bytes') {
    return `${formatBytes(p.done)} / ${formatBytes(p.total)}`;
  }
  return p.total ? `${p.done} / ${p.total} ${p.unit}` : `${p.done} ${p.unit}`;
}

/** One job of any kind: kind, title and state, progress, its error, and its actions. */
export function JobCenterRow(props: {
  job: Job;
  busy: boolean;
  onAction: (a: JobAction) => void;
}): JSX.Element {
  const { job } = props;
  const p = job.progress;
  const moving = job.state === 'running' || job.state === 'queued';
  const fraction = job.state === 'completed' ? 1 : (p.fraction ?? (moving ? null : 0));
  const when = job.finished_at ?? job.updated_at;
  return (
    <div
      className={`jp-ModelStudio-job jp-ModelStudio-job-${job.state}`}
      data-testid={`jc-job-${job.id}`}
      data-job-id={job.id}
      data-kind={job.kind}
      data-state={job.state}
    >
      <div className="jp-ModelStudio-meta">
        <span className="jp-ModelStudio-badge" data-testid={`jc-kind-${job.id}`}>
          {KIND_LABEL[job.kind] ?? job.kind}
        </span>
        <span
          className="jp-ModelStudio-muted"
          title={new Date(job.created_at * 1000).toLocaleString()}
        >
          {job.id}
        </span>
      </div>
      <JobHead job={job} testPrefix="jc" />
      <ProgressBar
        fraction={fraction}
        label={`Progress of ${job.title || job.id}`}
        testId={`jc-progress-${job.id}`}
        tone={
          job.state === 'failed'
            ? 'bad'
            : job.state === 'paused' || job.state === 'interrupted'
              ? 'warn'
              : 'normal'
        }
      />
      <div className="jp-ModelStudio-meta">
        <span data-testid={`jc-progress-text-${job.id}`}>
          {progressText(job)}
          {fraction !== null && fraction !== undefined ? ` (${Math.floor(fraction * 100)}%)` : ''}
        </span>
        {job.state === 'running' && p.unit === 'bytes' && <span>{formatRate(p.rate)}</span>}
        {job.state === 'running' && p.eta ? <span>ETA {formatDuration(p.eta)}</span> : null}
        {!moving && when ? (
          <span className="jp-ModelStudio-muted">
            ended {new Date(when * 1000).toLocaleString()}
          </span>
        ) : null}
        {p.message && <span className="jp-ModelStudio-muted">{p.message}</span>}
      </div>
      {job.error && <ErrorBanner error={job.error} testId={`jc-error-${job.id}`} />}
      <div className="jp-ModelStudio-cardActions">
        <span className="jp-ModelStudio-spacer" />
        {actionsFor(job).map(action => (
          <button
            key={action}
            className={`jp-ModelStudio-button${action === 'cancel' || action === 'delete' ? ' jp-mod-warn' : ''}`}
            data-testid={`jc-${action}-${job.id}`}
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
