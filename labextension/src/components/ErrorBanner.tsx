import * as React from 'react';

import type { ErrorInfo } from '../api/types';

export interface ErrorBannerProps {
  error: ErrorInfo | Error | string | null | undefined;
  onDismiss?: () => void;
  /** Optional prefix for `data-testid`, e.g. `job-<id>-error`. */
  testId?: string;
}

function normalise(error: ErrorBannerProps['error']): ErrorInfo | null {
  if (!error) {
    return null;
  }
  if (typeof error === 'string') {
    return { type: 'Error', message: error };
  }
  const e = error as ErrorInfo & Error;
  return {
    type: e.type || e.name || 'Error',
    message: e.message || String(error),
    details: e.details ?? null,
    resolution_steps: e.resolution_steps ?? []
  };
}

/** A typed error with its resolution steps (the same shape from REST and from widgets). */
export function ErrorBanner(props: ErrorBannerProps): JSX.Element | null {
  const info = normalise(props.error);
  if (!info) {
    return null;
  }
  const steps = info.resolution_steps ?? [];
  return (
    <div className="jp-ModelStudio-error" role="alert" data-testid={props.testId ?? 'error-banner'}>
      <div className="jp-ModelStudio-errorHead">
        <span className="jp-ModelStudio-errorType">{info.type}</span>
        <span className="jp-ModelStudio-errorMessage" data-testid="error-message">
          {info.message}
        </span>
        {props.onDismiss && (
          <button
            className="jp-ModelStudio-iconButton"
            title="Dismiss"
            aria-label="Dismiss error"
            data-testid="error-dismiss"
            onClick={props.onDismiss}
          >
            ×
          </button>
        )}
      </div>
      {steps.length > 0 && (
        <ul className="jp-ModelStudio-errorSteps">
          {steps.map((step, i) => (
            <li key={i}>{step}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
