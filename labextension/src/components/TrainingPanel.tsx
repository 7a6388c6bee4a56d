import * as React from 'react';

import type { DataSource } from '../api/source';
import type {
  DatasetInfo,
  Job,
  TrainingConfig,
  TrainingEstimate,
  TrainingMetric
} from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatDuration } from './format';
import { useDebounced } from './hooks';
import { ProgressBar } from './ProgressBar';
import { TrainingChart } from './TrainingChart';
import { useLiveJobs } from './useJobs';

export interface TrainingPanelProps {
  source: DataSource;
  /** The run shown at start (the widget's `run_id` trait). */
  initialRunId?: string;
  /** Hear the selected run change (the widget syncs it back to Python). */
  onRunChange?: (runId: string) => void;
  /** Subscribe to outside changes of the selected run (the widget's `run_id` trait). */
  watchRunId?: (listener: (runId: string) => void) => () => void;
}

const POLL_MS = 2000;
const ACTIVE = new Set(['queued', 'running']);

function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

function str(value: unknown): string {
  return typeof value === 'string'
    ? value
    : value === null || value === undefined
      ? ''
      : String(value);
}

/** The base model, dataset and step count a run was started with. */
export function runFacts(job: Job): { base: string; dataset: string; steps: number | null } {
  const p = job.params ?? {};
  const config = (p.config ?? {}) as Record<string, unknown>;
  return {
    base: str(p.base ?? p.model),
    dataset: str(p.dataset_name ?? p.dataset),
    steps: num(p.total_steps) ?? num(p.steps) ?? num(config.steps) ?? num(job.progress?.total)
  };
}

/** The last (or final) training loss of a run, wherever the job keeps it. */
export function finalLoss(job: Job): number | null {
  const r = (job.result ?? {}) as Record<string, unknown>;
  const top = (job as unknown as Record<string, unknown>).final_metrics;
  const metrics = (r.metrics ?? r.final_metrics ?? top ?? {}) as Record<string, unknown>;
  return (
    num(r.final_loss) ??
    num(r.train_loss) ??
    num(r.loss) ??
    num(metrics.loss) ??
    num(metrics.train_loss) ??
    num(job.progress?.detail?.loss)
  );
}

function shortName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** Merge metrics rows by step (a train row and an eval row of one step become one). */
export function mergeMetrics(prev: TrainingMetric[], rows: TrainingMetric[]): TrainingMetric[] {
  if (!rows.length) {
    return prev;
  }
  const byStep = new Map(prev.map(m => [m.step, m]));
  for (const row of rows) {
    if (typeof row?.step !== 'number') {
      continue;
    }
    const old = byStep.get(row.step);
    const merged: TrainingMetric = { ...(old ?? {}), step: row.step };
    for (const [k, v] of Object.entries(row)) {
      if (v !== null && v !== undefined) {
        (merged as unknown as Record<string, unknown>)[k] = v;
      }
    }
    byStep.set(row.step, merged);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** A run's metrics, loaded whole then extended with `since_step` as it trains. */
function useRunMetrics(
  source: DataSource,
  job: Job | undefined
): { metrics: TrainingMetric[]; error: Error | null } {
  const [metrics, setMetrics] = React.useState<TrainingMetric[]>([]);
  const [error, setError] = React.useState<Error | null>(null);
  const lastStep = React.useRef(0);
  const inFlight = React.useRef(false);
  const again = React.useRef(false);
  const runId = job?.id;
  const active = !!job && ACTIVE.has(job.state);
  const done = job?.progress?.done ?? 0;
  const state = job?.state;
  const current = React.useRef<string | undefined>(runId);

  const fetchMore = React.useCallback(async () => {
    const id = current.current;
    if (!id) {
      return;
    }
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    try {
      const rows = await source.trainingMetrics(id, lastStep.current);
      if (current.current !== id) {
        return;
      }
      setError(null);
      if (rows.length) {
        lastStep.current = Math.max(lastStep.current, ...rows.map(r => r.step ?? 0));
        setMetrics(prev => mergeMetrics(prev, rows));
      }
    } catch (err) {
      if (current.current === id) {
        setError(err as Error);
      }
    } finally {
      inFlight.current = false;
      if (again.current) {
        again.current = false;
        void fetchMore();
      }
    }
  }, [source]);

  React.useEffect(() => {
    current.current = runId;
    lastStep.current = 0;
    setMetrics([]);
    setError(null);
    if (runId) {
      void fetchMore();
    }
  }, [runId, fetchMore]);

  // Each progress event (a new step) or a state change fetches the rows after the last step.
  React.useEffect(() => {
    if (runId && done > 0) {
      void fetchMore();
    }
  }, [runId, done, state, fetchMore]);

  // Events are coalesced; while the run is active, poll as well.
  React.useEffect(() => {
    if (!runId || !active) {
      return;
    }
    const timer = window.setInterval(() => void fetchMore(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [runId, active, fetchMore]);

  return { metrics, error };
}

/** Another run's whole metrics (for the overlay). */
function useCompareMetrics(
  source: DataSource,
  runId: string,
  updated: number
): TrainingMetric[] | null {
  const [rows, setRows] = React.useState<TrainingMetric[] | null>(null);
  React.useEffect(() => {
    if (!runId) {
      setRows(null);
      return;
    }
    let live = true;
    source.trainingMetrics(runId, 0).then(
      r => live && setRows(mergeMetrics([], r)),
      () => live && setRows([])
    );
    return () => {
      live = false;
    };
  }, [source, runId, updated]);
  return runId ? rows : null;
}

function useLogTail(source: DataSource, job: Job | undefined): string {
  const [text, setText] = React.useState('');
  const runId = job?.id;
  const active = !!job && ACTIVE.has(job.state);
  const state = job?.state;
  React.useEffect(() => {
    setText('');
  }, [runId]);
  React.useEffect(() => {
    if (!runId) {
      return;
    }
    let live = true;
    const load = (): void => {
      source.trainingLogs(runId, 200).then(
        t => live && setText(t),
        () => undefined
      );
    };
    load();
    const timer = active ? window.setInterval(load, POLL_MS) : null;
    return () => {
      live = false;
      if (timer !== null) {
        window.clearInterval(timer);
      }
    };
  }, [source, runId, active, state]);
  return text;
}

/** Training runs, live (see `useLiveJobs`). */
function useRuns(source: DataSource): {
  runs: Job[];
  error: Error | null;
  reload: () => void;
  upsert: (job: Job) => void;
} {
  const { jobs, error, reload, upsert } = useLiveJobs(source, 'train', () => source.trainingRuns());
  return { runs: jobs, error, reload, upsert };
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
      <div className="jp-ModelStudio-trainingRuns" data-testid="training-runs" role="listbox">
        {runs.map(run => (
          <RunRow
            key={run.id}
            run={run}
            selected={run.id === selected}
            onSelect={() => select(run.id)}
          />
        ))}
        {runs.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="training-empty">
            No training runs yet. Start one with “New run”.
          </div>
        )}
      </div>
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

function RunRow(props: { run: Job; selected: boolean; onSelect: () => void }): JSX.Element {
  const { run } = props;
  const facts = runFacts(run);
  const loss = finalLoss(run);
  return (
    <div
      className={`jp-ModelStudio-trainingRun${props.selected ? ' jp-mod-selected' : ''}`}
      data-testid={`training-run-${run.id}`}
      data-state={run.state}
      role="option"
      aria-selected={props.selected}
      tabIndex={0}
      onClick={props.onSelect}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          props.onSelect();
          e.preventDefault();
        }
      }}
    >
      <span className={`jp-ModelStudio-state jp-ModelStudio-state-${run.state}`}>{run.state}</span>
      <span className="jp-ModelStudio-trainingRunBase" title={facts.base}>
        {facts.base || run.title || run.id}
      </span>
      <span className="jp-ModelStudio-muted" title={facts.dataset}>
        {shortName(facts.dataset)}
      </span>
      <span className="jp-ModelStudio-muted">
        {run.progress?.done ?? 0}/{facts.steps ?? '?'} steps
      </span>
      <span title="Last training loss">{loss !== null ? `loss ${loss.toFixed(3)}` : ''}</span>
    </div>
  );
}

function RunDetail(props: {
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

interface FormState {
  base: string;
  dataset: string;
  steps: string;
  learning_rate: string;
  lora_r: string;
  lora_alpha: string;
  max_seq_length: string;
}

const DEFAULT_FORM: FormState = {
  base: '',
  dataset: '',
  steps: '20',
  learning_rate: '0.0002',
  lora_r: '8',
  lora_alpha: '16',
  max_seq_length: '512'
};

export function formConfig(form: FormState): TrainingConfig {
  const n = (v: string): number | null =>
    v.trim() === '' || !isFinite(Number(v)) ? null : Number(v);
  return {
    steps: n(form.steps),
    learning_rate: n(form.learning_rate),
    lora_r: n(form.lora_r),
    lora_alpha: n(form.lora_alpha),
    max_seq_length: n(form.max_seq_length)
  };
}

/** The "New run" form: base model, dataset (or upload), steps, LR, LoRA rank/alpha, estimate. */
function TrainingForm(props: { source: DataSource; onStarted: (job: Job) => void }): JSX.Element {
  const { source } = props;
  const [form, setForm] = React.useState<FormState>(DEFAULT_FORM);
  const [models, setModels] = React.useState<string[]>([]);
  const [datasets, setDatasets] = React.useState<DatasetInfo[]>([]);
  const [estimate, setEstimate] = React.useState<TrainingEstimate | null>(null);
  const [estimateError, setEstimateError] = React.useState('');
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState('');
  const settled = useDebounced(form, 300);

  const set =
    (key: keyof FormState) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
      setForm(prev => ({ ...prev, [key]: e.target.value }));

  const loadDatasets = React.useCallback(
    async (choose?: string) => {
      try {
        const list = await source.datasets();
        setDatasets(list);
        setForm(prev => ({
          ...prev,
          dataset: choose ?? (prev.dataset || list[0]?.name || '')
        }));
      } catch (err) {
        setError(err as Error);
      }
    },
    [source]
  );

  React.useEffect(() => {
    let live = true;
    source.chatModels().then(
      list => {
        if (!live) {
          return;
        }
        const ids = list.filter(m => m.local !== false && !m.id.startsWith('run/')).map(m => m.id);
        setModels(ids);
        setForm(prev => ({ ...prev, base: prev.base || ids[0] || '' }));
      },
      err => live && setError(err as Error)
    );
    void loadDatasets();
    return () => {
      live = false;
    };
  }, [source, loadDatasets]);

  React.useEffect(() => {
    if (!settled.base || !settled.dataset) {
      setEstimate(null);
      return;
    }
    let live = true;
    setEstimateError('');
    source.estimateTraining(settled.base, settled.dataset, formConfig(settled)).then(
      e => live && setEstimate(e),
      err => {
        if (live) {
          setEstimate(null);
          setEstimateError((err as Error).message);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [source, settled]);

  const upload = async (e: React.ChangeEvent<HTMLInputElement>): Promise<void> => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) {
      return;
    }
    setBusy('upload');
    setError(null);
    try {
      const content = await file.text();
      const name = file.name.replace(/\.[^.]+$/, '');
      const info = await source.uploadDataset(file.name, content, name);
      await loadDatasets(info?.name ?? name);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const start = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy('start');
    setError(null);
    try {
      props.onStarted(await source.startTraining(form.base, form.dataset, formConfig(form)));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const ds = datasets.find(d => d.name === form.dataset);
  return (
    <form
      className="jp-ModelStudio-trainingForm"
      data-testid="training-form"
      onSubmit={e => void start(e)}
    >
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="training-form-error" />
      <label>
        Base model
        <select
          className="jp-ModelStudio-select"
          data-testid="training-base"
          value={form.base}
          onChange={set('base')}
        >
          {models.length === 0 && <option value="">(no local chat models)</option>}
          {models.map(id => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
      </label>
      <label>
        Dataset
        <select
          className="jp-ModelStudio-select"
          data-testid="training-dataset"
          value={form.dataset}
          onChange={set('dataset')}
        >
          {datasets.length === 0 && <option value="">(upload a dataset)</option>}
          {datasets.map(d => (
            <option key={d.name} value={d.name}>
              {d.name}
              {d.rows ? ` (${d.rows} rows${d.shape ? `, ${d.shape}` : ''})` : ''}
            </option>
          ))}
        </select>
      </label>
      <label>
        Upload
        <input
          type="file"
          accept=".jsonl,.json,.csv,.parquet,.txt"
          data-testid="training-upload"
          disabled={busy === 'upload'}
          onChange={e => void upload(e)}
        />
      </label>
      <label>
        Steps
        <input
          type="number"
          min={1}
          data-testid="training-steps"
          value={form.steps}
          onChange={set('steps')}
        />
      </label>
      <label>
        Learning rate
        <input
          type="number"
          step="any"
          min={0}
          data-testid="training-lr"
          value={form.learning_rate}
          onChange={set('learning_rate')}
        />
      </label>
      <label>
        LoRA rank
        <input
          type="number"
          min={1}
          data-testid="training-rank"
          value={form.lora_r}
          onChange={set('lora_r')}
        />
      </label>
      <label>
        LoRA alpha
        <input
          type="number"
          min={1}
          data-testid="training-alpha"
          value={form.lora_alpha}
          onChange={set('lora_alpha')}
        />
      </label>
      <label>
        Max sequence length
        <input
          type="number"
          min={16}
          data-testid="training-max-seq"
          value={form.max_seq_length}
          onChange={set('max_seq_length')}
        />
      </label>
      <div
        className="jp-ModelStudio-trainingEstimate jp-ModelStudio-muted"
        data-testid="training-estimate"
      >
        {estimate
          ? `≈ ${formatBytes(num(estimate.memory_bytes))} memory · ${
              num(estimate.seconds_per_step) !== null
                ? `${num(estimate.seconds_per_step)!.toFixed(2)} s/step · `
                : ''
            }${formatDuration(num(estimate.seconds))} total`
          : estimateError
            ? `No estimate: ${estimateError}`
            : ds
              ? 'Estimating…'
              : 'Pick a base model and a dataset'}
      </div>
      <button
        type="submit"
        className="jp-ModelStudio-button jp-mod-accept"
        data-testid="training-start"
        disabled={!form.base || !form.dataset || busy !== ''}
      >
        {busy === 'start' ? 'Starting…' : 'Start training'}
      </button>
    </form>
  );
}
