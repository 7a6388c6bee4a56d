// What a training run's job says: its facts, its loss, and its metrics rows merged by step.
import type { Job, TrainingMetric } from '../../api/types';

export const POLL_MS = 2000;
export const ACTIVE = new Set(['queued', 'running']);

export function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

export function str(value: unknown): string {
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

export function shortName(path: string): string {
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
