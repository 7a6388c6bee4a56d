import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, VideoResult } from '../../api/types';
import { EnergyNote, jobEnergy } from '../EnergySection';
import { ErrorBanner } from '../ErrorBanner';
import { ACTIVE, num, seconds, str } from './form';
import { useMediaUrl } from './hooks';

/** The settings line under a video: model, size, frames, steps, seed, elapsed (energy follows it). */
function settingsLine(job: Job): string {
  const p = (job.params ?? {}) as Record<string, unknown>;
  const r = (job.result ?? {}) as Partial<VideoResult>;
  const width = num(r.width) ?? num(p.width);
  const height = num(r.height) ?? num(p.height);
  const frames = num(r.frames) ?? num(p.num_frames);
  const fps = num(r.fps) ?? num(p.fps);
  const seed = r.seed ?? p.seed;
  const parts = [
    str(p.model),
    width !== null && height !== null ? `${width}×${height}` : '',
    frames !== null ? `${frames} frames${fps ? ` @ ${fps} fps` : ''}` : '',
    p.steps !== undefined && p.steps !== null ? `${str(p.steps)} steps` : '',
    seed !== undefined && seed !== null ? `seed ${str(seed)}` : '',
    num(r.elapsed) !== null ? `${seconds(r.elapsed)}` : ''
  ];
  return parts.filter(Boolean).join(' · ');
}

/** The shown generation: its video (muted, looping), or its progress or error; prompt and settings. */
export function Player(props: { source: DataSource; job: Job }): JSX.Element {
  const { job } = props;
  const { url, error } = useMediaUrl(props.source, job, 'video');
  const ref = React.useRef<HTMLVideoElement>(null);
  React.useEffect(() => {
    const el = ref.current;
    if (el && url) {
      // React sets `muted` as a property only; autoplay policies want it before playing.
      el.defaultMuted = true;
      el.muted = true;
      el.play()?.catch(() => undefined);
    }
  }, [url]);
  const params = (job.params ?? {}) as Record<string, unknown>;
  return (
    <div
      className="jms-video-player"
      data-testid="video-player"
      data-job-id={job.id}
      data-state={job.state}
    >
      {job.state === 'completed' ? (
        url ? (
          <video
            key={url}
            ref={ref}
            src={url}
            controls
            autoPlay
            loop
            muted
            playsInline
            data-testid="video-element"
          />
        ) : error ? (
          <ErrorBanner error={error} testId="video-player-error" />
        ) : (
          <div className="jp-ModelStudio-muted">Loading video…</div>
        )
      ) : ACTIVE.has(job.state) ? (
        <div className="jp-ModelStudio-muted">Generating… {job.progress?.message ?? job.state}</div>
      ) : (
        <ErrorBanner
          error={job.error ?? `Generation ${job.state}`}
          testId="video-player-job-error"
        />
      )}
      <div className="jms-video-prompt" title={str(params.prompt)}>
        {str(params.prompt)}
      </div>
      <div className="jp-ModelStudio-meta jms-video-settings" data-testid="video-settings">
        {settingsLine(job)}
      </div>
      <div className="jp-ModelStudio-meta">
        <EnergyNote energy={jobEnergy(job)} />
      </div>
    </div>
  );
}
