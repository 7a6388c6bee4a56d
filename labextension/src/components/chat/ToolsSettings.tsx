import * as React from 'react';

import {
  type PlaygroundForm,
  parseSchema,
  parseTools,
  SCHEMA_EXAMPLE,
  TOOL_EXAMPLES
} from './playground';

export interface ToolsSettingsProps {
  form: PlaygroundForm;
  setForm: (form: PlaygroundForm) => void;
}

/** The Tools editor (OpenAI tool objects, examples to insert, tool_choice) and JSON mode, folded. */
export function ToolsSettings(props: ToolsSettingsProps): JSX.Element {
  const { form, setForm } = props;
  const tools = parseTools(form.tools);
  const schema = form.jsonMode === 'json_schema' ? parseSchema(form.schema) : null;
  const count = tools.tools.length;

  const insert = (name: string): void => {
    const current = tools.error ? [] : tools.tools.filter(t => t.function.name !== name);
    setForm({ ...form, tools: JSON.stringify([...current, TOOL_EXAMPLES[name]], null, 2) });
  };

  const summary = [
    count ? `${count} tool${count > 1 ? 's' : ''}` : 'no tools',
    form.jsonMode === 'off' ? 'text' : form.jsonMode
  ].join(' · ');

  return (
    <details className="jp-ModelStudio-chatSettings" data-testid="chat-tools-settings">
      <summary>Tools &amp; JSON mode ({summary})</summary>
      <label className="jp-ModelStudio-field">
        <span>Tools: a JSON array of OpenAI tool objects</span>
        <textarea
          className="jp-ModelStudio-textarea jp-ModelStudio-code"
          rows={6}
          spellCheck={false}
          placeholder='[{"type": "function", "function": {"name": "...", "parameters": {"type": "object", ...}}}]'
          value={form.tools}
          data-testid="chat-tools"
          aria-invalid={tools.error ? 'true' : 'false'}
          onChange={e => setForm({ ...form, tools: e.target.value })}
        />
      </label>
      <div className="jp-ModelStudio-cardActions">
        <span className="jp-ModelStudio-muted">Insert an example:</span>
        {Object.keys(TOOL_EXAMPLES).map(name => (
          <button
            key={name}
            className="jp-ModelStudio-linkButton"
            data-testid={`chat-tool-example-${name}`}
            onClick={() => insert(name)}
          >
            {name}
          </button>
        ))}
        <label className="jp-ModelStudio-field jp-ModelStudio-inline">
          <span>tool_choice</span>
          <select
            className="jp-ModelStudio-select"
            value={form.toolChoice}
            data-testid="chat-tool-choice"
            disabled={!count}
            onChange={e => setForm({ ...form, toolChoice: e.target.value })}
          >
            <option value="auto">auto</option>
            <option value="none">none</option>
            <option value="required">required</option>
            {tools.tools.map(t => (
              <option key={t.function.name} value={`function:${t.function.name}`}>
                {t.function.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div
        className={tools.error ? 'jp-ModelStudio-fieldError' : 'jp-ModelStudio-muted'}
        data-testid="chat-tools-status"
        data-valid={tools.error ? 'false' : 'true'}
      >
        {tools.error ?? (count ? `${count} valid tool${count > 1 ? 's' : ''}` : 'No tools')}
      </div>
      <label className="jp-ModelStudio-field jp-ModelStudio-inline">
        <span>JSON mode</span>
        <select
          className="jp-ModelStudio-select"
          value={form.jsonMode}
          data-testid="chat-json-mode"
          onChange={e => {
            const jsonMode = e.target.value as PlaygroundForm['jsonMode'];
            const schemaText =
              jsonMode === 'json_schema' && !form.schema.trim()
                ? JSON.stringify(SCHEMA_EXAMPLE, null, 2)
                : form.schema;
            setForm({ ...form, jsonMode, schema: schemaText });
          }}
        >
          <option value="off">off (text)</option>
          <option value="json_object">json_object</option>
          <option value="json_schema">json_schema</option>
        </select>
      </label>
      {form.jsonMode === 'json_schema' && (
        <>
          <label className="jp-ModelStudio-field jp-ModelStudio-inline">
            <span>Schema name</span>
            <input
              value={form.schemaName}
              data-testid="chat-schema-name"
              onChange={e => setForm({ ...form, schemaName: e.target.value })}
            />
          </label>
          <label className="jp-ModelStudio-field">
            <span>JSON Schema (strict)</span>
            <textarea
              className="jp-ModelStudio-textarea jp-ModelStudio-code"
              rows={6}
              spellCheck={false}
              value={form.schema}
              data-testid="chat-schema"
              aria-invalid={schema?.error ? 'true' : 'false'}
              onChange={e => setForm({ ...form, schema: e.target.value })}
            />
          </label>
          <div
            className={schema?.error ? 'jp-ModelStudio-fieldError' : 'jp-ModelStudio-muted'}
            data-testid="chat-schema-status"
            data-valid={schema?.error ? 'false' : 'true'}
          >
            {schema?.error ?? 'Valid JSON Schema'}
          </div>
        </>
      )}
    </details>
  );
}
