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

/** One shared `EventSource` (or poller) for every subscriber of a data source. */
export class JobEvents {
  /** `url` gives the event-stream URL; `poll` is read when the stream cannot be opened. */
  constructor(
    private readonly url: () => string,
    private readonly poll: PollSource
  ) {}

  /**
   * Live updates. Every subscriber shares one `EventSource` (browsers allow few connections per
   * host), opened with the first subscriber and closed with the last.
   */
  subscribe(onJob: (job: Job) => void, onSystem?: (snapshot: SystemSnapshot) => void): Unsubscribe {
    this.jobListeners.add(onJob);
    if (onSystem) {
      this.systemListeners.add(onSystem);
    }
    this.connect();
    return () => {
      this.jobListeners.delete(onJob);
      if (onSystem) {
        this.systemListeners.delete(onSystem);
      }
      if (this.jobListeners.size === 0 && this.systemListeners.size === 0) {
        this.disconnect();
      }
    };
  }

  private readonly jobListeners = new Set<(job: Job) => void>();
  private readonly systemListeners = new Set<(snapshot: SystemSnapshot) => void>();
  private events: EventSource | null = null;
  private pollTimer: number | null = null;
  private polling = false;
  private pollDelay = POLL_MS;

  private emitJob(job: Job): void {
    this.jobListeners.forEach(fn => fn(job));
  }

  private emitSystem(snapshot: SystemSnapshot): void {
    this.systemListeners.forEach(fn => fn(snapshot));
  }

  private connect(): void {
    if (this.events || this.polling) {
      return;
    }
    if (typeof EventSource === 'undefined') {
      this.startPolling();
      return;
    }
    let opened = false;
    let source: EventSource;
    try {
      source = new EventSource(this.url(), { withCredentials: true });
    } catch {
      this.startPolling();
      return;
    }
    this.events = source;
    const parse = <T>(event: Event): T | null => {
      try {
        return JSON.parse((event as MessageEvent).data) as T;
      } catch {
        return null; // a malformed event is skipped
      }
    };
    source.addEventListener('open', () => {
      opened = true;
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
        if (this.events === source) {
          this.events = null;
          this.startPolling();
        }
      }
    });
  }

  private disconnect(): void {
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
        const wantSystem = this.systemListeners.size > 0;
        const [jobs, snapshot] = await Promise.all([
          this.jobListeners.size > 0 ? this.poll.listDownloads(null, 50) : Promise.resolve([]),
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
