import * as React from 'react';

import type { DataSource } from '../api/source';
import type { EnergyGroup, EnergyPeriod, EnergyRow, EnergySummary } from '../api/types';
import { ErrorBanner } from './ErrorBanner';

const PERIODS: [string, number | null][] = [
  ['Last 7 days', 7],
  ['Last 30 days', 30],
  ['All time', null]
];

/** `YYYY-MM-DD` (UTC) of `days` days ago, the first day of a period; null: no bound. */
function sinceDay(days: number | null): string | null {
  if (days === null) {
    return null;
  }
  return new Date(Date.now() - (days - 1) * 86400000).toISOString().slice(0, 10);
}

/** Wh with enough digits for small jobs: `0.0123 Wh`, `1.23 Wh`, `1,234 Wh`. */
export function formatWh(wh: number | null | undefined): string {
  if (wh === null || wh === undefined || !Number.isFinite(wh)) {
    return '—';
  }
  const digits = wh >= 100 ? 0 : wh >= 1 ? 2 : 4;
  return `${wh.toLocaleString(undefined, { maximumFractionDigits: digits })} Wh`;
}

export function formatGrams(g: number): string {
  return `${g.toLocaleString(undefined, { maximumFractionDigits: g >= 100 ? 0 : g >= 1 ? 2 : 4 })} gCO2e`;
}

/** The energy a completed job's result carries (the runner adds it), or null. */
export function jobEnergy(job: { result?: unknown }): EnergyRow | null {
  const r = job.result as { energy?: EnergyRow } | null | undefined;
  return r && typeof r === 'object' && r.energy ? r.energy : null;
}

/** One job's energy line: `1.23 Wh · 0.58 gCO2e · rapl` (with "estimate" when it is one). */
export function EnergyNote(props: { energy: EnergyRow | null | undefined }): JSX.Element | null {
  const e = props.energy;
  if (!e) {
    return null;
  }
  return (
    <span
      className="jp-ModelStudio-energy"
      data-testid="job-energy"
      data-wh={e.wh}
      title={`GPU ${formatWh(e.gpu_wh)}, CPU ${formatWh(e.cpu_wh)}; ${e.grid_intensity} gCO2e/kWh`}
    >
      {formatWh(e.wh)} · {formatGrams(e.gco2e)} ·{' '}
      {e.estimated ? `estimate (${e.method})` : e.method}
    </span>
  );
}

/** "Energy & carbon": totals over a period, per kind, per model and per day, and a CSV export. */
export function EnergySection(props: { source: DataSource }): JSX.Element {
  const { source } = props;
  const [open, setOpen] = React.useState(false);
  const [days, setDays] = React.useState<number | null>(30);
  const [summary, setSummary] = React.useState<EnergySummary | null>(null);
  const [error, setError] = React.useState<Error | null>(null);

  const period = React.useMemo<EnergyPeriod>(() => ({ since: sinceDay(days) }), [days]);

  React.useEffect(() => {
    if (!open) {
      return;
    }
    let live = true;
    source.energySummary(period).then(
      s => live && (setSummary(s), setError(null)),
      err => live && setError(err as Error)
    );
    return () => {
      live = false;
    };
  }, [open, period, source]);

  const exportCsv = async (): Promise<void> => {
    try {
      const file = await source.energyExport(period);
      const url = URL.createObjectURL(new Blob([file.content], { type: file.media_type }));
      const a = document.createElement('a');
      a.href = url;
      a.download = file.filename;
      a.click();
      window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <details
      className="jp-ModelStudio-section jp-ModelStudio-energySection"
      data-testid="system-energy"
      onToggle={e => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary className="jp-ModelStudio-sectionTitle">Energy &amp; carbon</summary>
      <ErrorBanner error={error} testId="energy-error" />
      <div className="jp-ModelStudio-row">
        <select
          className="jp-ModelStudio-select"
          data-testid="energy-period"
          aria-label="Period"
          value={days === null ? 'all' : String(days)}
          onChange={e => setDays(e.target.value === 'all' ? null : Number(e.target.value))}
        >
          {PERIODS.map(([label, d]) => (
            <option key={label} value={d === null ? 'all' : String(d)}>
              {label}
            </option>
          ))}
        </select>
        <button className="jp-ModelStudio-button" data-testid="energy-export" onClick={exportCsv}>
          Export CSV
        </button>
      </div>
      {open && !summary && !error && <div className="jp-ModelStudio-empty">Reading…</div>}
      {summary && <SummaryView summary={summary} />}
    </details>
  );
}

function SummaryView({ summary }: { summary: EnergySummary }): JSX.Element {
  const t = summary.total;
  return (
    <div data-testid="energy-summary">
      <div className="jp-ModelStudio-metricHead" data-testid="energy-total" data-wh={t.wh}>
        <span className="jp-ModelStudio-metricLabel">
          {t.count} jobs and answers{t.estimated ? ' (includes estimates)' : ''}
        </span>
        <span className="jp-ModelStudio-metricValue">
          {formatWh(t.wh)} · {formatGrams(t.gco2e)}
        </span>
      </div>
      <div className="jp-ModelStudio-muted" data-testid="energy-intensity">
        Grid intensity {summary.grid_intensity} gCO2e/kWh: {summary.grid_intensity_source}. Measured
        by: {summary.methods.join(', ') || '—'}.
      </div>
      <GroupTable title="Per kind" field="kind" groups={summary.by_kind} />
      <GroupTable title="Per model" field="model" groups={summary.by_model} />
      <GroupTable title="Per day" field="day" groups={summary.by_day} />
    </div>
  );
}

const KIND_NAMES: Record<string, string> = {
  train: 'Training runs',
  video: 'Video generations',
  batch: 'Batches',
  chat: 'Chat answers'
};

function GroupTable(props: {
  title: string;
  field: 'kind' | 'model' | 'day';
  groups: EnergyGroup[];
}): JSX.Element | null {
  if (props.groups.length === 0) {
    return null;
  }
  return (
    <table className="jp-ModelStudio-table" data-testid={`energy-by-${props.field}`}>
      <thead>
        <tr>
          <th>{props.title}</th>
          <th>Energy</th>
          <th>Carbon</th>
          <th>Count</th>
        </tr>
      </thead>
      <tbody>
        {props.groups.map(g => {
          const name = g[props.field] ?? '';
          return (
            <tr key={name}>
              <td>{props.field === 'kind' ? (KIND_NAMES[name] ?? name) : name || '—'}</td>
              <td>
                {formatWh(g.wh)}
                {g.estimated ? ' (est.)' : ''}
              </td>
              <td>{formatGrams(g.gco2e)}</td>
              <td>{g.count}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
