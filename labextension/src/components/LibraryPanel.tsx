import * as React from 'react';

import type { DataSource } from '../api/source';
import type {
  Backend,
  ErrorInfo,
  Job,
  ModelInfo,
  ModelStatus,
  SearchQuery,
  SortKey,
  Task
} from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, oneOf } from './format';
import { ImportForm } from './ImportForm';
import { createLimiter, useDebounced } from './hooks';
import { ModelCard } from './ModelCard';
import { useDownloadJobs } from './useJobs';

export interface LibraryPanelProps {
  source: DataSource;
  /** Initial search (a widget may pass its `query` traitlet). */
  initialQuery?: Partial<SearchQuery>;
  /** Called when a download starts (the tabs switch to Downloads, for instance). */
  onDownloadStarted?: (job: Job) => void;
}

const TASKS: Task[] = [
  'text-generation',
  'text-to-video',
  'image-to-video',
  'feature-extraction',
  'sentence-similarity'
];
const BACKENDS: Backend[] = ['llama-cpp', 'transformers', 'diffusers'];
const STATUSES: ModelStatus[] = ['available', 'downloading', 'local', 'error', 'remote'];
const SORTS: SortKey[] = ['downloads', 'likes', 'recent', 'size', 'name'];
/** Where a local model lives (ModelInfo.store); the filter is applied to the answer here. */
const STORES = ['hf-cache', 'folder', 'import', 'lmstudio', 'ollama'];

function Filter(props: {
  label: string;
  value: string;
  options: string[];
  onChange: (v: string) => void;
  testId: string;
  anyLabel?: string;
}): JSX.Element {
  return (
    <select
      className="jp-ModelStudio-select"
      aria-label={props.label}
      title={props.label}
      data-testid={props.testId}
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
    >
      {props.anyLabel !== undefined && <option value="">{props.anyLabel}</option>}
      {props.options.map(o => (
        <option key={o} value={o}>
          {o}
        </option>
      ))}
    </select>
  );
}

/** Search the catalog, the Hub and local models; download, check fit, delete. */
export function LibraryPanel(props: LibraryPanelProps): JSX.Element {
  const { source } = props;
  const init = props.initialQuery ?? {};
  const [q, setQ] = React.useState(init.q ?? '');
  const [task, setTask] = React.useState(init.task ?? '');
  const [backend, setBackend] = React.useState(init.backend ?? '');
  const [status, setStatus] = React.useState(init.status ?? '');
  const [sort, setSort] = React.useState<SortKey>((init.sort as SortKey) ?? 'downloads');
  const [hub, setHub] = React.useState(init.hub ?? true);
  const [store, setStore] = React.useState('');
  const [importing, setImporting] = React.useState(false);
  const [models, setModels] = React.useState<ModelInfo[] | null>(null);
  const [loading, setLoading] = React.useState(false);
  const [error, setError] = React.useState<ErrorInfo | Error | null>(null);
  const [hubError, setHubError] = React.useState<string | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  const [generation, setGeneration] = React.useState(0);
  const limit = React.useMemo(() => createLimiter(4), [source]);
  const refresh = React.useCallback(() => setGeneration(g => g + 1), []);

  const { jobs, upsert } = useDownloadJobs(source, (job, previous) => {
    const finished = job.state === 'completed' && previous?.state !== 'completed';
    if (finished) {
      refresh();
    }
  });
  const shown = React.useMemo(
    () => (store && models ? models.filter(m => m.store === store) : models),
    [models, store]
  );
  const jobByModel = React.useMemo(() => {
    const map = new Map<string, Job>();
    for (const job of jobs) {
      const repo = (job.params.repo_id as string) || (job.params.model as string) || '';
      if (repo && !map.has(repo)) {
        map.set(repo, job); // jobs are newest first
      }
    }
    return map;
  }, [jobs]);

  const query = useDebounced(q, 300);
  React.useEffect(() => {
    let live = true;
    setLoading(true);
    source
      .searchModels({
        q: query,
        task: oneOf(task, TASKS),
        backend: oneOf(backend, BACKENDS),
        status: oneOf(status, STATUSES),
        sort,
        hub,
        limit: init.limit ?? 50
      })
      .then(
        result => {
          if (!live) {
            return;
          }
          setModels(result.models);
          setError(null);
          const he = result.hub_error;
          setHubError(he ? (typeof he === 'string' ? he : he.message) : null);
        },
        err => live && setError(err as Error)
      )
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [source, query, task, backend, status, sort, hub, generation]);

  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-library" data-testid="library-panel">
      <div className="jp-ModelStudio-toolbar">
        <input
          className="jp-ModelStudio-search"
          type="search"
          placeholder="Search models (e.g. qwen gguf)"
          aria-label="Search models"
          data-testid="library-search"
          value={q}
          onChange={e => setQ(e.target.value)}
        />
        <button
          className="jp-ModelStudio-button"
          title="Import a GGUF file, a safetensors folder or a .gguf URL"
          data-testid="library-import"
          aria-expanded={importing}
          onClick={() => setImporting(!importing)}
        >
          Import
        </button>
        <button
          className="jp-ModelStudio-iconButton"
          title="Refresh"
          aria-label="Refresh"
          data-testid="library-refresh"
          onClick={refresh}
        >
          ⟳
        </button>
      </div>
      <div className="jp-ModelStudio-toolbar jp-ModelStudio-filters">
        <Filter
          label="Task"
          value={task}
          options={TASKS}
          onChange={setTask}
          testId="library-filter-task"
          anyLabel="any task"
        />
        <Filter
          label="Backend"
          value={backend}
          options={BACKENDS}
          onChange={setBackend}
          testId="library-filter-backend"
          anyLabel="any backend"
        />
        <Filter
          label="Status"
          value={status}
          options={STATUSES}
          onChange={setStatus}
          testId="library-filter-status"
          anyLabel="any status"
        />
        <Filter
          label="Store"
          value={store}
          options={STORES}
          onChange={setStore}
          testId="library-filter-store"
          anyLabel="any store"
        />
        <Filter
          label="Sort by"
          value={sort}
          options={SORTS}
          onChange={v => setSort(v as SortKey)}
          testId="library-sort"
        />
        <label className="jp-ModelStudio-check" title="Include live Hugging Face Hub search">
          <input
            type="checkbox"
            checked={hub}
            data-testid="library-hub"
            onChange={e => setHub(e.target.checked)}
          />
          Hub
        </label>
      </div>
      {importing && (
        <ImportForm
          source={source}
          onClose={() => setImporting(false)}
          onImported={(model, copied) => {
            setImporting(false);
            setNotice(
              copied
                ? `Imported ${model.id}: copied to ${model.local_path ?? "the studio's models folder"}.`
                : `Imported ${model.id} from ${model.local_path ?? 'the path'} (in place, nothing copied).`
            );
            refresh();
          }}
          onImportStarted={job => {
            setImporting(false);
            const unverified = !job.params.sha256;
            setNotice(
              `Import of ${job.params.filename ?? job.title} started` +
                (unverified ? ' (unverified: no sha256 given).' : ' (verified against its sha256).')
            );
          }}
        />
      )}
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="library-error" />
      {hubError && (
        <div className="jp-ModelStudio-note" data-testid="library-hub-error" title={hubError}>
          Hub search unavailable; showing catalog and local models. ({hubError})
        </div>
      )}
      {notice && (
        <div className="jp-ModelStudio-note" data-testid="library-notice">
          {notice}
          <button
            className="jp-ModelStudio-iconButton"
            aria-label="Dismiss"
            onClick={() => setNotice(null)}
          >
            ×
          </button>
        </div>
      )}
      <div className="jp-ModelStudio-count" data-testid="library-count" aria-live="polite">
        {loading
          ? 'Searching…'
          : shown
            ? `${shown.length} model${shown.length === 1 ? '' : 's'}`
            : ''}
      </div>
      <div className="jp-ModelStudio-list" data-testid="library-results" aria-busy={loading}>
        {shown?.map(model => (
          <ModelCard
            key={model.id}
            model={model}
            source={source}
            limit={limit}
            job={jobByModel.get(model.id)}
            onDownloadStarted={job => {
              upsert(job);
              setNotice(`Download of ${job.title || model.id} started.`);
              props.onDownloadStarted?.(job);
            }}
            onDeleted={(m, result) => {
              setNotice(`Deleted ${m.id}; freed ${formatBytes(result.freed_bytes)}.`);
              refresh();
            }}
          />
        ))}
        {shown && shown.length === 0 && !loading && (
          <div className="jp-ModelStudio-empty" data-testid="library-empty">
            No models match.
          </div>
        )}
      </div>
    </div>
  );
}
