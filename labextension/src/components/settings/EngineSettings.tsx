import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { SettingsResult, SettingsUpdate } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { formatBytes, formatDuration } from '../format';

const GIB = 1024 ** 3;

type Field =
  | 'memory_budget'
  | 'idle_ttl'
  | 'max_concurrent_downloads'
  | 'files_per_download'
  | 'grid_intensity'
  | 'cpu_tdp'
  | 'extra_model_dirs'
  | StoreField;

/** Other tools' stores: whether each is listed, and its folder ('' for the tool's default). */
type StoreField = 'scan_lmstudio' | 'scan_ollama' | 'lmstudio_models_dir' | 'ollama_models_dir';
const STORES: { tool: string; scan: StoreField; dir: StoreField }[] = [
  { tool: 'LM Studio', scan: 'scan_lmstudio', dir: 'lmstudio_models_dir' },
  { tool: 'Ollama', scan: 'scan_ollama', dir: 'ollama_models_dir' }
];

/** Settings that are numbers with decimals (the others are whole numbers). */
const DECIMAL: Field[] = ['idle_ttl', 'grid_intensity', 'cpu_tdp'];

/** The form's text for each setting (memory in GiB, folders one per line). */
type Draft = Record<Field, string>;

function toDraft(values: Record<string, unknown>): Draft {
  const budget = Number(values.memory_budget ?? 0);
  return {
    memory_budget: String(Math.round((budget / GIB) * 1000) / 1000),
    idle_ttl: String(values.idle_ttl ?? ''),
    max_concurrent_downloads: String(values.max_concurrent_downloads ?? ''),
    files_per_download: String(values.files_per_download ?? ''),
    grid_intensity: String(values.grid_intensity ?? ''),
    cpu_tdp: String(values.cpu_tdp ?? ''),

    extra_model_dirs: ((values.extra_model_dirs as string[] | undefined) ?? []).join('\n'),
    scan_lmstudio: String(values.scan_lmstudio ?? true),
    scan_ollama: String(values.scan_ollama ?? true),
    lmstudio_models_dir: String(values.lmstudio_models_dir ?? ''),
    ollama_models_dir: String(values.ollama_models_dir ?? '')
  };
}

/** The draft as a settings change (only what differs from `applied`), or per-field problems. */
function parse(
  draft: Draft,
  applied: Draft
): { changes: SettingsUpdate; problems: Partial<Record<Field, string>> } {
  const changes: SettingsUpdate = {};
  const problems: Partial<Record<Field, string>> = {};
  const number = (field: Field, integer: boolean): number | null => {
    const text = draft[field].trim();
    const value = Number(text);
    if (
      text === '' ||
      !Number.isFinite(value) ||
      value < 0 ||
      (integer && !Number.isInteger(value))
    ) {
      problems[field] = integer ? 'a whole number ≥ 0' : 'a number ≥ 0';
      return null;
    }
    return value;
  };
  for (const field of Object.keys(draft) as Field[]) {
    if (draft[field] === applied[field]) {
      continue;
    }
    if (field === 'scan_lmstudio' || field === 'scan_ollama') {
      changes[field] = draft[field] === 'true';
    } else if (field === 'lmstudio_models_dir' || field === 'ollama_models_dir') {
      changes[field] = draft[field].trim();
    } else if (field === 'extra_model_dirs') {
      changes.extra_model_dirs = draft[field]
        .split('\n')
        .map(s => s.trim())
        .filter(Boolean);
    } else if (field === 'memory_budget') {
      const gib = number(field, false);
      if (gib !== null) {
        changes.memory_budget = Math.round(gib * GIB);
      }
    } else {
      const value = number(field, !DECIMAL.includes(field));
      if (value !== null) {
        changes[field] = value;
      }
    }
  }
  return { changes, problems };
}

const LABELS: Record<Field, string> = {
  memory_budget: 'Memory budget (GiB, 0: 80% of RAM)',
  idle_ttl: 'Unload idle models after (seconds, 0: never)',
  max_concurrent_downloads: 'Downloads at once',
  files_per_download: 'Files per download in parallel',
  grid_intensity: 'Grid carbon intensity (gCO2e/kWh, for energy accounts)',
  cpu_tdp: 'CPU power at full load (W, for energy estimates without RAPL)',

  extra_model_dirs: 'Extra model folders (one absolute path per line)',
  scan_lmstudio: "List LM Studio's models (read-only)",
  scan_ollama: "List Ollama's models (read-only)",
  lmstudio_models_dir: "LM Studio's models folder (empty: ~/.lmstudio/models)",
  ollama_models_dir: "Ollama's models folder (empty: OLLAMA_MODELS or ~/.ollama/models)"
};

function appliedText(field: Field, values: Record<string, unknown>): string {
  const v = values[field];
  if (field === 'memory_budget') {
    return Number(v)
      ? `${+(Number(v) / GIB).toFixed(3)} GiB (${formatBytes(Number(v))})`
      : '80% of RAM';
  }
  if (field === 'idle_ttl') {
    return Number(v) ? formatDuration(Number(v)) : 'never';
  }
  if (field === 'extra_model_dirs') {
    return ((v as string[]) ?? []).length ? (v as string[]).join(', ') : 'none';
  }
  if (field === 'scan_lmstudio' || field === 'scan_ollama') {
    return v === false ? 'off' : 'on';
  }
  if (field === 'lmstudio_models_dir' || field === 'ollama_models_dir') {
    return (v as string) || "the tool's default folders";
  }
  return String(v);
}

/** The engine's run-time settings: validated (the server's limits), saved and applied at once. */
export function EngineSettings(props: { source: DataSource; onSaved?: () => void }): JSX.Element {
  const { source } = props;
  const [result, setResult] = React.useState<SettingsResult | null>(null);
  const [draft, setDraft] = React.useState<Draft | null>(null);
  const [problems, setProblems] = React.useState<Partial<Record<Field, string>>>({});
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [saved, setSaved] = React.useState(false);
  const [reloaded, setReloaded] = React.useState<SettingsResult | null>(null);

  const apply = (r: SettingsResult): void => {
    setResult(r);
    setDraft(toDraft(r.settings));
  };

  React.useEffect(() => {
    source.getSettings().then(apply, err => setError(err as Error));
  }, [source]);

  if (!result || !draft) {
    return (
      <section className="jp-ModelStudio-section" data-testid="settings-engine">
        <ErrorBanner error={error} testId="settings-error" />
        {!error && <div className="jp-ModelStudio-muted">Loading settings…</div>}
      </section>
    );
  }
  const applied = toDraft(result.settings);
  const dirty = (Object.keys(draft) as Field[]).some(f => draft[f] !== applied[f]);

  const save = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    const parsed = parse(draft, applied);
    setProblems(parsed.problems);
    setSaved(false);
    if (Object.keys(parsed.problems).length || !Object.keys(parsed.changes).length) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      apply(await source.updateSettings(parsed.changes));
      setSaved(true);
      props.onSaved?.();
    } catch (err) {
      // A ValidationError names the setting (details.setting or details.parameter): show it there.
      const details = ((err as { details?: Record<string, unknown> }).details ?? {}) as Record<
        string,
        unknown
      >;
      const field = (details.setting ?? details.parameter) as Field | undefined;
      if (field && field in LABELS) {
        setProblems({ [field]: (err as Error).message });
      } else {
        setError(err as Error);
      }
    } finally {
      setBusy(false);
    }
  };

  const reload = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const r = await source.reloadSettings();
      apply(r);
      setReloaded(r);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const fields: Field[] = [
    'memory_budget',
    'idle_ttl',
    'max_concurrent_downloads',
    'files_per_download',
    'grid_intensity',
    'cpu_tdp'
  ];
  return (
    <form
      className="jp-ModelStudio-section"
      data-testid="settings-engine"
      onSubmit={e => void save(e)}
    >
      <h3 className="jp-ModelStudio-sectionTitle">Engine</h3>
      <div className="jp-ModelStudio-settingsGrid">
        {fields.map(field => (
          <label key={field} className="jp-ModelStudio-settingsField">
            <span>{LABELS[field]}</span>
            <input
              className="jp-ModelStudio-input"
              inputMode="decimal"
              data-testid={`setting-${field}`}
              value={draft[field]}
              aria-invalid={problems[field] ? true : undefined}
              onChange={e => {
                setDraft({ ...draft, [field]: e.target.value });
                setProblems(({ [field]: _old, ...rest }) => rest);
              }}
            />
            <span className="jp-ModelStudio-muted" data-testid={`setting-applied-${field}`}>
              applied: {appliedText(field, result.settings)}
            </span>
            <SourceNote field={field} result={result} />
            {problems[field] && (
              <span
                className="jp-ModelStudio-fieldError"
                role="alert"
                data-testid={`setting-error-${field}`}
              >
                {problems[field]}
              </span>
            )}
          </label>
        ))}
      </div>
      <label className="jp-ModelStudio-settingsField">
        <span>{LABELS.extra_model_dirs}</span>
        <textarea
          className="jp-ModelStudio-textarea"
          rows={2}
          data-testid="setting-extra_model_dirs"
          value={draft.extra_model_dirs}
          onChange={e => setDraft({ ...draft, extra_model_dirs: e.target.value })}
        />
        <span className="jp-ModelStudio-muted" data-testid="setting-applied-extra_model_dirs">
          applied: {appliedText('extra_model_dirs', result.settings)}
        </span>
        <SourceNote field="extra_model_dirs" result={result} />
        {problems.extra_model_dirs && (
          <span
            className="jp-ModelStudio-fieldError"
            role="alert"
            data-testid="setting-error-extra_model_dirs"
          >
            {problems.extra_model_dirs}
          </span>
        )}
      </label>
      {STORES.map(({ tool, scan, dir }) => (
        <div
          key={scan}
          className="jp-ModelStudio-settingsField"
          data-testid={`setting-store-${scan}`}
        >
          <label className="jp-ModelStudio-check">
            <input
              type="checkbox"
              data-testid={`setting-${scan}`}
              checked={draft[scan] === 'true'}
              onChange={e => setDraft({ ...draft, [scan]: String(e.target.checked) })}
            />
            {LABELS[scan]}
          </label>
          <input
            className="jp-ModelStudio-input"
            aria-label={`${tool} models folder`}
            placeholder={LABELS[dir]}
            title={LABELS[dir]}
            data-testid={`setting-${dir}`}
            value={draft[dir]}
            aria-invalid={problems[dir] ? true : undefined}
            onChange={e => {
              setDraft({ ...draft, [dir]: e.target.value });
              setProblems(({ [dir]: _old, ...rest }) => rest);
            }}
          />
          <span className="jp-ModelStudio-muted" data-testid={`setting-applied-${dir}`}>
            applied: {appliedText(scan, result.settings)}, {appliedText(dir, result.settings)}
          </span>
          <SourceNote field={dir} result={result} />
          {problems[dir] && (
            <span
              className="jp-ModelStudio-fieldError"
              role="alert"
              data-testid={`setting-error-${dir}`}
            >
              {problems[dir]}
            </span>
          )}
        </div>
      ))}
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="settings-error" />
      {reloaded && <ReloadNote result={reloaded} />}
      <div className="jp-ModelStudio-cardActions">
        {saved && !dirty && (
          <span className="jp-ModelStudio-muted" data-testid="settings-saved">
            Saved and applied
          </span>
        )}
        <span className="jp-ModelStudio-spacer" />
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="settings-reload"
          title="Read settings.json again after an edit by hand"
          disabled={busy}
          onClick={() => void reload()}
        >
          Reload from file
        </button>
        <button
          type="button"
          className="jp-ModelStudio-button"
          disabled={!dirty || busy}
          onClick={() => {
            setDraft(applied);
            setProblems({});
          }}
        >
          Reset
        </button>
        <button
          type="submit"
          className="jp-ModelStudio-button"
          data-testid="settings-save"
          disabled={!dirty || busy}
        >
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

const SOURCE_TEXT: Record<string, string> = {
  default: 'default',
  environment: 'from the environment',
  config: 'from the Jupyter config',
  file: 'from settings.json',
  runtime: 'changed here'
};

/** Where a setting's value comes from (`settings.sources`). */
function SourceNote(props: { field: string; result: SettingsResult }): JSX.Element | null {
  const source = props.result.sources?.[props.field];
  return source ? (
    <span className="jp-ModelStudio-muted" data-testid={`setting-source-${props.field}`}>
      {SOURCE_TEXT[source] ?? source}
    </span>
  ) : null;
}

/** What a reload of settings.json changed, and what it refused (each key on its own). */
function ReloadNote(props: { result: SettingsResult }): JSX.Element {
  const changed = Object.keys(props.result.changed ?? {});
  const errors = props.result.file_errors ?? [];
  return (
    <div className="jp-ModelStudio-muted" role="status" data-testid="settings-reloaded">
      {changed.length ? `Reloaded: ${changed.join(', ')} changed.` : 'Reloaded: nothing changed.'}
      {errors.map((e, i) => (
        <div key={i} className="jp-ModelStudio-fieldError" data-testid="settings-file-error">
          {e.message}
        </div>
      ))}
    </div>
  );
}
