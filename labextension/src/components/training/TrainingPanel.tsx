import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { useCompareMetrics, useLogTail, useRunMetrics, useRuns } from './hooks';
import { RunDetail } from './RunDetail';
import { RunList } from './RunList';
import { ACTIVE } from './runs';
import { TrainingForm } from './TrainingForm';

export interface TrainingPanelProps {
  source: DataSource;
  /** The run shown at start (the widget's `run_id` trait). */
  initialRunId?: string;
  /** Hear the selected run change (the widget syncs it back to Python). */
  onRunChange?: (runId: string) => void;
  /** Subscribe to outside changes of the selected run (the widget's `run_id` trait). */
  watchRunId?: (listener: (runId: string) => void) => () => void;
}

/** LoRA fine-tuning: runs, live loss curves, logs, cancel/resume, compare, and a new-run form. */
export function TrainingPanel(props: TrainingPanelProps): JSX.Element {
  const { source } = props;
  const { runs, error: loadError, reload, upsert } = useRuns(source);
  const [selected, setSelected] = React.useState(props.initialRunId ?? '');
  const [compareId, setCompareId] = React.useState('');
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [showForm, setShowForm] = React.useState(!props.initialRunId);
  const onRunChange = React.useRef(props.onRunChange);
  onRunChange.current = props.onRunChange;

  const select = React.useCallback((id: string, sync = true) => {
    setSelected(id);
    if (sync) {
      onRunChange.current?.(id);
    }
  }, []);

  React.useEffect(() => {
    if (!props.watchRunId) {
      return;
    }
    return props.watchRunId(id => select(id, false));
  }, [props.watchRunId, select]);

  // Nothing chosen: show the newest run once runs arrive.
  React.useEffect(() => {
    if (!selected && runs.length) {
      select(runs[0].id, false);
    }
  }, [selected, runs, select]);

  // A run chosen by id before the list knows it (just started elsewhere): load the list again.
  const job = runs.find(r => r.id === selected);
  React.useEffect(() => {
    if (selected && !job) {
      const timer = window.setTimeout(reload, 500);
      return () => window.clearTimeout(timer);
    }
  }, [selected, job, reload, runs.length]);

  const { metrics, error: metricsError } = useRunMetrics(source, job);
  const compareJob = runs.find(r => r.id === compareId);
  const compare = useCompareMetrics(
    source,
    compareId,
    compareJob && ACTIVE.has(compareJob.state) ? Math.floor(compareJob.progress.done / 5) : -1
  );
  const log = useLogTail(source, job);

  const act = async (action: 'cancel' | 'resume' | 'merge'): Promise<void> => {
    if (!job) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (action === 'cancel') {
        upsert(await source.cancelTraining(job.id));
      } else if (action === 'resume') {
        upsert(await source.resumeTraining(job.id));
      } else {
        await source.mergeTraining(job.id);
        reload();
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const onStarted = (started: Job): void => {
    upsert(started);
    select(started.id);
    setShowForm(false);
    reload();
  };

  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-training" data-testid="training-panel">
      <div className="jp-ModelStudio-toolbar">
        <span className="jp-ModelStudio-count">
          {runs.filter(r => ACTIVE.has(r.state)).length} active · {runs.length} runs
        </span>
        <span className="jp-ModelStudio-spacer" />
        <button
          className="jp-ModelStudio-button"
          data-testid="training-new"
          aria-expanded={showForm}
          onClick={() => setShowForm(v => !v)}
        >
          {showForm ? 'Hide form' : 'New run'}
        </button>
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="training-refresh"
          onClick={reload}
        >
          ⟳
        </button>
      </div>
      <ErrorBanner
        error={error ?? loadError ?? metricsError}
        onDismiss={() => setError(null)}
        testId="training-error"
      />
      {showForm && <TrainingForm source={source} onStarted={onStarted} />}
      <RunList runs={runs} selected={selected} onSelect={id => select(id)} />
      {job && (
        <RunDetail
          job={job}
          runs={runs}
          metrics={metrics}
          compare={compare}
          compareId={compareId}
          onCompare={setCompareId}
          log={log}
          busy={busy}
          onAction={a => void act(a)}
        />
      )}
    </div>
  );
}
