import * as React from 'react';

import type { Job } from '../../api/types';
import { formatDuration } from '../format';
import { ProgressBar } from '../ProgressBar';
import { str } from './form';

/** The generations queued or running, each with its progress and Cancel (nothing when none). */
export function VideoQueue(props: {
  jobs: Job[];
  onCancel: (job: Job) => void;
}): JSX.Element | null {
  if (props.jobs.length === 0) {
    return null;
  }
  return (
    <div className="jms-video-queue" data-testid="video-queue">
      {props.jobs.map(job => (
        <QueueRow key={job.id} job={job} onCancel={() => props.onCancel(job)} />
      ))}
    </div>
  );
}

function QueueRow(props: { job: Job; onCancel: () => void }): JSX.Element {
  const { job } = props;
  const p = job.progress ?? ({} as Job['progress']);
  const params = (job.params ?? {}) as Record<string, unknown>;
  const fraction = p.total
    ? (p.done ?? 0) / p.total
    : (p.fraction ?? (job.state === 'queued' ? 0 : null));
  return (
    <div
      className="jms-video-job"
      data-testid={`video-job-${job.id}`}
      data-state={job.state}
      data-phase={p.message ?? ''}
    >
      <div className="jp-ModelStudio-cardHead">
        <span className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}>
          {job.state}
        </span>
        <span className="jms-video-prompt" title={str(params.prompt)}>
          {str(params.prompt) || job.title}
        </span>
        <button
          type="button"
          className="jp-ModelStudio-button jp-mod-warn"
          data-testid="video-cancel"
          onClick={props.onCancel}
        >
          Cancel
        </button>
      </div>
      <ProgressBar fraction={fraction} label={`Generation ${job.id}`} testId="video-job-progress" />
      <div className="jp-ModelStudio-meta">
        <span>
          step {p.done ?? 0} / {p.total ?? (str(params.steps) || '?')}
        </span>
        {p.message && <span data-testid="video-job-phase">{p.message}</span>}
        {p.eta !== null && p.eta !== undefined && <span>ETA {formatDuration(p.eta)}</span>}
        {p.rate ? <span>{p.rate.toFixed(2)} steps/s</span> : null}
        <span className="jp-ModelStudio-muted">{str(params.model)}</span>
      </div>
    </div>
  );
}
