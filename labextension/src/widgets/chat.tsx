import * as React from 'react';

import type { AnyModelLike } from '../api/widget';
import { ChatPanel } from '../components/chat';
import { mount, RenderProps, trait } from './mount';

function save(model: AnyModelLike, name: string, value: string): void {
  try {
    (model as any).set(name, value);
    (model as any).save_changes();
  } catch {
    // a read-only model (tests): the choice stays in the front end
  }
}

/** The panel, following the `conversation` trait when Python sets it. */
function ChatWidget({ model, source }: { model: AnyModelLike; source: any }): JSX.Element {
  const [conversation, setConversation] = React.useState(
    () => trait<string>(model, 'conversation') ?? ''
  );
  React.useEffect(() => {
    const onChange = (): void => setConversation(trait<string>(model, 'conversation') ?? '');
    model.on('change:conversation', onChange);
    return () => model.off('change:conversation', onChange);
  }, [model]);
  return (
    <ChatPanel
      source={source}
      initialModel={trait<string>(model, 'model')}
      initialSystemPrompt={trait<string>(model, 'system_prompt')}
      onModelChange={value => save(model, 'model', value)}
      conversation={conversation || null}
      remember={false}
      onConversationChange={id => save(model, 'conversation', id)}
    />
  );
}

export default {
  render(props: RenderProps) {
    const { model } = props;
    return mount(props, source => <ChatWidget model={model} source={source} />);
  }
};
