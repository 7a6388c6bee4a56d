import * as React from 'react';

import type { Job } from '../api/types';

/** A job row's head: its title (the model when untitled) and its state badge.
 *  `testPrefix` names the state badge's test id (`<prefix>-state-<job id>`). */
export function JobHead(props: { job: Job; testPrefix: string }): JSX.Element {
  const { job, testPrefix } = props;
  return (
    <div className="jp-ModelStudio-cardHead">
      <span className="jp-ModelStudio-cardTitle" title={job.title}>
        {job.title || (job.params.model as string) || job.id}
      </span>
      <span
        className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}
        data-testid={`${testPrefix}-state-${job.id}`}
      >
        {job.state}
      </span>
    </div>
  );
}
