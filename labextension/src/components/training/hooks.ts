// A training run's live data: the runs list, its metrics (and a compared run's), its log tail.
import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, TrainingMetric } from '../../api/types';
import { useLiveJobs } from '../useJobs';
import { ACTIVE, mergeMetrics, POLL_MS } from './runs';

/** A run's metrics, loaded whole then extended with `since_step` as it trains. */
export function useRunMetrics(
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
export function useCompareMetrics(
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

export function useLogTail(source: DataSource, job: Job | undefined): string {
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
export function useRuns(source: DataSource): {
  runs: Job[];
  error: Error | null;
  reload: () => void;
  upsert: (job: Job) => void;
} {
  const { jobs, error, reload, upsert } = useLiveJobs(source, 'train', () => source.trainingRuns());
  return { runs: jobs, error, reload, upsert };
}
