import * as React from 'react';

import { DownloadsPanel } from '../components/DownloadsPanel';
import { mount, RenderProps } from './mount';

export default {
  render(props: RenderProps) {
    return mount(props, source => <DownloadsPanel source={source} />);
  }
};
