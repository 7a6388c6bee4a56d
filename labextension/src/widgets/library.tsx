import * as React from 'react';

import type { SearchQuery } from '../api/types';
import { LibraryPanel } from '../components/LibraryPanel';
import { mount, RenderProps, trait } from './mount';

export default {
  render(props: RenderProps) {
    const initialQuery: Partial<SearchQuery> = {
      q: trait<string>(props.model, 'query'),
      task: trait<SearchQuery['task']>(props.model, 'task'),
      backend: trait<SearchQuery['backend']>(props.model, 'backend'),
      status: trait<SearchQuery['status']>(props.model, 'status')
    };
    return mount(props, source => <LibraryPanel source={source} initialQuery={initialQuery} />);
  }
};
