/**
 * Front-end preferences: the JupyterLab settings of the studio (schema/plugin.json, shown in the
 * Settings Editor). The lab plugin provides them through `PrefsContext`; a notebook widget has no
 * provider and gets `DEFAULT_PREFS`.
 */
import * as React from 'react';

import { setByteUnits } from './format';

export type ByteUnits = 'decimal' | 'binary';

export interface StudioPrefs {
  /** The model a new chat starts with ('' = none chosen). */
  defaultChatModel: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** How often the System and Running views refresh, in ms. */
  refreshInterval: number;
  byteUnits: ByteUnits;
}

export const DEFAULT_PREFS: StudioPrefs = {
  defaultChatModel: '',
  temperature: 0.7,
  topP: 0.95,
  maxTokens: 512,
  refreshInterval: 3000,
  byteUnits: 'decimal'
};

/** Bounds matching schema/plugin.json; out-of-range values fall back to the default. */
const LIMITS: Record<string, [number, number]> = {
  temperature: [0, 2],
  topP: [0, 1],
  maxTokens: [1, 32768],
  refreshInterval: [250, 600000]
};

function num(raw: unknown, key: keyof typeof LIMITS, fallback: number): number {
  const [lo, hi] = LIMITS[key];
  return typeof raw === 'number' && Number.isFinite(raw) && raw >= lo && raw <= hi ? raw : fallback;
}

/** Preferences from a settings object (JupyterLab's `settings.composite`), defaults filled in. */
export function readPrefs(raw: Record<string, unknown> | null | undefined): StudioPrefs {
  const r = raw ?? {};
  const d = DEFAULT_PREFS;
  return {
    defaultChatModel: typeof r.defaultChatModel === 'string' ? r.defaultChatModel.trim() : '',
    temperature: num(r.temperature, 'temperature', d.temperature),
    topP: num(r.topP, 'topP', d.topP),
    maxTokens: Math.round(num(r.maxTokens, 'maxTokens', d.maxTokens)),
    refreshInterval: Math.round(num(r.refreshInterval, 'refreshInterval', d.refreshInterval)),
    byteUnits: r.byteUnits === 'binary' ? 'binary' : 'decimal'
  };
}

/** Apply the process-wide parts (byte units of `formatBytes`). */
export function applyPrefs(prefs: StudioPrefs): void {
  setByteUnits(prefs.byteUnits);
}

export const PrefsContext = React.createContext<StudioPrefs>(DEFAULT_PREFS);

export function usePrefs(): StudioPrefs {
  return React.useContext(PrefsContext);
}

/** The sampling fields a new chat starts with (the chat form keeps numbers as text). */
export function samplingDefaults(prefs: StudioPrefs): {
  temperature: string;
  top_p: string;
  max_tokens: string;
} {
  return {
    temperature: String(prefs.temperature),
    top_p: String(prefs.topP),
    max_tokens: String(prefs.maxTokens)
  };
}
