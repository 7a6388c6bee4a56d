import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, JobCleanup, JobQuery, JobStateName } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { useDebounced } from '../hooks';
import { type JobAction, JobCenterRow } from './JobCenterRow';
import { useAllJobs } from './useAllJobs';

export interface JobCenterProps {
  source: DataSource;
}

const KINDS: Array<[string, string]> = [
  ['', 'All kinds'],
  ['download', 'Downloads'],
  ['batch', 'Batches'],
  ['train', 'Training runs'],
  ['video', 'Video generations']
];
const STATES: JobStateName[] = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
  'interrupted'
];

/**
 * Every job of every kind in one list: filters (kind, state, text), live progress, cancel, resume,
 * retry and delete per job, and the clean-up of finished jobs older than N days.
 */
export function JobCenter(props: JobCenterProps): JSX.Element {
  const { source } = props;
  const [kind, setKind] = React.useState('');
  const [state, setState] = React.useState('');
  const [text, setText] = React.useState('');
  const q = useDebounced(text, 250);
  const query: JobQuery = React.useMemo(
    () => ({
      kind: kind || null,
      state: (state || null) as JobStateName | null,
      q: q || null,
      limit: 500
    }),
    [kind, state, q]
  );
  const { jobs, error: loadError, reload, upsert, remove } = useAllJobs(source, query);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState<Set<string>>(() => new Set());

  const act = async (job: Job, action: JobAction): Promise<void> => {
    setBusy(prev => new Set(prev).add(job.id));
    setError(null);
    try {
      if (action === 'delete') {
        await source.deleteJob(job.id);
        remove(job.id);
      } else {
        upsert(
          action === 'cancel' ? await source.cancelJob(job.id) : await source.resumeJob(job.id)
        );
      }
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

  const active = jobs.filter(j => j.state === 'running' || j.state === 'queued').length;
  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-jobCenter" data-testid="job-center">
      <div className="jp-ModelStudio-toolbar">
        <select
          aria-label="Kind"
          data-testid="jc-filter-kind"
          value={kind}
          onChange={e => setKind(e.target.value)}
        >
          {KINDS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <select
          aria-label="State"
          data-testid="jc-filter-state"
          value={state}
          onChange={e => setState(e.target.value)}
        >
          <option value="">Any state</option>
          {STATES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input
          className="jp-ModelStudio-input"
          type="search"
          placeholder="Filter…"
          aria-label="Filter jobs by text"
          data-testid="jc-filter-text"
          value={text}
          onChange={e => setText(e.target.value)}
        />
        <span className="jp-ModelStudio-spacer" />
        <span className="jp-ModelStudio-count" data-testid="jc-count">
          {active} active · {jobs.length} shown
        </span>
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="jc-refresh"
          onClick={reload}
        >
          ⟳
        </button>
      </div>
      <CleanupBar source={source} kind={kind} onDone={reload} onError={setError} />
      <ErrorBanner error={error ?? loadError} onDismiss={() => setError(null)} testId="jc-error" />
      <div className="jp-ModelStudio-list" data-testid="jc-list">
        {jobs.map(job => (
          <JobCenterRow
            key={job.id}
            job={job}
            busy={busy.has(job.id)}
            onAction={a => void act(job, a)}
          />
        ))}
        {jobs.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="jc-empty">
            No jobs{kind || state || q ? ' match these filters' : ' yet'}.
          </div>
        )}
      </div>
    </div>
  );
}

/** Clean up finished jobs older than N days (of the kind filtered on): preview, then delete. */
function CleanupBar(props: {
  source: DataSource;
  kind: string;
  onDone: () => void;
  onError: (err: Error) => void;
}): JSX.Element {
  const [days, setDays] = React.useState('30');
  const [deleteFiles, setDeleteFiles] = React.useState(false);
  const [preview, setPreview] = React.useState<JobCleanup | null>(null);
  const [done, setDone] = React.useState<JobCleanup | null>(null);
  const [busy, setBusy] = React.useState(false);
  const value = Number(days);
  const valid = days.trim() !== '' && Number.isFinite(value) && value >= 0;

  const run = async (dryRun: boolean): Promise<void> => {
    setBusy(true);
    try {
      const result = await props.source.cleanupJobs({
        older_than_days: value,
        kinds: props.kind ? [props.kind] : null,
        dry_run: dryRun,
        delete_files: deleteFiles
      });
      if (dryRun) {
        setPreview(result);
        setDone(null);
      } else {
        setPreview(null);
        setDone(result);
        props.onDone();
      }
    } catch (err) {
      props.onError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-ModelStudio-toolbar" data-testid="jc-cleanup">
      <span>Clean up finished jobs older than</span>
      <input
        className="jp-ModelStudio-input jp-ModelStudio-narrow"
        inputMode="decimal"
        aria-label="Days"
        data-testid="jc-cleanup-days"
        aria-invalid={valid ? undefined : true}
        value={days}
        onChange={e => {
          setDays(e.target.value);
          setPreview(null);
        }}
      />
      <span>days</span>
      <label
        className="jp-ModelStudio-check"
        title="Batch answers, training run folders and videos (downloaded models always stay)"
      >
        <input
          type="checkbox"
          checked={deleteFiles}
          onChange={e => setDeleteFiles(e.target.checked)}
        />
        with their files
      </label>
      {preview ? (
        <>
          <span data-testid="jc-cleanup-preview">{preview.count} job(s)</span>
          <button
            className="jp-ModelStudio-button jp-mod-warn"
            data-testid="jc-cleanup-confirm"
            disabled={busy || preview.count === 0}
            onClick={() => void run(false)}
          >
            Delete {preview.count}
          </button>
          <button
            className="jp-ModelStudio-button"
            disabled={busy}
            onClick={() => setPreview(null)}
          >
            Keep
          </button>
        </>
      ) : (
        <button
          className="jp-ModelStudio-button"
          data-testid="jc-cleanup-run"
          disabled={busy || !valid}
          onClick={() => void run(true)}
        >
          Clean up…
        </button>
      )}
      {done && (
        <span className="jp-ModelStudio-muted" data-testid="jc-cleanup-done">
          deleted {done.count}
        </span>
      )}
    </div>
  );
}
