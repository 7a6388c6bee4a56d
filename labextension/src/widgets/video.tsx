import * as React from 'react';

import { VideoPanel } from '../components/video';
import { mount, RenderProps, trait } from './mount';

/** The `VideoStudio` widget: traits `job_id` (generation shown; empty = newest) and `model`. */
export default {
  render(props: RenderProps) {
    const { model } = props;
    const sync =
      (name: string) =>
      (value: string): void => {
        try {
          (model as any).set(name, value);
          (model as any).save_changes();
        } catch {
          // a read-only model (tests): the choice stays in the front end
        }
      };
    const watch =
      (name: string) =>
      (listener: (value: string) => void): (() => void) => {
        const handler = (): void => listener(trait<string>(model, name) ?? '');
        model.on(`change:${name}`, handler);
        return () => model.off(`change:${name}`, handler);
      };
    const watchJobId = watch('job_id');
    const watchModel = watch('model');
    return mount(props, source => (
      <VideoPanel
        source={source}
        initialJobId={trait<string>(model, 'job_id') || undefined}
        onJobChange={sync('job_id')}
        watchJobId={watchJobId}
        initialModel={trait<string>(model, 'model') || undefined}
        onModelChange={sync('model')}
        watchModel={watchModel}
      />
    ));
  }
};
