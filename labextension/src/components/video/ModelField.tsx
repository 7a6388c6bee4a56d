import * as React from 'react';

import type { Job, VideoModel } from '../../api/types';
import { formatBytes } from '../format';
import { ProgressBar } from '../ProgressBar';

/** The model picker, and under it what the chosen model does and its download. */
export function ModelField(props: {
  value: string;
  models: VideoModel[];
  model: VideoModel | undefined;
  download: Job | undefined;
  downloadBusy: boolean;
  onChoose: (id: string) => void;
  onRefresh: () => void;
  onDownload: () => void;
}): JSX.Element {
  const { models, model, download } = props;
  return (
    <>
      <label className="jms-video-wide">
        Model
        <span className="jms-video-modelRow">
          <select
            name="model"
            className="jp-ModelStudio-select"
            data-testid="video-model"
            value={props.value}
            onChange={e => props.onChoose(e.target.value)}
          >
            {models.length === 0 && <option value="">(no video models)</option>}
            {props.value && !model && <option value={props.value}>{props.value}</option>}
            {models.map(m => (
              <option key={m.id} value={m.id}>
                {m.id}
                {m.local ? '' : ` (download${m.size ? `, ${formatBytes(m.size)}` : ''})`}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="jp-ModelStudio-iconButton"
            title="Refresh models"
            aria-label="Refresh models"
            data-testid="video-models-refresh"
            onClick={props.onRefresh}
          >
            ⟳
          </button>
        </span>
      </label>
      {model && (
        <div className="jms-video-wide jms-video-modelInfo" data-testid="video-model-info">
          <span className="jp-ModelStudio-muted">
            {[
              model.family,
              model.pipeline,
              model.text_to_video ? 'text-to-video' : '',
              model.image_to_video ? 'image-to-video' : ''
            ]
              .filter(Boolean)
              .join(' · ')}
          </span>
          {!model.local && (
            <span className="jms-video-download" data-testid="video-download">
              <span>Not downloaded · {formatBytes(model.size)}</span>
              {download ? (
                <span className="jms-video-downloadProgress">
                  <ProgressBar
                    fraction={download.progress?.fraction}
                    label={`Download of ${model.id}`}
                    testId="video-download-progress"
                  />
                  <span className="jp-ModelStudio-muted">
                    {download.state} · {formatBytes(download.progress?.done)} /{' '}
                    {formatBytes(download.progress?.total)}
                  </span>
                </span>
              ) : (
                <button
                  type="button"
                  className="jp-ModelStudio-button"
                  data-testid="video-download-button"
                  disabled={props.downloadBusy}
                  onClick={props.onDownload}
                >
                  Download
                </button>
              )}
            </span>
          )}
        </div>
      )}
    </>
  );
}
