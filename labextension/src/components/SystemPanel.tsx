import * as React from 'react';

import type { DataSource } from '../api/source';
import type { GpuStats, SystemSnapshot } from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatPercent } from './format';
import { usePrefs } from './prefs';
import { ProgressBar, usageTone } from './ProgressBar';
import { DiskSection } from './DiskSection';
import { EnergySection } from './EnergySection';
import { VersionsSection } from './VersionsSection';

export interface SystemPanelProps {
  source: DataSource;
  /** Poll when no `system` event has arrived for this long (ms); default: the refresh preference. */
  staleAfter?: number;
}

/** CPU, RAM, swap, disks and GPUs, live from the event stream (polling when it is quiet). */
export function SystemPanel(props: SystemPanelProps): JSX.Element {
  const { source } = props;
  const staleAfter = props.staleAfter ?? usePrefs().refreshInterval;
  const [snap, setSnap] = React.useState<SystemSnapshot | null>(null);
  const [error, setError] = React.useState<Error | null>(null);

  React.useEffect(() => {
    let live = true;
    let last = 0; // when the last snapshot arrived (ms)
    let attempt = 0; // when we last asked for one
    let failures = 0;
    const accept = (s: SystemSnapshot): void => {
      if (live) {
        last = Date.now();
        failures = 0;
        setSnap(s);
        setError(null);
      }
    };
    const fetchNow = (): void => {
      attempt = Date.now();
      source.system().then(accept, err => {
        if (live) {
          failures += 1;
          setError(err as Error);
        }
      });
    };
    fetchNow();
    const unsubscribe = source.subscribe(
      () => undefined,
      s => accept(s),
      { topics: ['system'] }
    );
    // Poll only when the event stream is quiet, backing off while requests fail.
    const tick = Math.min(1000, staleAfter);
    const timer = window.setInterval(() => {
      const now = Date.now();
      const wait = Math.min(30000, staleAfter * 2 ** failures);
      if (now - last > staleAfter && now - attempt > wait) {
        fetchNow();
      }
    }, tick);
    return () => {
      live = false;
      unsubscribe();
      window.clearInterval(timer);
    };
  }, [source, staleAfter]);

  return (
    <div
      className="jp-ModelStudio-panel jp-ModelStudio-system"
      data-testid="system-panel"
      data-refresh-ms={staleAfter}
    >
      <ErrorBanner error={error} testId="system-error" />
      {!snap && !error && <div className="jp-ModelStudio-empty">Reading system…</div>}
      {snap && <SystemView snap={snap} />}
      <DiskSection source={source} />
      <EnergySection source={source} />
      <VersionsSection source={source} />
    </div>
  );
}

function Row(props: {
  label: string;
  value: string;
  fraction: number | null;
  testId?: string;
  valueTestId?: string;
  title?: string;
}): JSX.Element {
  return (
    <div className="jp-ModelStudio-metric" data-testid={props.testId} title={props.title}>
      <div className="jp-ModelStudio-metricHead">
        <span className="jp-ModelStudio-metricLabel">{props.label}</span>
        <span className="jp-ModelStudio-metricValue" data-testid={props.valueTestId}>
          {props.value}
        </span>
      </div>
      <ProgressBar fraction={props.fraction} label={props.label} tone={usageTone(props.fraction)} />
    </div>
  );
}

function SystemView({ snap }: { snap: SystemSnapshot }): JSX.Element {
  const memFrac = snap.memory_total ? snap.memory_used / snap.memory_total : null;
  const swapFrac = snap.swap_total ? snap.swap_used / snap.swap_total : null;
  return (
    <>
      <section className="jp-ModelStudio-section">
        <h3 className="jp-ModelStudio-sectionTitle">CPU</h3>
        <div className="jp-ModelStudio-metric" data-testid="system-cpu">
          <div className="jp-ModelStudio-metricHead">
            <span className="jp-ModelStudio-metricLabel">
              {snap.cpu_count} cores
              {snap.load_average
                ? ` · load ${snap.load_average.map(l => l.toFixed(2)).join(' ')}`
                : ''}
            </span>
            <span
              className="jp-ModelStudio-metricValue"
              data-testid="system-cpu-value"
              data-value={snap.cpu_percent}
            >
              {formatPercent(snap.cpu_percent, 0)}
            </span>
          </div>
          <ProgressBar
            fraction={snap.cpu_percent / 100}
            label="CPU"
            tone={usageTone(snap.cpu_percent / 100)}
          />
        </div>
        <div
          className="jp-ModelStudio-cores"
          data-testid="system-cores"
          aria-label="Per-core CPU use"
        >
          {snap.cpu_per_core.map((v, i) => (
            <div key={i} className="jp-ModelStudio-core" title={`core ${i}: ${formatPercent(v)}`}>
              <div
                className="jp-ModelStudio-coreFill"
                style={{ height: `${Math.min(100, Math.max(0, v))}%` }}
              />
            </div>
          ))}
        </div>
      </section>
      <section className="jp-ModelStudio-section">
        <h3 className="jp-ModelStudio-sectionTitle">Memory</h3>
        <Row
          label="RAM"
          value={`${formatBytes(snap.memory_used)} / ${formatBytes(snap.memory_total)}`}
          fraction={memFrac}
          testId="system-ram"
          valueTestId="system-ram-value"
          title={`${formatBytes(snap.memory_available)} available`}
        />
        {snap.swap_total > 0 && (
          <Row
            label="Swap"
            value={`${formatBytes(snap.swap_used)} / ${formatBytes(snap.swap_total)}`}
            fraction={swapFrac}
            testId="system-swap"
          />
        )}
      </section>
      <section className="jp-ModelStudio-section">
        <h3 className="jp-ModelStudio-sectionTitle">Disks</h3>
        {snap.disks.map((d, i) => (
          <Row
            key={(d.path as string) ?? i}
            label={(d.path as string) ?? (d.mountpoint as string) ?? `disk ${i}`}
            value={`${formatBytes(d.free)} free of ${formatBytes(d.total)}`}
            fraction={d.total ? d.used / d.total : null}
            testId={`system-disk-${i}`}
          />
        ))}
      </section>
      <section className="jp-ModelStudio-section" data-testid="system-gpus">
        <h3 className="jp-ModelStudio-sectionTitle">GPU</h3>
        {snap.gpus.length === 0 && (
          <div className="jp-ModelStudio-muted" data-testid="system-no-gpu">
            No GPU{snap.gpu_error ? ` (${snap.gpu_error})` : ' detected'}; models run on the CPU.
          </div>
        )}
        {snap.gpus.map(gpu => (
          <GpuView key={gpu.uuid || gpu.index} gpu={gpu} />
        ))}
      </section>
    </>
  );
}

function GpuView({ gpu }: { gpu: GpuStats }): JSX.Element {
  const frac = gpu.memory_total ? gpu.memory_used / gpu.memory_total : null;
  const extras = [
    gpu.utilization !== null ? `${formatPercent(gpu.utilization)} busy` : null,
    gpu.temperature !== null ? `${gpu.temperature.toFixed(0)} °C` : null,
    gpu.power !== null
      ? `${gpu.power.toFixed(0)} W${gpu.power_limit ? ` / ${gpu.power_limit.toFixed(0)} W` : ''}`
      : null
  ].filter(Boolean);
  return (
    <div className="jp-ModelStudio-gpu" data-testid={`system-gpu-${gpu.index}`}>
      <div className="jp-ModelStudio-metricHead">
        <span className="jp-ModelStudio-metricLabel">
          {gpu.index}: {gpu.name}
        </span>
        <span className="jp-ModelStudio-metricValue">{extras.join(' · ')}</span>
      </div>
      <Row
        label="VRAM"
        value={`${formatBytes(gpu.memory_used)} / ${formatBytes(gpu.memory_total)}`}
        fraction={frac}
        testId={`system-gpu-${gpu.index}-memory`}
      />
      {gpu.utilization !== null && (
        <Row
          label="Utilisation"
          value={formatPercent(gpu.utilization)}
          fraction={gpu.utilization / 100}
        />
      )}
      {gpu.processes.length > 0 && (
        <table className="jp-ModelStudio-table" data-testid={`system-gpu-${gpu.index}-processes`}>
          <thead>
            <tr>
              <th>PID</th>
              <th>Process</th>
              <th>Memory</th>
            </tr>
          </thead>
          <tbody>
            {gpu.processes.map(p => (
              <tr key={p.pid}>
                <td>{p.pid}</td>
                <td title={p.kernel_id ? `kernel ${p.kernel_id}` : p.name}>
                  {p.kernel_id ? `kernel ${p.kernel_id.slice(0, 8)}` : p.name || '—'}
                </td>
                <td>{formatBytes(p.used_memory)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
