import * as React from 'react';

export interface ProgressBarProps {
  /** 0..1, or null when the total is unknown (indeterminate bar). */
  fraction: number | null | undefined;
  label?: string;
  testId?: string;
  tone?: 'normal' | 'warn' | 'bad';
  title?: string;
}

/** An accessible bar: `role="progressbar"` with `aria-valuenow` in percent (0-100). */
export function ProgressBar(props: ProgressBarProps): JSX.Element {
  const known = props.fraction !== null && props.fraction !== undefined && isFinite(props.fraction);
  const percent = known ? Math.max(0, Math.min(100, (props.fraction as number) * 100)) : 0;
  const cls = ['jp-ModelStudio-bar', `jp-ModelStudio-bar-${props.tone ?? 'normal'}`];
  if (!known) {
    cls.push('jp-ModelStudio-bar-indeterminate');
  }
  return (
    <div
      className={cls.join(' ')}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={known ? Math.round(percent * 10) / 10 : undefined}
      data-testid={props.testId}
      title={props.title}
    >
      <div
        className="jp-ModelStudio-barFill"
        style={{ width: known ? `${percent}%` : undefined }}
      />
    </div>
  );
}

/** Tone for a usage bar: warn above 75 %, bad above 90 %. */
export function usageTone(fraction: number | null | undefined): 'normal' | 'warn' | 'bad' {
  if (!fraction) {
    return 'normal';
  }
  return fraction > 0.9 ? 'bad' : fraction > 0.75 ? 'warn' : 'normal';
}
