import * as React from 'react';

import { ChatPanel } from '../components/chat';
import { mount, RenderProps, trait } from './mount';

export default {
  render(props: RenderProps) {
    const { model } = props;
    const onModelChange = (value: string): void => {
      try {
        (model as any).set('model', value);
        (model as any).save_changes();
      } catch {
        // a read-only model (tests): the choice stays in the front end
      }
    };
    return mount(props, source => (
      <ChatPanel
        source={source}
        initialModel={trait<string>(model, 'model')}
        initialSystemPrompt={trait<string>(model, 'system_prompt')}
        onModelChange={onModelChange}
      />
    ));
  }
};
