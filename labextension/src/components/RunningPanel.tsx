import * as React from 'react';

import type { DataSource } from '../api/source';
import type { HostStatus, LoadedModel, MemoryHolders, VideoPipeline } from '../api/types';
import { BatchJobs } from './BatchJobs';
import { HostSection } from './running/HostSection';
import { MemorySection } from './running/MemorySection';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatDuration, testIdPart } from './format';
import { usePrefs } from './prefs';

export interface RunningPanelProps {
  source: DataSource;
  /** Refresh period in ms; default: the refresh preference. */
  interval?: number;
}

/**
 * The model host (`host.status`: state, pid, restarts, crash, log, Stop) or a line saying models
 * load in this process; the models held in memory (`chat.loaded`, the host's in host mode):
 * backend, memory, context, idle time, who used them last, Unload; the video pipelines
 * (`video.loaded`, one per device), each with its own Unload; memory per device and the other
 * holders (`memory.holders`: training reservations, Stop); and the batch jobs (`batch.list`).
 */
export function RunningPanel(props: RunningPanelProps): JSX.Element {
  const { source } = props;
  const interval = props.interval ?? usePrefs().refreshInterval;
  const [models, setModels] = React.useState<LoadedModel[] | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);
  const [pipelines, setPipelines] = React.useState<VideoPipeline[] | null>(null);
  const [unloadingDevice, setUnloadingDevice] = React.useState<string | null>(null);
  const [budget, setBudget] = React.useState<number | null>(null);
  const [host, setHost] = React.useState<HostStatus | null>(null);
  const [memory, setMemory] = React.useState<MemoryHolders | null>(null);

  const refresh = React.useCallback(async () => {
    const [chat, video] = await Promise.allSettled([source.loadedModels(), source.videoLoaded()]);
    source.getSettings().then(
      r => setBudget(Number(r.settings.memory_budget ?? 0)),
      () => undefined // the budget line is extra: its failure is not the panel's error
    );
    // The host and memory sections are extra too: an older server without them shows the rest.
    source.hostStatus().then(setHost, () => undefined);
    source.memoryHolders().then(setMemory, () => undefined);
    if (chat.status === 'fulfilled') {
      setModels(chat.value);
    }
    if (video.status === 'fulfilled') {
      setPipelines(video.value);
    }
    const failed = [chat, video].find(r => r.status === 'rejected') as
      PromiseRejectedResult | undefined;
    setError(failed ? (failed.reason as Error) : null);
  }, [source]);

  React.useEffect(() => {
    void refresh();
    const timer = window.setInterval(() => void refresh(), interval);
    return () => window.clearInterval(timer);
  }, [refresh, interval]);

  const unload = async (model: string): Promise<void> => {
    setBusy(model);
    try {
      await source.unloadModel(model);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
      void refresh();
    }
  };

  const unloadVideo = async (device: string): Promise<void> => {
    setUnloadingDevice(device);
    try {
      await source.unloadVideo(device);
    } catch (err) {
      setError(err as Error);
    } finally {
      setUnloadingDevice(null);
      void refresh();
    }
  };

  const total = (models ?? []).reduce((sum, m) => sum + (m.memory_bytes ?? 0), 0);
  return (
    <div
      className="jp-ModelStudio-panel jp-ModelStudio-running"
      data-testid="running-panel"
      data-refresh-ms={interval}
    >
      <div className="jp-ModelStudio-toolbar">
        <span className="jp-ModelStudio-count" data-testid="running-count">
          {models?.length ?? 0} loaded · {formatBytes(total)}
        </span>
        {budget !== null && (
          <span
            className="jp-ModelStudio-muted"
            data-testid="running-budget"
            title="Memory budget (Settings)"
          >
            budget {budget ? formatBytes(budget) : '80% of RAM'}
          </span>
        )}
        <span className="jp-ModelStudio-spacer" />
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="running-refresh"
          onClick={() => void refresh()}
        >
          ⟳
        </button>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="running-error" />
      <HostSection
        source={source}
        status={host}
        onChanged={() => void refresh()}
        onError={setError}
      />
      {host?.mode === 'host' && (
        <h3 className="jp-ModelStudio-sectionTitle" data-testid="running-models-title">
          Chat models in the host
        </h3>
      )}
      <div className="jp-ModelStudio-list" data-testid="running-list">
        {(models ?? []).map(m => {
          const held = host?.models?.find(h => h.model === m.model);
          return (
            <div
              className="jp-ModelStudio-job"
              key={m.model}
              data-testid={`running-model-${testIdPart(m.model)}`}
            >
              <div className="jp-ModelStudio-cardHead">
                <span className="jp-ModelStudio-cardTitle" title={m.model}>
                  {m.model}
                </span>
                <span className="jp-ModelStudio-state">{m.backend}</span>
              </div>
              <div className="jp-ModelStudio-meta">
                <span title="Memory held" data-testid="running-model-bytes">
                  {formatBytes(m.memory_bytes)}
                </span>
                {held && <span title="Devices">{held.devices.join(', ')}</span>}
                <span title="Context length">{m.context_length ?? '—'} ctx</span>
                <span title="Idle for">
                  {held?.in_use ? 'in use' : `idle ${formatDuration(m.idle_seconds)}`}
                </span>
                {held?.last_used_by && (
                  <span title="Last used by" data-testid="running-model-user">
                    by {held.last_used_by}
                  </span>
                )}
                <span className="jp-ModelStudio-spacer" />
                <button
                  className="jp-ModelStudio-button jp-mod-warn"
                  disabled={busy === m.model}
                  data-testid={`running-unload-${testIdPart(m.model)}`}
                  onClick={() => void unload(m.model)}
                >
                  Unload
                </button>
              </div>
            </div>
          );
        })}
        {models !== null && models.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="running-empty">
            No models loaded. Chat with one to load it.
          </div>
        )}
      </div>
      {pipelines !== null && (
        <section className="jp-ModelStudio-section" data-testid="running-video">
          <h3 className="jp-ModelStudio-sectionTitle">Video pipelines</h3>
          <div className="jp-ModelStudio-list" data-testid="running-video-list">
            {pipelines.map(p => (
              <div
                className="jp-ModelStudio-job"
                key={p.device}
                data-testid={`running-video-${testIdPart(p.device)}`}
                data-busy={p.busy ? 'true' : 'false'}
              >
                <div className="jp-ModelStudio-cardHead">
                  <span className="jp-ModelStudio-cardTitle" title={p.path || p.model}>
                    {p.model}
                  </span>
                  <span className="jp-ModelStudio-state" title="Device">
                    {p.device}
                  </span>
                </div>
                <div className="jp-ModelStudio-meta">
                  <span title="Memory held">{formatBytes(p.memory_bytes)}</span>
                  <span title="Weights dtype">{p.dtype}</span>
                  <span title="Offload">offload {p.offload}</span>
                  <span title={p.busy ? 'A generation is running' : 'Idle for'}>
                    {p.busy ? 'generating' : `idle ${formatDuration(p.idle_seconds)}`}
                  </span>
                  <span className="jp-ModelStudio-spacer" />
                  <button
                    className="jp-ModelStudio-button jp-mod-warn"
                    disabled={p.busy || unloadingDevice === p.device}
                    title={p.busy ? 'Wait for the generation to finish, or cancel it' : undefined}
                    data-testid="running-video-unload"
                    onClick={() => void unloadVideo(p.device)}
                  >
                    Unload
                  </button>
                </div>
              </div>
            ))}
            {pipelines.length === 0 && (
              <div className="jp-ModelStudio-empty" data-testid="running-video-empty">
                No video pipelines loaded. Generate a video to load one.
              </div>
            )}
          </div>
        </section>
      )}
      <MemorySection
        source={source}
        memory={memory}
        onChanged={() => void refresh()}
        onError={setError}
      />
      <BatchJobs source={source} />
    </div>
  );
}
