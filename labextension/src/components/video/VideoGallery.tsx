import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job } from '../../api/types';
import { str } from './form';
import { useMediaUrl } from './hooks';

/** The finished generations, newest first, each with Play, Reuse settings, Retry and Delete. */
export function VideoGallery(props: {
  source: DataSource;
  jobs: Job[];
  finished: Job[];
  currentId: string | undefined;
  onPlay: (job: Job) => void;
  onReuse: (job: Job) => void;
  onRetry: (job: Job) => void;
  onDelete: (job: Job) => void;
}): JSX.Element {
  return (
    <div className="jms-video-gallery" data-testid="video-gallery">
      {props.finished.map(job => (
        <GalleryItem
          key={job.id}
          source={props.source}
          job={job}
          selected={job.id === props.currentId}
          onPlay={() => props.onPlay(job)}
          onReuse={() => props.onReuse(job)}
          onRetry={() => props.onRetry(job)}
          onDelete={() => props.onDelete(job)}
        />
      ))}
      {props.jobs.length === 0 && (
        <div className="jp-ModelStudio-empty" data-testid="video-empty">
          No videos yet. Write a prompt and press “Generate”.
        </div>
      )}
    </div>
  );
}

function GalleryItem(props: {
  source: DataSource;
  job: Job;
  selected: boolean;
  onPlay: () => void;
  onReuse: () => void;
  onRetry: () => void;
  onDelete: () => void;
}): JSX.Element {
  const { job } = props;
  const { url } = useMediaUrl(props.source, job, 'thumbnail');
  const prompt = str((job.params ?? {}).prompt);
  const excerpt = prompt.length > 80 ? `${prompt.slice(0, 77)}…` : prompt;
  const completed = job.state === 'completed';
  return (
    <div
      className={`jms-video-item${props.selected ? ' jp-mod-selected' : ''}`}
      data-testid={`video-item-${job.id}`}
      data-state={job.state}
    >
      <button
        type="button"
        className="jms-video-thumb"
        title={completed ? 'Play' : job.state}
        aria-label={completed ? `Play ${excerpt}` : job.state}
        data-testid="video-item-play"
        disabled={!completed}
        onClick={props.onPlay}
      >
        {completed && url ? (
          <img src={url} alt={excerpt} loading="lazy" />
        ) : (
          <span className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}>
            {job.state}
          </span>
        )}
      </button>
      <div className="jms-video-itemText">
        <span className="jms-video-prompt" title={prompt}>
          {excerpt || job.title}
        </span>
        {!completed && (
          <span className="jms-video-itemError" data-testid="video-item-error">
            {job.state}
            {job.error?.message ? `: ${job.error.message}` : ''}
          </span>
        )}
      </div>
      <div className="jms-video-itemActions">
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="video-reuse"
          onClick={props.onReuse}
        >
          Reuse settings
        </button>
        {['failed', 'cancelled', 'interrupted'].includes(job.state) && (
          <button
            type="button"
            className="jp-ModelStudio-button"
            data-testid="video-retry"
            title="Run it again with the same settings and seed"
            onClick={props.onRetry}
          >
            Retry
          </button>
        )}
        <button
          type="button"
          className="jp-ModelStudio-button jp-mod-warn"
          data-testid="video-delete"
          onClick={props.onDelete}
        >
          Delete
        </button>
      </div>
    </div>
  );
}
