import * as React from 'react';

import { StudioTabs } from '../components/StudioTabs';
import { mount, RenderProps, trait } from './mount';

export default {
  render(props: RenderProps) {
    const tab = trait<string>(props.model, 'tab');
    return mount(props, source => <StudioTabs source={source} initialTab={tab || undefined} />);
  }
};
