/**
 * Shared anywidget glue: build a `WidgetSource` over the model, render a panel into `el` with
 * React 18, and tear both down when the view goes away.
 */
import { createRoot } from 'react-dom/client';

import { WidgetSource, type AnyModelLike } from '../api/widget';

export interface RenderProps {
  model: AnyModelLike;
  el: HTMLElement;
}

/** Read an optional traitlet; undefined when the Python class does not define it. */
export function trait<T>(model: AnyModelLike, name: string): T | undefined {
  try {
    const value = model.get(name);
    return value === null || value === undefined ? undefined : (value as T);
  } catch {
    return undefined;
  }
}

export function mount(
  { model, el }: RenderProps,
  panel: (source: WidgetSource) => JSX.Element
): () => void {
  const source = new WidgetSource(model);
  // The same class names as the lab extension's container, so studio.css applies alike.
  el.classList.add('jp-ModelStudio-widget');
  const root = createRoot(el);
  root.render(panel(source));
  return () => {
    root.unmount();
    source.dispose();
    el.classList.remove('jp-ModelStudio-widget');
  };
}
