import * as React from 'react';

import { TrainingPanel } from '../components/training';
import { mount, RenderProps, trait } from './mount';

export default {
  render(props: RenderProps) {
    const { model } = props;
    const onRunChange = (value: string): void => {
      try {
        (model as any).set('run_id', value);
        (model as any).save_changes();
      } catch {
        // a read-only model (tests): the choice stays in the front end
      }
    };
    const watchRunId = (listener: (runId: string) => void): (() => void) => {
      const handler = (): void => listener(trait<string>(model, 'run_id') ?? '');
      model.on('change:run_id', handler);
      return () => model.off('change:run_id', handler);
    };
    return mount(props, source => (
      <TrainingPanel
        source={source}
        initialRunId={trait<string>(model, 'run_id') || undefined}
        onRunChange={onRunChange}
        watchRunId={watchRunId}
      />
    ));
  }
};
