import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { VideoModel, VideoReadiness } from '../../api/types';
import { formatBytes } from '../format';

/** Whether the chosen model is ready here (`video.model`), asked again when `refreshKey` changes. */
function useReadiness(
  source: DataSource,
  modelId: string | undefined,
  refreshKey: string
): { readiness: VideoReadiness | null; error: Error | null } {
  const [readiness, setReadiness] = React.useState<VideoReadiness | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  React.useEffect(() => {
    setError(null);
    if (!modelId) {
      setReadiness(null);
      return;
    }
    let live = true;
    source.videoModel(modelId).then(
      r => live && setReadiness(r),
      err => {
        if (live) {
          setReadiness(null);
          setError(err as Error);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [source, modelId, refreshKey]);
  return { readiness: readiness?.model === modelId ? readiness : null, error };
}

/** One check: a mark (✓, ✗ or –), its name and what it found. */
function Check(props: {
  name: string;
  ok: boolean | null;
  text: string;
  testId: string;
}): JSX.Element {
  const mark = props.ok === null ? '–' : props.ok ? '✓' : '✗';
  const state = props.ok === null ? 'unknown' : props.ok ? 'ok' : 'no';
  return (
    <li data-testid={props.testId} data-state={state} title={props.text}>
      <span aria-hidden="true">{mark}</span> {props.name}
      <span className="jp-ModelStudio-muted"> · {props.text}</span>
    </li>
  );
}

/** The chosen model's readiness beside the picker: downloaded, verified, fits (how), loaded. */
export function ModelReadiness(props: {
  source: DataSource;
  model: VideoModel | undefined;
  refreshKey: string;
}): JSX.Element | null {
  const { readiness: r, error } = useReadiness(props.source, props.model?.id, props.refreshKey);
  if (!props.model) {
    return null;
  }
  if (error) {
    return (
      <div className="jms-video-wide jp-ModelStudio-muted" data-testid="video-readiness-error">
        Readiness unknown: {error.message}
      </div>
    );
  }
  if (!r) {
    return null;
  }
  const d = r.downloaded;
  const f = r.fits;
  const l = r.loaded;
  const fitsText = f.fits
    ? `${f.strategy} on ${f.device_name || f.device}, peak ${formatBytes(f.peak_bytes)}`
    : (f.error?.message ?? 'does not fit');
  return (
    <ul
      className="jms-video-wide jms-video-readiness"
      data-testid="video-readiness"
      data-ready={r.ready ? 'true' : 'false'}
    >
      <Check
        name="Downloaded"
        ok={d.local}
        testId="video-ready-downloaded"
        text={
          d.local
            ? `${formatBytes(d.bytes)}${d.revision ? ` @ ${d.revision.slice(0, 7)}` : ''}`
            : d.download_state
              ? `download ${d.download_state}`
              : `not yet (${formatBytes(d.expected_bytes)})`
        }
      />
      <Check
        name="Verified"
        ok={r.verified.ok ?? null}
        testId="video-ready-verified"
        text={r.verified.detail || '—'}
      />
      <Check name="Fits here" ok={f.fits} testId="video-ready-fits" text={fitsText} />
      <Check
        name="Loaded"
        ok={l.loaded ? true : null}
        testId="video-ready-loaded"
        text={l.loaded ? `on ${l.device}${l.busy ? ', generating' : ''}` : 'not in memory'}
      />
    </ul>
  );
}
