import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';

/**
 * Jobs of one kind, newest first: loaded once with `load`, then kept live from the source's job
 * events. An event merges into what was loaded (a run's `final_metrics` from the list survive).
 * `onChange` hears every job update (e.g. the library refreshes when a download completes).
 */
export function useLiveJobs(
  source: DataSource,
  kind: string,
  load: () => Promise<Job[]>,
  onChange?: (job: Job, previous: Job | undefined) => void
): { jobs: Job[]; error: Error | null; reload: () => void; upsert: (job: Job) => void } {
  const [byId, setById] = React.useState<Map<string, Job>>(() => new Map());
  const [error, setError] = React.useState<Error | null>(null);
  const onChangeRef = React.useRef(onChange);
  onChangeRef.current = onChange;
  const loadRef = React.useRef(load);
  loadRef.current = load;

  const upsert = React.useCallback(
    (job: Job) => {
      if (!job || job.kind !== kind) {
        return;
      }
      setById(prev => {
        const previous = prev.get(job.id);
        if (previous && previous.updated_at > job.updated_at) {
          return prev; // an older snapshot arriving late
        }
        const next = new Map(prev);
        next.set(job.id, { ...previous, ...job });
        if (onChangeRef.current) {
          const cb = onChangeRef.current;
          window.setTimeout(() => cb(job, previous), 0);
        }
        return next;
      });
    },
    [kind]
  );

  const reload = React.useCallback(() => {
    loadRef.current().then(
      jobs => {
        setError(null);
        setById(prev => {
          const next = new Map(prev);
          for (const job of jobs) {
            const previous = next.get(job.id);
            if (!previous || previous.updated_at <= job.updated_at) {
              next.set(job.id, { ...previous, ...job });
            }
          }
          return next;
        });
      },
      err => setError(err as Error)
    );
  }, []);

  React.useEffect(() => {
    reload();
    // Only this kind's jobs travel on the event stream (`?topics=jobs&kinds=<kind>`).
    return source.subscribe(upsert, undefined, { topics: ['jobs'], kinds: [kind] });
  }, [source, reload, upsert, kind]);

  const jobs = React.useMemo(
    () => [...byId.values()].sort((a, b) => b.created_at - a.created_at),
    [byId]
  );
  return { jobs, error, reload, upsert };
}

/** Download jobs, live (see `useLiveJobs`). */
export function useDownloadJobs(
  source: DataSource,
  onChange?: (job: Job, previous: Job | undefined) => void
): { jobs: Job[]; error: Error | null; reload: () => void; upsert: (job: Job) => void } {
  return useLiveJobs(source, 'download', () => source.listDownloads(null, 200), onChange);
}
