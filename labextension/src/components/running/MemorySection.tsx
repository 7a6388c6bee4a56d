import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { MemoryHolder, MemoryHolders } from '../../api/types';
import { formatBytes, testIdPart } from '../format';
import { ProgressBar, usageTone } from '../ProgressBar';
import { ago } from './HostSection';

export interface MemorySectionProps {
  source: DataSource;
  /** The last `memory.holders` (null before the first answer). */
  memory: MemoryHolders | null;
  onChanged: () => void;
  onError: (error: Error) => void;
}

/**
 * Memory per device (`memory.holders`): a bar of what is held against the budget (RAM) or the
 * total (GPU), then the holders the chat and video lists above do not show (training runs'
 * reservations and others), each with the button its `unload` action names.
 */
export function MemorySection(props: MemorySectionProps): JSX.Element | null {
  const { source, memory, onChanged, onError } = props;
  const [busy, setBusy] = React.useState<string | null>(null);
  if (memory === null) {
    return null;
  }
  const others = memory.holders.filter(h => h.kind !== 'chat' && h.kind !== 'video');
  const free = async (h: MemoryHolder): Promise<void> => {
    if (!h.unload) {
      return;
    }
    setBusy(h.id);
    try {
      await source.freeHolder(h.unload);
    } catch (err) {
      onError(err as Error);
    } finally {
      setBusy(null);
      onChanged();
    }
  };
  return (
    <section className="jp-ModelStudio-section" data-testid="running-memory">
      <h3 className="jp-ModelStudio-sectionTitle">Memory</h3>
      {memory.devices.map(d => {
        // In host mode `memory.holders` is the host's arbiter: its models are among the holders.
        const held = d.held;
        const cap = d.budget || d.total;
        return (
          <div key={d.device} data-testid={`running-memory-${testIdPart(d.device)}`}>
            <div className="jp-ModelStudio-meta">
              <span title={d.name}>{d.device === 'cpu' ? 'RAM' : `${d.device} ${d.name}`}</span>
              <span className="jp-ModelStudio-spacer" />
              <span data-testid="running-memory-held">
                {formatBytes(held)} held / {formatBytes(cap)} {d.budget ? 'budget' : 'total'}
              </span>
            </div>
            <ProgressBar
              fraction={cap ? held / cap : null}
              tone={usageTone(cap ? held / cap : null)}
              label={`${d.device} memory held`}
            />
          </div>
        );
      })}
      {others.length > 0 && (
        <div className="jp-ModelStudio-list" data-testid="running-holders">
          {others.map(h => (
            <div
              className="jp-ModelStudio-job"
              key={`${h.id}-${h.device}`}
              data-testid={`running-holder-${testIdPart(h.id)}`}
              data-kind={h.kind}
            >
              <div className="jp-ModelStudio-cardHead">
                <span className="jp-ModelStudio-cardTitle" title={h.owner}>
                  {h.owner}
                </span>
                <span className="jp-ModelStudio-state">{h.kind}</span>
              </div>
              <div className="jp-ModelStudio-meta">
                <span title="Device">{h.device}</span>
                <span title="Memory reserved">{formatBytes(h.bytes)}</span>
                {h.pid !== null && h.pid !== undefined && <span>pid {h.pid}</span>}
                <span title="Since">{ago(h.since)}</span>
                <span className="jp-ModelStudio-spacer" />
                {h.unload && (
                  <button
                    className="jp-ModelStudio-button jp-mod-warn"
                    disabled={busy === h.id}
                    data-testid="running-holder-free"
                    onClick={() => void free(h)}
                  >
                    {h.kind === 'training' ? 'Stop' : 'Unload'}
                  </button>
                )}
              </div>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
