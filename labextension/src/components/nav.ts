/**
 * Navigation between the studio's views, whatever hosts them. In JupyterLab, `open` opens (or
 * reveals) a main-area panel; in a notebook widget (`Studio`), it switches the widget's tab. A
 * component calls `useNav()?.open(...)`; with no provider (a bare widget) it returns null and the
 * component hides its navigation buttons rather than showing ones that do nothing.
 */
import * as React from 'react';

export type StudioTarget =
  | { kind: 'chat'; model?: string; conversation?: string }
  | { kind: 'training'; model?: string }
  | { kind: 'video'; model?: string }
  | { kind: 'model'; model: string; variant?: string | null }
  | { kind: 'library' | 'downloads' | 'running' | 'system' | 'settings' | 'jobs' };

export interface StudioNav {
  open(target: StudioTarget): void;
}

export const NavContext = React.createContext<StudioNav | null>(null);

/** The enclosing host's navigation, or null where there is none. */
export function useNav(): StudioNav | null {
  return React.useContext(NavContext);
}
