import * as React from 'react';

import type { Job, LoadedModel } from '../../api/types';
import { formatBytes } from '../format';
import { ProgressBar } from '../ProgressBar';
import { entryOf, isLocal, type ModelEntry } from './session';

export interface ModelPickerProps {
  /** 0 for the first model, 1 for the second (compare mode). */
  index: number;
  model: string;
  models: ModelEntry[];
  loaded: LoadedModel[];
  downloads: Record<string, Job>;
  busy: string | null;
  streaming: boolean;
  onChange: (model: string) => void;
  onLoadToggle: (model: string, isLoaded: boolean) => void | Promise<void>;
  onDownload: (model: string) => void | Promise<void>;
}

/** A model picker with the model's load status, or its download when it is not local yet. */
export function ModelPicker(props: ModelPickerProps): JSX.Element {
  const { index, model, models, loaded, downloads, busy, streaming } = props;
  const { onChange, onLoadToggle, onDownload } = props;
  const entry = entryOf(models, model);
  const local = isLocal(models, model);
  const held = loaded.find(l => l.model === model || l.id === model);
  const job = downloads[model];
  const testSuffix = index === 0 ? '' : '-b';
  return (
    <div className="jp-ModelStudio-chatModel" data-testid={`chat-model-box${testSuffix}`}>
      <select
        className="jp-ModelStudio-select"
        value={model}
        data-testid={`chat-model${testSuffix}`}
        aria-label={index === 0 ? 'Model' : 'Second model'}
        disabled={streaming}
        onChange={e => onChange(e.target.value)}
      >
        <option value="">Choose a model…</option>
        {model && !entry && <option value={model}>{model}</option>}
        {models.map(m => (
          <option key={m.id} value={m.id} data-base={m.base ?? undefined}>
            {m.id}
            {m.base ? ` (fine-tuned ${m.base})` : ''}
            {m.endpoint ? ' (remote)' : m.local ? '' : ' (download first)'}
          </option>
        ))}
      </select>
      {model && entry?.endpoint && (
        <span className="jp-ModelStudio-chatStatus" data-testid={`chat-remote-status${testSuffix}`}>
          Served by the remote endpoint <strong>{entry.endpoint}</strong>
        </span>
      )}
      {model && local && !entry?.endpoint && (
        <span
          className="jp-ModelStudio-chatStatus"
          data-testid={`chat-load-status${testSuffix}`}
          data-loaded={held ? 'true' : 'false'}
        >
          {held
            ? `Loaded · ${held.backend} · ${formatBytes(held.memory_bytes)}`
            : 'Not loaded (loads on first message)'}
          <button
            className="jp-ModelStudio-linkButton"
            data-testid={`chat-load${testSuffix}`}
            disabled={busy === model || streaming}
            onClick={() => void onLoadToggle(model, !!held)}
          >
            {held ? 'Unload' : 'Load'}
          </button>
        </span>
      )}
      {model && !local && (
        <span className="jp-ModelStudio-chatStatus" data-testid={`chat-download-box${testSuffix}`}>
          {job ? (
            <>
              <ProgressBar
                fraction={job.state === 'completed' ? 1 : job.progress.fraction}
                label={`Download of ${model}`}
                testId={`chat-download-progress${testSuffix}`}
              />
              <span>{job.state}</span>
            </>
          ) : (
            <>
              Download first
              <button
                className="jp-ModelStudio-button"
                data-testid={`chat-download${testSuffix}`}
                disabled={busy === model}
                onClick={() => void onDownload(model)}
              >
                Download
              </button>
            </>
          )}
        </span>
      )}
    </div>
  );
}
