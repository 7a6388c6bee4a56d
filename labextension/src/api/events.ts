/**
 * Live job and system updates from the `/events` Server-Sent Events stream, falling back to
 * polling when the stream cannot be opened.
 */
import type { Unsubscribe } from './source';
import type { Job, JobStateName, SystemSnapshot } from './types';

const POLL_MS = 2000;
const MAX_POLL_MS = 30000;

/** What the polling fallback reads. */
export interface PollSource {
  listDownloads(state?: JobStateName | null, limit?: number | null): Promise<Job[]>;
  system(): Promise<SystemSnapshot>;
}

/** What a subscriber wants (`GET /events?topics=&kinds=&job=`); absent fields: everything. */
export interface EventFilter {
  /** `jobs` (job events) and/or `system` (snapshots; only heard with an `onSystem`). */
  topics?: EventTopic[];
  /** Job kinds: download, train, batch, video. A job matching `kinds` or `jobs` is heard. */
  kinds?: string[];
  /** Job ids (at most `MAX_FOLLOWED_JOBS` are sent to the server; more: every job, filtered here). */
  jobs?: string[];
}

export type EventTopic = 'jobs' | 'system';

/** The server's limit on `job=` ids (server/_event_filter.py MAX_JOBS). */
export const MAX_FOLLOWED_JOBS = 50;

interface Subscriber {
  onJob: (job: Job) => void;
  onSystem?: (snapshot: SystemSnapshot) => void;
  filter?: EventFilter;
}

function wantsJobs(sub: Subscriber): boolean {
  return !sub.filter?.topics || sub.filter.topics.includes('jobs');
}

function wantsSystem(sub: Subscriber): boolean {
  return !!sub.onSystem && (!sub.filter?.topics || sub.filter.topics.includes('system'));
}

/** Whether a job event reaches a subscriber: its kind or its id is one it asked for. */
export function jobMatches(filter: EventFilter | undefined, job: Job): boolean {
  const kinds = filter?.kinds ?? [];
  const jobs = filter?.jobs ?? [];
  if (kinds.length === 0 && jobs.length === 0) {
    return true;
  }
  return kinds.includes(job.kind) || jobs.includes(job.id);
}

/**
 * The query that serves every subscriber at once (the union of their filters), or '' for
 * everything; sorted, so the same subscribers always give the same query.
 */
export function unionQuery(subscribers: Iterable<Subscriber>): string {
  let jobs = false;
  let system = false;
  let everyJob = false;
  const kinds = new Set<string>();
  const ids = new Set<string>();
  for (const sub of subscribers) {
    if (wantsSystem(sub)) {
      system = true;
    }
    if (!wantsJobs(sub)) {
      continue;
    }
    jobs = true;
    const k = sub.filter?.kinds ?? [];
    const j = sub.filter?.jobs ?? [];
    if (k.length === 0 && j.length === 0) {
      everyJob = true;
    }
    k.forEach(kind => kinds.add(kind));
    j.forEach(id => ids.add(id));
  }
  if (ids.size > MAX_FOLLOWED_JOBS) {
    everyJob = true;
  }
  const topics = [jobs || !system ? 'jobs' : null, system ? 'system' : null].filter(Boolean);
  const parts: string[] = [];
  if (topics.length === 1) {
    parts.push(`topics=${topics[0]}`);
  }
  if (jobs && !everyJob) {
    if (kinds.size) {
      parts.push(`kinds=${[...kinds].sort().map(encodeURIComponent).join(',')}`);
    }
    if (ids.size) {
      parts.push(`job=${[...ids].sort().map(encodeURIComponent).join(',')}`);
    }
  }
  return parts.join('&');
}

/**
 * One shared `EventSource` (or poller) for every subscriber of a data source, asking the server
 * for the union of what they want; each subscriber then hears only what its own filter matches.
 */
export class JobEvents {
  /** `url` gives the event-stream URL; `poll` is read when the stream cannot be opened. */
  constructor(
    private readonly url: () => string,
    private readonly poll: PollSource
  ) {}

  /**
   * Live updates. Every subscriber shares one `EventSource` (browsers allow few connections per
   * host), opened with the first subscriber and closed with the last; it is reopened with a new
   * query when the union of the filters changes (the old one closes once the new one is open).
   */
  subscribe(
    onJob: (job: Job) => void,
    onSystem?: (snapshot: SystemSnapshot) => void,
    filter?: EventFilter
  ): Unsubscribe {
    const sub: Subscriber = { onJob, onSystem, filter };
    this.subscribers.add(sub);
    this.connect();
    return () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) {
        this.disconnect();
      } else {
        this.connect();
      }
    };
  }

  /** The query of the open stream ('' for everything), or null when none is open. */
  get query(): string | null {
    return this.events ? this.openQuery : null;
  }

  private readonly subscribers = new Set<Subscriber>();
  private events: EventSource | null = null;
  private replaced: EventSource | null = null;
  private openQuery = '';
  private pollTimer: number | null = null;
  private polling = false;
  private pollDelay = POLL_MS;

  private emitJob(job: Job): void {
    this.subscribers.forEach(sub => {
      if (wantsJobs(sub) && jobMatches(sub.filter, job)) {
        sub.onJob(job);
      }
    });
  }

  private emitSystem(snapshot: SystemSnapshot): void {
    this.subscribers.forEach(sub => {
      if (wantsSystem(sub)) {
        sub.onSystem?.(snapshot);
      }
    });
  }

  private connect(): void {
    if (this.polling) {
      return;
    }
    const query = unionQuery(this.subscribers);
    if (this.events && query === this.openQuery) {
      return;
    }
    if (typeof EventSource === 'undefined') {
      this.startPolling();
      return;
    }
    const base = this.url();
    const url = query ? `${base}${base.includes('?') ? '&' : '?'}${query}` : base;
    let opened = false;
    let source: EventSource;
    try {
      source = new EventSource(url, { withCredentials: true });
    } catch {
      this.startPolling();
      return;
    }
    this.replaced?.close(); // a stream replaced earlier that has not been retired yet
    const previous = this.events;
    this.replaced = previous;
    this.events = source;
    this.openQuery = query;
    const retire = (): void => {
      // the stream it replaces closes once this one is open (no gap; a duplicate is harmless)
      previous?.close();
      if (this.replaced === previous) {
        this.replaced = null;
      }
    };
    const parse = <T>(event: Event): T | null => {
      try {
        return JSON.parse((event as MessageEvent).data) as T;
      } catch {
        return null; // a malformed event is skipped
      }
    };
    source.addEventListener('open', () => {
      opened = true;
      retire();
    });
    source.addEventListener('job', event => {
      const job = parse<Job>(event);
      if (job) {
        this.emitJob(job);
      }
    });
    source.addEventListener('system', event => {
      const snapshot = parse<SystemSnapshot>(event);
      if (snapshot) {
        this.emitSystem(snapshot);
      }
    });
    source.addEventListener('error', () => {
      // Never opened (no route, auth refused): poll instead. After a successful open the
      // browser reconnects by itself unless it gave up (readyState CLOSED).
      if (!opened || source.readyState === EventSource.CLOSED) {
        source.close();
        retire();
        if (this.events === source) {
          this.events = null;
          this.startPolling();
        }
      }
    });
  }

  private disconnect(): void {
    this.replaced?.close();
    this.replaced = null;
    this.events?.close();
    this.events = null;
    this.polling = false;
    if (this.pollTimer !== null) {
      window.clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }
  }

  /** Poll downloads (and the system, when someone listens) every 2 s; back off while failing. */
  private startPolling(): void {
    if (this.polling) {
      return;
    }
    this.polling = true;
    const tick = async (): Promise<void> => {
      this.pollTimer = null;
      if (!this.polling) {
        return;
      }
      try {
        const wantSystem = [...this.subscribers].some(wantsSystem);
        const [jobs, snapshot] = await Promise.all([
          [...this.subscribers].some(wantsJobs)
            ? this.poll.listDownloads(null, 50)
            : Promise.resolve([]),
          wantSystem ? this.poll.system() : Promise.resolve(null)
        ]);
        if (this.polling) {
          jobs.forEach(job => this.emitJob(job));
          if (snapshot) {
            this.emitSystem(snapshot);
          }
        }
        this.pollDelay = POLL_MS;
      } catch {
        // Panels show their own errors; here we only slow down (e.g. server extension missing).
        this.pollDelay = Math.min(this.pollDelay * 2, MAX_POLL_MS);
      }
      if (this.polling) {
        this.pollTimer = window.setTimeout(() => void tick(), this.pollDelay);
      }
    };
    void tick();
  }
}
