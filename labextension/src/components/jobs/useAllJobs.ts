import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, JobQuery } from '../../api/types';

/** Whether `job` passes the filters (applied to live events as the server applies them to the list). */
export function matches(job: Job, query: JobQuery): boolean {
  if (query.kind && job.kind !== query.kind) {
    return false;
  }
  if (query.state && job.state !== query.state) {
    return false;
  }
  const text = (query.q ?? '').trim().toLowerCase();
  if (text) {
    const hay = `${job.id} ${job.title} ${JSON.stringify(job.params ?? {})}`.toLowerCase();
    return hay.includes(text);
  }
  return true;
}

/**
 * Jobs of every kind matching `query`, newest first: loaded with `jobs.list`, then kept live from
 * the source's job events (an event for a job the filters exclude drops it from the list).
 */
export function useAllJobs(
  source: DataSource,
  query: JobQuery
): {
  jobs: Job[];
  error: Error | null;
  reload: () => void;
  upsert: (job: Job) => void;
  remove: (id: string) => void;
} {
  const [byId, setById] = React.useState<Map<string, Job>>(() => new Map());
  const [error, setError] = React.useState<Error | null>(null);
  const queryRef = React.useRef(query);
  queryRef.current = query;
  const key = JSON.stringify(query);

  const upsert = React.useCallback((job: Job) => {
    if (!job || !job.id) {
      return;
    }
    setById(prev => {
      const previous = prev.get(job.id);
      if (previous && previous.updated_at > job.updated_at) {
        return prev;
      }
      const next = new Map(prev);
      if (matches(job, queryRef.current)) {
        next.set(job.id, { ...previous, ...job });
      } else {
        next.delete(job.id);
      }
      return next;
    });
  }, []);

  const remove = React.useCallback((id: string) => {
    setById(prev => {
      const next = new Map(prev);
      next.delete(id);
      return next;
    });
  }, []);

  const reload = React.useCallback(() => {
    source.listJobs(queryRef.current).then(
      jobs => {
        setError(null);
        setById(new Map(jobs.map(j => [j.id, j])));
      },
      err => setError(err as Error)
    );
  }, [source]);

  // `key` (the filters) reloads the list when they change; `reload` reads them from `queryRef`.
  React.useEffect(reload, [reload, key]);
  React.useEffect(() => source.subscribe(upsert), [source, upsert]);

  const jobs = React.useMemo(
    () => [...byId.values()].sort((a, b) => b.created_at - a.created_at),
    [byId]
  );
  return { jobs, error, reload, upsert, remove };
}
