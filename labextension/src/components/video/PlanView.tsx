import * as React from 'react';

import type { StudioApiError } from '../../api/source';
import type { VideoPlan } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { formatBytes } from '../format';
import { ProgressBar, usageTone } from '../ProgressBar';
import { num } from './form';

/** The memory estimate: device, strategy, peak vs free, dtype and the planner's reasoning. */
export function PlanView(props: {
  plan: VideoPlan | null;
  error: StudioApiError | null;
  planning: boolean;
  hasModel: boolean;
}): JSX.Element {
  const { plan, error } = props;
  if (error) {
    return (
      <div className="jms-video-wide jms-video-plan" data-testid="video-plan" data-fits="false">
        <ErrorBanner error={error} testId="video-plan-error" />
      </div>
    );
  }
  if (!plan) {
    return (
      <div className="jms-video-wide jms-video-plan jp-ModelStudio-muted" data-testid="video-plan">
        {props.hasModel ? 'Estimating memory…' : 'Choose a model'}
      </div>
    );
  }
  const s = plan.strategy ?? ({} as VideoPlan['strategy']);
  const free = num(plan.free_bytes);
  const peak = num(s.peak_bytes);
  const fraction = free && peak !== null ? peak / free : null;
  const extras = [s.vae_tiling ? 'VAE tiling' : '', s.vae_slicing ? 'VAE slicing' : ''].filter(
    Boolean
  );
  return (
    <div
      className={`jms-video-wide jms-video-plan${props.planning ? ' jms-video-stale' : ''}`}
      data-testid="video-plan"
      data-fits={String(plan.fits)}
      data-strategy={s.name ?? ''}
    >
      <div className="jp-ModelStudio-meta">
        <span title={plan.device}>
          <b>{plan.device_name || plan.device}</b>
        </span>
        <span data-testid="video-plan-strategy">
          strategy <b>{s.name}</b>
          {s.offload && s.offload !== s.name ? ` (offload ${s.offload})` : ''}
          {extras.length ? ` + ${extras.join(', ')}` : ''}
        </span>
        <span>{plan.dtype}</span>
        <span className={plan.fits ? '' : 'jms-video-bad'}>
          {plan.fits ? 'fits' : 'does not fit'}
        </span>
      </div>
      <div className="jms-video-planBar">
        <ProgressBar
          fraction={fraction === null ? 0 : Math.min(1, fraction)}
          label="Peak memory of the free memory"
          testId="video-plan-bar"
          tone={plan.fits ? usageTone(fraction) : 'bad'}
        />
        <span className="jp-ModelStudio-muted" data-testid="video-plan-peak">
          peak {formatBytes(peak)} of {formatBytes(free)} free
        </span>
      </div>
      {s.device_peaks && (
        <ul className="jms-video-reasoning" data-testid="video-plan-devices">
          {Object.entries(s.device_peaks).map(([device, bytes]) => (
            <li key={device}>
              {device}: peak {formatBytes(bytes)} of {formatBytes(s.device_free?.[device] ?? null)}{' '}
              free —{' '}
              {Object.entries(s.device_map ?? {})
                .filter(([, d]) => d === device)
                .map(([component]) => component)
                .join(', ')}
            </li>
          ))}
        </ul>
      )}
      {s.reason && <div className="jp-ModelStudio-muted">{s.reason}</div>}
      {(plan.reasoning?.length ?? 0) > 0 && (
        <ul className="jms-video-reasoning" data-testid="video-plan-reasoning">
          {plan.reasoning.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
