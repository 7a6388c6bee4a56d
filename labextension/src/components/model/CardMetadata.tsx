import * as React from 'react';

import type { ModelPageData } from '../../api/types';
import { useNav } from '../nav';

type Meta = ModelPageData['metadata'];

const HUB = 'https://huggingface.co';

function metricValue(value: number | string): string {
  return typeof value === 'number' ? String(Math.round(value * 10000) / 10000) : value;
}

/** Reported evaluation results from the card's `model-index`: task, dataset, metric, value. */
export function EvalResults(props: { results: Meta['eval_results'] }): JSX.Element {
  if (props.results.length === 0) {
    return <div className="jp-ModelStudio-empty">The card reports no evaluation results.</div>;
  }
  return (
    <table className="jp-ModelStudio-table" data-testid="model-eval-results">
      <thead>
        <tr>
          <th>Task</th>
          <th>Dataset</th>
          <th>Metric</th>
          <th>Value</th>
        </tr>
      </thead>
      <tbody>
        {props.results.map((r, i) => (
          <tr key={i} data-metric={r.metric_type}>
            <td>{r.task_name || r.task_type}</td>
            <td title={r.dataset_type}>
              {r.dataset_name}
              {r.dataset_config ? ` (${r.dataset_config})` : ''}
              {r.dataset_split ? ` · ${r.dataset_split}` : ''}
            </td>
            <td>{r.metric_name || r.metric_type}</td>
            <td data-value={String(r.metric_value)}>
              {metricValue(r.metric_value)}
              {r.verified ? ' ✓' : ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Base model (a link to its page here when there is navigation), datasets, languages, tags. */
export function CardFacts(props: { meta: Meta }): JSX.Element | null {
  const nav = useNav();
  const m = props.meta;
  if (!m.base_model.length && !m.datasets.length && !m.language.length && !m.error) {
    return null;
  }
  return (
    <dl className="jp-ModelStudio-facts" data-testid="model-card-facts">
      {m.base_model.length > 0 && (
        <>
          <dt>Base model</dt>
          <dd>
            {m.base_model.map(b =>
              nav && /^[\w.-]+\/[\w.-]+$/.test(b) ? (
                <button
                  key={b}
                  className="jp-ModelStudio-linkButton"
                  data-testid="model-base-link"
                  onClick={() => nav.open({ kind: 'model', model: b })}
                >
                  {b}
                </button>
              ) : (
                <a key={b} href={`${HUB}/${b}`} target="_blank" rel="noopener noreferrer">
                  {b}
                </a>
              )
            )}
          </dd>
        </>
      )}
      {m.datasets.length > 0 && (
        <>
          <dt>Trained on</dt>
          <dd data-testid="model-datasets">
            {m.datasets.map(d => (
              <a
                key={d}
                href={`${HUB}/datasets/${d}`}
                target="_blank"
                rel="noopener noreferrer"
                className="jp-ModelStudio-tag"
              >
                {d}
              </a>
            ))}
          </dd>
        </>
      )}
      {m.language.length > 0 && (
        <>
          <dt>Language</dt>
          <dd>{m.language.join(', ')}</dd>
        </>
      )}
      {m.error && (
        <>
          <dt>Metadata</dt>
          <dd className="jp-ModelStudio-dim">{m.error}</dd>
        </>
      )}
    </dl>
  );
}
