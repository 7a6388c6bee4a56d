import * as React from 'react';

import type { DataSource } from '../api/source';
import type { ErrorInfo, FolderEntry, Job, ModelInfo } from '../api/types';
import { ErrorBanner } from './ErrorBanner';

export interface ImportFormProps {
  source: DataSource;
  /** `copied`: the bytes were copied into the studio's models folder (else used in place). */
  onImported: (model: ModelInfo, copied: boolean) => void;
  onImportStarted: (job: Job) => void;
  onClose: () => void;
}

/** The folder part of a typed path ('' for the root) and the name being typed. */
function splitPath(path: string): [string, string] {
  const at = path.lastIndexOf('/');
  return at < 0 ? ['', path] : [path.slice(0, at), path.slice(at + 1)];
}

/** One text box of the form. */
function TextBox(props: {
  label: string;
  placeholder: string;
  testId: string;
  value: string;
  onChange: (value: string) => void;
  list?: string;
}): JSX.Element {
  return (
    <input
      className="jp-ModelStudio-search"
      list={props.list}
      placeholder={props.placeholder}
      aria-label={props.label}
      data-testid={props.testId}
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
    />
  );
}

/**
 * Import a model: a .gguf file or a safetensors folder by path (completed over Jupyter's contents
 * API where the source has one; used in place unless "copy" is ticked), or a .gguf by HTTPS URL
 * (a job; verified when a sha256 is given, listed as unverified otherwise).
 */
export function ImportForm(props: ImportFormProps): JSX.Element {
  const { source } = props;
  const [mode, setMode] = React.useState<'path' | 'url'>('path');
  const [path, setPath] = React.useState('');
  const [url, setUrl] = React.useState('');
  const [sha256, setSha256] = React.useState('');
  const [name, setName] = React.useState('');
  const [copy, setCopy] = React.useState(false);
  const [entries, setEntries] = React.useState<FolderEntry[]>([]);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<ErrorInfo | Error | null>(null);

  const [folder] = splitPath(path);
  React.useEffect(() => {
    if (!source.listFolder || mode !== 'path') {
      return;
    }
    let live = true;
    source.listFolder(folder).then(
      found => live && setEntries(found),
      () => live && setEntries([])
    );
    return () => {
      live = false;
    };
  }, [source, folder, mode]);

  const suggestions = entries
    .filter(e => e.type === 'directory' || e.name.toLowerCase().endsWith('.gguf'))
    .map(e => (e.type === 'directory' ? `${e.path}/` : e.path));

  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      if (mode === 'path') {
        const model = await source.importModel({
          path: path.replace(/\/$/, ''),
          name: name || null,
          copy
        });
        props.onImported(model, copy);
      } else {
        const job = await source.importUrl({ url, sha256: sha256 || null, name: name || null });
        props.onImportStarted(job);
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const ready = mode === 'path' ? path.trim().length > 0 : url.trim().length > 0;
  return (
    <div className="jp-ModelStudio-importForm" data-testid="import-form">
      <div className="jp-ModelStudio-toolbar" role="radiogroup" aria-label="Import from">
        <label className="jp-ModelStudio-check">
          <input
            type="radio"
            checked={mode === 'path'}
            data-testid="import-mode-path"
            onChange={() => setMode('path')}
          />
          File or folder on the server
        </label>
        <label className="jp-ModelStudio-check">
          <input
            type="radio"
            checked={mode === 'url'}
            data-testid="import-mode-url"
            onChange={() => setMode('url')}
          />
          URL of a .gguf
        </label>
      </div>
      {mode === 'path' ? (
        <>
          <TextBox
            label="Path to import"
            placeholder="models/my-model.Q4_K_M.gguf or a folder with config.json"
            testId="import-path"
            value={path}
            onChange={setPath}
            list="jp-ModelStudio-importPaths"
          />
          <datalist id="jp-ModelStudio-importPaths" data-testid="import-suggestions">
            {suggestions.map(s => (
              <option key={s} value={s} />
            ))}
          </datalist>
          <label className="jp-ModelStudio-check" title="Without it the file is used where it lies">
            <input
              type="checkbox"
              checked={copy}
              data-testid="import-copy"
              onChange={e => setCopy(e.target.checked)}
            />
            Copy into the studio's models folder
          </label>
        </>
      ) : (
        <>
          <TextBox
            label="URL to import"
            placeholder="https://example.org/model.Q4_K_M.gguf"
            testId="import-url"
            value={url}
            onChange={setUrl}
          />
          <TextBox
            label="sha256"
            placeholder="sha256 (optional: without it the model is listed as unverified)"
            testId="import-sha256"
            value={sha256}
            onChange={setSha256}
          />
        </>
      )}
      <TextBox
        label="Model name"
        placeholder="Name (optional): local/NAME"
        testId="import-name"
        value={name}
        onChange={setName}
      />
      <div className="jp-ModelStudio-toolbar">
        <button
          className="jp-ModelStudio-button jp-mod-accept"
          data-testid="import-submit"
          disabled={!ready || busy}
          onClick={() => void submit()}
        >
          {busy ? 'Importing…' : 'Import'}
        </button>
        <button
          className="jp-ModelStudio-button"
          data-testid="import-cancel"
          onClick={props.onClose}
        >
          Close
        </button>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="import-error" />
    </div>
  );
}
