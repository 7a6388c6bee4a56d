import * as React from 'react';

import type { ErrorInfo, MemoryHolder, UnloadAction } from '../api/types';
import { formatBytes } from './format';

export interface ErrorBannerProps {
  error: ErrorInfo | Error | string | null | undefined;
  onDismiss?: () => void;
  /** Offered on a ResourceError for each holder it names that can be freed (unload, stop a run). */
  onFree?: (action: UnloadAction) => Promise<unknown>;
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

/** The holders a ResourceError names (`details.holders`, see `MemoryRefusal`), those that can be freed first. */
export function blockingHolders(error: ErrorBannerProps['error']): MemoryHolder[] {
  const info = normalise(error);
  const holders = info?.type === 'ResourceError' ? info.details?.holders : null;
  if (!Array.isArray(holders)) {
    return [];
  }
  return (holders as MemoryHolder[]).filter(h => h && h.unload);
}

function FreeList(props: {
  holders: MemoryHolder[];
  onFree: (action: UnloadAction) => Promise<unknown>;
}): JSX.Element {
  const [busy, setBusy] = React.useState<string | null>(null);
  const [freed, setFreed] = React.useState<string[]>([]);
  const free = async (h: MemoryHolder): Promise<void> => {
    setBusy(h.id);
    try {
      await props.onFree(h.unload as UnloadAction);
      setFreed(done => [...done, h.id]);
    } finally {
      setBusy(null);
    }
  };
  return (
    <ul className="jp-ModelStudio-errorSteps" data-testid="error-holders">
      {props.holders.map(h => (
        <li key={`${h.id}-${h.device}`}>
          {h.owner} ({h.kind}) holds {formatBytes(h.bytes)} on {h.device}{' '}
          <button
            className="jp-ModelStudio-button"
            disabled={busy !== null || freed.includes(h.id)}
            data-testid="error-free-holder"
            onClick={() => void free(h)}
          >
            {freed.includes(h.id) ? 'Freed' : h.kind === 'training' ? 'Stop' : 'Unload'}
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A typed error with its resolution steps (the same shape from REST and from widgets). */
export function ErrorBanner(props: ErrorBannerProps): JSX.Element | null {
  const info = normalise(props.error);
  if (!info) {
    return null;
  }
  const steps = info.resolution_steps ?? [];
  const holders = props.onFree ? blockingHolders(info) : [];
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
      {props.onFree && holders.length > 0 && <FreeList holders={holders} onFree={props.onFree} />}
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
