import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';
import { EnergyNote, jobEnergy } from './EnergySection';
import { ErrorBanner } from './ErrorBanner';
import { JobHead } from './JobHead';
import { ProgressBar } from './ProgressBar';
import { useLiveJobs } from './useJobs';

/** How many batches the list shows (newest first). */
const SHOWN = 20;

type Action = 'cancel' | 'resume';

/** Which buttons a batch in each state offers (see `BatchRunner.cancel` / `.resume`). */
function actionsFor(job: Job): Action[] {
  switch (job.state) {
    case 'running':
    case 'queued':
      return ['cancel'];
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

/**
 * Batch jobs (`batch.list`, kept live from job events): prompts answered of the total, state,
 * Cancel (answers so far are kept) and Resume (only the unanswered prompts are asked).
 */
export function BatchJobs(props: { source: DataSource }): JSX.Element {
  const { source } = props;
  const {
    jobs,
    error: loadError,
    upsert
  } = useLiveJobs(source, 'batch', () => source.batches(null, SHOWN));
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);

  const act = async (job: Job, action: Action): Promise<void> => {
    setBusy(job.id);
    setError(null);
    try {
      upsert(
        action === 'cancel' ? await source.cancelBatch(job.id) : await source.resumeBatch(job.id)
      );
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const shown = jobs.slice(0, SHOWN);
  return (
    <section className="jp-ModelStudio-section" data-testid="running-batches">
      <h3 className="jp-ModelStudio-sectionTitle">Batch jobs</h3>
      <ErrorBanner
        error={error ?? loadError}
        onDismiss={() => setError(null)}
        testId="running-batches-error"
      />
      <div className="jp-ModelStudio-list" data-testid="running-batches-list">
        {shown.map(job => (
          <BatchRow
            key={job.id}
            job={job}
            busy={busy === job.id}
            onAction={a => void act(job, a)}
          />
        ))}
        {shown.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="running-batches-empty">
            No batch jobs. Start one from a notebook: engine.chat.batch(prompts, model=...).
          </div>
        )}
      </div>
    </section>
  );
}

function BatchRow(props: { job: Job; busy: boolean; onAction: (a: Action) => void }): JSX.Element {
  const { job } = props;
  const p = job.progress;
  const total = p.total ?? (job.params.count as number | undefined) ?? null;
  const done = Math.floor(p.done ?? 0);
  const fraction = job.state === 'completed' ? 1 : total ? done / total : null;
  return (
    <div
      className={`jp-ModelStudio-job jp-ModelStudio-job-${job.state}`}
      data-testid={`batch-${job.id}`}
      data-job-id={job.id}
      data-state={job.state}
    >
      <JobHead job={job} testPrefix="batch" />
      <ProgressBar
        fraction={fraction}
        label={`Prompts answered in ${job.title || job.id}`}
        testId={`batch-progress-${job.id}`}
        tone={
          job.state === 'failed'
            ? 'bad'
            : job.state === 'completed' || job.state === 'running' || job.state === 'queued'
              ? 'normal'
              : 'warn'
        }
      />
      <div className="jp-ModelStudio-meta">
        <span data-testid={`batch-done-${job.id}`} title="Prompts answered / prompts">
          {done} / {total ?? '?'} prompts
        </span>
        <EnergyNote energy={jobEnergy(job)} />
        <span className="jp-ModelStudio-spacer" />
        {actionsFor(job).map(action => (
          <button
            key={action}
            className={`jp-ModelStudio-button${action === 'cancel' ? ' jp-mod-warn' : ''}`}
            data-testid={`batch-${action}-${job.id}`}
            disabled={props.busy}
            title={
              action === 'cancel'
                ? 'Stop after keeping the answers so far'
                : 'Answer the remaining prompts'
            }
            onClick={() => props.onAction(action)}
          >
            {action === 'cancel' ? 'Cancel' : 'Resume'}
          </button>
        ))}
      </div>
      {job.error && <ErrorBanner error={job.error} testId={`batch-error-${job.id}`} />}
    </div>
  );
}
