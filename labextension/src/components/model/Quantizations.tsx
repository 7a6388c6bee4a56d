import * as React from 'react';

import type { Job, ModelPageData } from '../../api/types';
import { formatBytes } from '../format';
import { FitBadge } from '../ModelCard';

type Quant = ModelPageData['quantizations'][number];

export interface QuantizationsProps {
  quantizations: Quant[];
  canDownload: boolean;
  /** Variants with a download queued or running. */
  downloading: Set<string>;
  onDownload: (variant: string | null) => void;
}

/** Each quantization (or the model itself) with its size, a fit badge and its own Download. */
export function Quantizations(props: QuantizationsProps): JSX.Element {
  return (
    <table className="jp-ModelStudio-table" data-testid="model-quantizations">
      <thead>
        <tr>
          <th>Variant</th>
          <th>Size</th>
          <th>Fit here</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.quantizations.map(q => {
          const key = q.name ?? '';
          const busy = props.downloading.has(key);
          return (
            <tr key={key} data-quant={key} data-local={q.local}>
              <td>
                {q.name ?? 'all files'}
                {q.default && <span className="jp-ModelStudio-tag">default</span>}
              </td>
              <td>{formatBytes(q.size)}</td>
              <td>
                <FitBadge
                  fit={q.fit ?? null}
                  error={q.fit_error ?? (q.fit ? null : 'No estimate')}
                  testId={`page-fit-${key || 'model'}`}
                />
              </td>
              <td>
                {props.canDownload && (
                  <button
                    className="jp-ModelStudio-button jp-mod-accept"
                    data-testid={`page-download-${key || 'model'}`}
                    disabled={q.local || busy}
                    onClick={() => props.onDownload(q.name ?? null)}
                  >
                    {q.local ? 'Downloaded' : busy ? 'Downloading…' : 'Download'}
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** The variant a download job is fetching ('' for a whole model). */
export function jobVariant(job: Job): string {
  const params = job.params as Record<string, unknown>;
  const v = params.variant ?? params.quantization ?? '';
  return typeof v === 'string' ? v.toUpperCase() : '';
}
