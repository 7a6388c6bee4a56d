import * as React from 'react';

import type { DataSource } from '../api/source';
import type { Job } from '../api/types';

/**
 * Download jobs, newest first: loaded once, then kept live from the source's job events.
 * `onChange` hears every job update (e.g. the library refreshes when a download completes).
 */
export function useDownloadJobs(
  source: DataSource,
  onChange?: (job: Job, previous: Job | undefined) => void
): { jobs: Job[]; error: Error | null; reload: () => void; upsert: (job: Job) => void } {
  const [byId, setById] = React.useState<Map<string, Job>>(() => new Map());
  const [error, setError] = React.useState<Error | null>(null);
  const onChangeRef = React.useRef(onChange);
  onChangeRef.current = onChange;

  const upsert = React.useCallback((job: Job) => {
    if (!job || job.kind !== 'download') {
      return;
    }
    setById(prev => {
      const previous = prev.get(job.id);
      if (previous && previous.updated_at > job.updated_at) {
        return prev; // an older snapshot arriving late
      }
      const next = new Map(prev);
      next.set(job.id, job);
      if (onChangeRef.current) {
        const cb = onChangeRef.current;
        window.setTimeout(() => cb(job, previous), 0);
      }
      return next;
    });
  }, []);

  const reload = React.useCallback(() => {
    source.listDownloads(null, 200).then(
      jobs => {
        setError(null);
        setById(prev => {
          const next = new Map(prev);
          for (const job of jobs) {
            const previous = next.get(job.id);
            if (!previous || previous.updated_at <= job.updated_at) {
              next.set(job.id, job);
            }
          }
          return next;
        });
      },
      err => setError(err as Error)
    );
  }, [source]);

  React.useEffect(() => {
    reload();
    return source.subscribe(upsert);
  }, [source, reload, upsert]);

  const jobs = React.useMemo(
    () => [...byId.values()].sort((a, b) => b.created_at - a.created_at),
    [byId]
  );
  return { jobs, error, reload, upsert };
}
