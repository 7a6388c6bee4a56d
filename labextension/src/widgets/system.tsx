import * as React from 'react';

import { SystemPanel } from '../components/SystemPanel';
import { mount, RenderProps } from './mount';

export default {
  render(props: RenderProps) {
    return mount(props, source => <SystemPanel source={source} />);
  }
};
