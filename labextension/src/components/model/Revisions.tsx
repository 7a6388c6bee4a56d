import * as React from 'react';

import type { ModelPageData } from '../../api/types';

type Revs = ModelPageData['revisions'];

function short(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 10) : '–';
}

/** Branches, tags and the newest commits; the commit this page shows is marked. */
export function Revisions(props: { revisions: Revs }): JSX.Element {
  const r = props.revisions;
  const refs = [
    ...r.branches.map(b => ({ ...b, kind: 'branch' })),
    ...r.tags.map(t => ({ ...t, kind: 'tag' }))
  ];
  return (
    <div data-testid="model-revisions">
      {refs.length > 0 && (
        <div className="jp-ModelStudio-meta">
          {refs.map(ref => (
            <span key={`${ref.kind}-${ref.name}`} title={ref.commit} data-ref={ref.name}>
              {ref.kind} <strong>{ref.name}</strong> @ <code>{short(ref.commit)}</code>
            </span>
          ))}
        </div>
      )}
      {r.commits.length > 0 ? (
        <ul className="jp-ModelStudio-commits">
          {r.commits.map(c => (
            <li key={c.id} data-commit={c.id}>
              <code title={c.id}>{short(c.id)}</code> {c.title}
              {c.date && <span className="jp-ModelStudio-dim"> · {c.date.slice(0, 10)}</span>}
              {c.id === r.current && <span className="jp-ModelStudio-tag">this page</span>}
            </li>
          ))}
        </ul>
      ) : (
        <div className="jp-ModelStudio-dim">
          Commit <code>{short(r.current)}</code>
          {Object.keys(r.local).length > 0 ? ' (local copy)' : ''}
        </div>
      )}
    </div>
  );
}
