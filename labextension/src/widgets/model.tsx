import * as React from 'react';

import { ModelPage } from '../components/model';
import { mount, RenderProps } from './mount';

/** `ms.ModelPage("org/name")`: the page follows the synced `model` and `variant` traitlets. */
function SyncedPage(props: { source: Parameters<typeof ModelPage>[0]['source']; model: any }) {
  const read = (): { model: string; variant: string } => ({
    model: String(props.model.get('model') ?? ''),
    variant: String(props.model.get('variant') ?? '')
  });
  const [state, setState] = React.useState(read);
  React.useEffect(() => {
    const update = (): void => setState(read());
    props.model.on('change:model', update);
    props.model.on('change:variant', update);
    return () => {
      props.model.off('change:model', update);
      props.model.off('change:variant', update);
    };
  }, [props.model]);
  if (!state.model) {
    return <div className="jp-ModelStudio-empty">No model: ModelPage("org/name")</div>;
  }
  return (
    <ModelPage
      key={`${state.model}:${state.variant}`}
      source={props.source}
      model={state.model}
      variant={state.variant || null}
    />
  );
}

export default {
  render(props: RenderProps) {
    return mount(props, source => <SyncedPage source={source} model={props.model} />);
  }
};
