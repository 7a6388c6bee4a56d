import * as React from 'react';

import type { SamplingForm } from './session';

export interface SamplingSettingsProps {
  system: string;
  setSystem: (system: string) => void;
  form: SamplingForm;
  setForm: (form: SamplingForm) => void;
}

/** The system prompt and the sampling fields, folded away by default. */
export function SamplingSettings(props: SamplingSettingsProps): JSX.Element {
  const { system, setSystem, form, setForm } = props;
  const field = (name: keyof SamplingForm, label: string, attrs: Record<string, unknown> = {}) => (
    <label className="jp-ModelStudio-field" key={name}>
      <span>{label}</span>
      <input
        type="number"
        value={form[name]}
        data-testid={`chat-${name.replace(/_/g, '-')}`}
        onChange={e => setForm({ ...form, [name]: e.target.value })}
        {...attrs}
      />
    </label>
  );

  return (
    <details className="jp-ModelStudio-chatSettings" data-testid="chat-settings">
      <summary>System prompt &amp; sampling</summary>
      <textarea
        className="jp-ModelStudio-textarea"
        placeholder="System prompt (optional)"
        value={system}
        rows={2}
        data-testid="chat-system"
        onChange={e => setSystem(e.target.value)}
      />
      <div className="jp-ModelStudio-chatFields">
        {field('temperature', 'Temperature', { min: 0, max: 5, step: 0.1 })}
        {field('top_p', 'Top p', { min: 0, max: 1, step: 0.05 })}
        {field('top_k', 'Top k', { min: 0, step: 1 })}
        {field('max_tokens', 'Max tokens', { min: 1, step: 1 })}
        {field('seed', 'Seed', { step: 1, placeholder: 'random' })}
        {field('repeat_penalty', 'Repeat penalty', { min: 0, max: 5, step: 0.05 })}
        <label className="jp-ModelStudio-field">
          <span>Stop strings (one a line)</span>
          <textarea
            rows={1}
            value={form.stop}
            data-testid="chat-stop-strings"
            onChange={e => setForm({ ...form, stop: e.target.value })}
          />
        </label>
      </div>
    </details>
  );
}
