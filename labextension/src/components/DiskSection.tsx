import * as React from 'react';

import type { DataSource } from '../api/source';
import type { DiskFreeWhat, DiskReport, Duplicate } from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes } from './format';
import { ProgressBar } from './ProgressBar';

/**
 * "Disk use": bytes per model store as bars, copies of one file across stores (same sha256) with
 * a Free action on the copies the studio owns, and what else could be freed. Read when opened
 * (finding copies hashes files of equal size; hashes are cached, so a second read is fast).
 */
export function DiskSection(props: { source: DataSource }): JSX.Element {
  const { source } = props;
  const [open, setOpen] = React.useState(false);
  const [report, setReport] = React.useState<DiskReport | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [note, setNote] = React.useState<string | null>(null);

  const load = React.useCallback(() => {
    setBusy(true);
    source.diskUsage().then(
      r => {
        setReport(r);
        setError(null);
        setBusy(false);
      },
      err => {
        setError(err as Error);
        setBusy(false);
      }
    );
  }, [source]);

  React.useEffect(() => {
    if (open && !report && !busy) {
      load();
    }
  }, [open, report, busy, load]);

  const free = async (what: DiskFreeWhat, path?: string): Promise<void> => {
    try {
      const done = await source.diskFree(what, path);
      setNote(`Freed ${formatBytes(done.bytes_freed)}`);
      setError(null);
      load();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <details
      className="jp-ModelStudio-section jp-ModelStudio-disk"
      data-testid="system-disk-use"
      onToggle={e => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary className="jp-ModelStudio-sectionTitle">Disk use</summary>
      <ErrorBanner error={error} testId="disk-use-error" />
      {open && !report && !error && <div className="jp-ModelStudio-empty">Reading the stores…</div>}
      {note && (
        <div className="jp-ModelStudio-muted" data-testid="disk-use-note">
          {note}
        </div>
      )}
      {report && <DiskReportView report={report} onFree={free} />}
      {report && (
        <button
          className="jp-ModelStudio-button"
          data-testid="disk-use-refresh"
          disabled={busy}
          onClick={load}
        >
          {busy ? 'Reading…' : 'Refresh'}
        </button>
      )}
    </details>
  );
}

type FreeFn = (what: DiskFreeWhat, path?: string) => Promise<void>;

function DiskReportView(props: { report: DiskReport; onFree: FreeFn }): JSX.Element {
  const { report, onFree } = props;
  const stores = report.stores.filter(s => s.exists);
  const largest = Math.max(1, ...stores.map(s => s.bytes));
  const f = report.freeable;
  const other: [DiskFreeWhat, string, number][] = [
    ['partial_downloads', 'Partial downloads', f.partial_downloads.bytes],
    ['job_leftovers', "Failed or stopped jobs' files", f.job_leftovers.bytes],
    ['old_videos', `Videos older than ${f.old_videos.older_than_days} days`, f.old_videos.bytes]
  ];
  return (
    <div data-testid="disk-use-report">
      <div className="jp-ModelStudio-muted" data-testid="disk-use-total">
        {formatBytes(report.total_bytes)} in {stores.length} stores ·{' '}
        {formatBytes(report.duplicate_bytes)} in extra copies · {formatBytes(f.total)} could be
        freed
      </div>
      {stores.map(s => (
        <div
          key={s.name}
          className="jp-ModelStudio-metric"
          data-testid={`disk-store-${s.kind}`}
          data-bytes={s.bytes}
          title={s.root}
        >
          <div className="jp-ModelStudio-metricHead">
            <span className="jp-ModelStudio-metricLabel">
              {s.label}
              {s.owned ? '' : ' (read-only)'}
            </span>
            <span className="jp-ModelStudio-metricValue">
              {formatBytes(s.bytes)} · {s.files} {s.files === 1 ? 'file' : 'files'}
            </span>
          </div>
          <ProgressBar fraction={s.bytes / largest} label={s.label} />
        </div>
      ))}
      <h4 className="jp-ModelStudio-subTitle">Copies of the same file</h4>
      {report.duplicates.length === 0 && (
        <div className="jp-ModelStudio-muted" data-testid="disk-no-duplicates">
          No file is stored twice.
        </div>
      )}
      {report.duplicates.map(d => (
        <DuplicateView key={d.sha256} dup={d} onFree={onFree} />
      ))}
      <h4 className="jp-ModelStudio-subTitle">Could be freed</h4>
      <table className="jp-ModelStudio-table" data-testid="disk-freeable">
        <tbody>
          <tr>
            <td>Extra copies the studio owns</td>
            <td>{formatBytes(f.duplicates)}</td>
            <td />
          </tr>
          {other.map(([what, label, bytes]) => (
            <tr key={what} data-testid={`disk-freeable-${what}`}>
              <td>{label}</td>
              <td>{formatBytes(bytes)}</td>
              <td>
                {bytes > 0 && (
                  <ConfirmButton
                    label="Free"
                    testId={`disk-free-${what}`}
                    onConfirm={() => onFree(what)}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DuplicateView(props: { dup: Duplicate; onFree: FreeFn }): JSX.Element {
  const { dup, onFree } = props;
  return (
    <div className="jp-ModelStudio-duplicate" data-testid="disk-duplicate" data-sha256={dup.sha256}>
      <div className="jp-ModelStudio-metricHead">
        <span className="jp-ModelStudio-metricLabel" title={dup.sha256}>
          {dup.sha256.slice(0, 12)} · {formatBytes(dup.size)} × {dup.copies.length}
        </span>
        <span className="jp-ModelStudio-metricValue">{formatBytes(dup.extra_bytes)} extra</span>
      </div>
      <ul className="jp-ModelStudio-copies">
        {dup.copies.map(c => (
          <li key={c.path} data-testid="disk-copy" data-path={c.path} title={c.path}>
            <span>
              {c.store_label}: {c.path}
            </span>{' '}
            {c.freeable ? (
              <ConfirmButton
                label="Free"
                testId="disk-copy-free"
                onConfirm={() => onFree('duplicate', c.path)}
              />
            ) : (
              <span className="jp-ModelStudio-muted">{c.owned ? 'kept' : 'not the studio’s'}</span>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** A button that asks once more ("Delete?") before it acts. */
function ConfirmButton(props: {
  label: string;
  testId: string;
  onConfirm: () => Promise<void>;
}): JSX.Element {
  const [asking, setAsking] = React.useState(false);
  return (
    <button
      className={`jp-ModelStudio-button${asking ? ' jp-mod-warn' : ''}`}
      data-testid={props.testId}
      onClick={() => {
        if (asking) {
          setAsking(false);
          void props.onConfirm();
        } else {
          setAsking(true);
        }
      }}
    >
      {asking ? 'Delete?' : props.label}
    </button>
  );
}
