import * as React from 'react';

import type { Job, TrainingMetric } from '../../api/types';
import { EnergyNote, jobEnergy } from '../EnergySection';
import { ErrorBanner } from '../ErrorBanner';
import { formatDuration } from '../format';
import { ProgressBar } from '../ProgressBar';
import { TrainingChart } from '../TrainingChart';
import { ACTIVE, finalLoss, num, runFacts, shortName } from './runs';

/** The selected run: progress, actions (cancel, resume, merge), loss chart with an optional
 * compared run, and the log tail. */
export function RunDetail(props: {
  job: Job;
  runs: Job[];
  metrics: TrainingMetric[];
  compare: TrainingMetric[] | null;
  compareId: string;
  onCompare: (id: string) => void;
  log: string;
  busy: boolean;
  onAction: (a: 'cancel' | 'resume' | 'merge') => void;
}): JSX.Element {
  const { job } = props;
  const p = job.progress ?? ({} as Job['progress']);
  const facts = runFacts(job);
  const detail = (p.detail ?? {}) as Record<string, unknown>;
  const epoch = num(detail.epoch) ?? props.metrics[props.metrics.length - 1]?.epoch ?? null;
  const loss = num(detail.loss) ?? finalLoss(job);
  const active = ACTIVE.has(job.state);
  const fraction = job.state === 'completed' ? 1 : (p.fraction ?? (active ? null : 0));
  const canResume = ['cancelled', 'interrupted', 'failed', 'paused'].includes(job.state);
  const logRef = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    const el = logRef.current;
    if (el) {
      el.scrollTop = el.scrollHeight;
    }
  }, [props.log]);
  const others = props.runs.filter(r => r.id !== job.id);
  const compareRun = others.find(r => r.id === props.compareId);

  return (
    <div
      className="jp-ModelStudio-trainingDetail"
      data-testid="training-detail"
      data-run-id={job.id}
    >
      <div className="jp-ModelStudio-cardHead">
        <span className="jp-ModelStudio-cardTitle" title={job.id}>
          {facts.base} · {shortName(facts.dataset)}
        </span>
        <span className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}>
          {job.state}
        </span>
      </div>
      <div
        className="jp-ModelStudio-trainingProgress"
        data-testid="training-progress"
        data-done={p.done ?? 0}
      >
        <ProgressBar
          fraction={fraction}
          label={`Training progress of ${job.id}`}
          tone={job.state === 'failed' ? 'bad' : canResume ? 'warn' : 'normal'}
        />
        <div className="jp-ModelStudio-meta">
          <span>
            step {p.done ?? 0} / {p.total ?? facts.steps ?? '?'}
          </span>
          {epoch !== null && <span>epoch {epoch.toFixed(2)}</span>}
          {loss !== null && <span>loss {loss.toFixed(4)}</span>}
          {active && <span title="Time left">ETA {formatDuration(p.eta)}</span>}
          {active && p.rate ? <span>{p.rate.toFixed(2)} steps/s</span> : null}
          {job.state === 'completed' && (
            <span title="Chat with the adapter under this name">
              chat model <code>run/{job.id}</code>
            </span>
          )}
          <EnergyNote energy={jobEnergy(job)} />
          {p.message && <span className="jp-ModelStudio-muted">{p.message}</span>}
        </div>
      </div>
      {job.error && <ErrorBanner error={job.error} testId="training-run-error" />}
      <div className="jp-ModelStudio-toolbar">
        <label className="jp-ModelStudio-check">
          Compare with
          <select
            className="jp-ModelStudio-select"
            data-testid="training-compare"
            value={props.compareId}
            onChange={e => props.onCompare(e.target.value)}
          >
            <option value="">—</option>
            {others.map(r => (
              <option key={r.id} value={r.id}>
                {runFacts(r).base} · {r.id.slice(0, 8)} ({r.state})
              </option>
            ))}
          </select>
        </label>
        <span className="jp-ModelStudio-spacer" />
        {active && (
          <button
            className="jp-ModelStudio-button jp-mod-warn"
            data-testid="training-cancel"
            disabled={props.busy}
            onClick={() => props.onAction('cancel')}
          >
            Cancel
          </button>
        )}
        {canResume && (
          <button
            className="jp-ModelStudio-button"
            data-testid="training-resume"
            disabled={props.busy}
            onClick={() => props.onAction('resume')}
          >
            Resume
          </button>
        )}
        {job.state === 'completed' && (
          <button
            className="jp-ModelStudio-button"
            data-testid="training-merge"
            disabled={props.busy}
            title="Merge the adapter into a copy of the base model"
            onClick={() => props.onAction('merge')}
          >
            Merge
          </button>
        )}
      </div>
      <TrainingChart
        metrics={props.metrics}
        compare={props.compareId ? (props.compare ?? []) : null}
        compareLabel={compareRun ? compareRun.id.slice(0, 8) : undefined}
      />
      <pre className="jp-ModelStudio-trainingLog" data-testid="training-log" ref={logRef}>
        {props.log || (active ? 'Waiting for the log…' : '(no log)')}
      </pre>
    </div>
  );
}
