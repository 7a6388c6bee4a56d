import * as React from 'react';

import type { Job } from '../../api/types';
import { finalLoss, runFacts, shortName } from './runs';

/** The runs, newest first, as a listbox: state, base model, dataset, steps, last loss. */
export function RunList(props: {
  runs: Job[];
  selected: string;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { runs } = props;
  return (
    <div className="jp-ModelStudio-trainingRuns" data-testid="training-runs" role="listbox">
      {runs.map(run => (
        <RunRow
          key={run.id}
          run={run}
          selected={run.id === props.selected}
          onSelect={() => props.onSelect(run.id)}
        />
      ))}
      {runs.length === 0 && (
        <div className="jp-ModelStudio-empty" data-testid="training-empty">
          No training runs yet. Start one with “New run”.
        </div>
      )}
    </div>
  );
}

function RunRow(props: { run: Job; selected: boolean; onSelect: () => void }): JSX.Element {
  const { run } = props;
  const facts = runFacts(run);
  const loss = finalLoss(run);
  return (
    <div
      className={`jp-ModelStudio-trainingRun${props.selected ? ' jp-mod-selected' : ''}`}
      data-testid={`training-run-${run.id}`}
      data-state={run.state}
      role="option"
      aria-selected={props.selected}
      tabIndex={0}
      onClick={props.onSelect}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          props.onSelect();
          e.preventDefault();
        }
      }}
    >
      <span className={`jp-ModelStudio-state jp-ModelStudio-state-${run.state}`}>{run.state}</span>
      <span className="jp-ModelStudio-trainingRunBase" title={facts.base}>
        {facts.base || run.title || run.id}
      </span>
      <span className="jp-ModelStudio-muted" title={facts.dataset}>
        {shortName(facts.dataset)}
      </span>
      <span className="jp-ModelStudio-muted">
        {run.progress?.done ?? 0}/{facts.steps ?? '?'} steps
      </span>
      <span title="Last training loss">{loss !== null ? `loss ${loss.toFixed(3)}` : ''}</span>
    </div>
  );
}
