import * as React from 'react';

import type { DataSource } from '../api/source';
import type { DeleteResult, ErrorInfo, FitResult, Job, ModelInfo } from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatCount, testIdPart } from './format';
import type { Limiter } from './hooks';
import { useNav } from './nav';

export interface ModelCardProps {
  model: ModelInfo;
  source: DataSource;
  /** The latest download job for this model, if any (live). */
  job?: Job;
  limit: Limiter;
  onDownloadStarted?: (job: Job) => void;
  onDeleted?: (model: ModelInfo, result: DeleteResult) => void;
}

const VERDICT_LABEL: Record<string, string> = {
  gpu: 'Fits on GPU',
  partial: 'Partial offload',
  cpu: 'CPU only',
  no: "Won't fit"
};

function initialQuant(model: ModelInfo): string {
  if (model.default_quantization) {
    return model.default_quantization;
  }
  return model.quantizations.length > 0 ? model.quantizations[0].name : '';
}

/** How each store is named on a card. */
const STORE_NAMES: Record<string, string> = {
  folder: 'model folder',
  import: 'imported',
  lmstudio: 'LM Studio',
  ollama: 'Ollama'
};

/** One model: metadata, quantization picker, fit badge, download and delete. */
export function ModelCard(props: ModelCardProps): JSX.Element {
  const { model, source } = props;
  const nav = useNav();
  const tid = testIdPart(model.id);
  const [quant, setQuant] = React.useState<string>(() => initialQuant(model));
  const [fit, setFit] = React.useState<FitResult | null>(null);
  const [fitError, setFitError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState<'download' | 'delete' | null>(null);
  const [error, setError] = React.useState<ErrorInfo | Error | null>(null);
  const [confirm, setConfirm] = React.useState<DeleteResult | null>(null);

  React.useEffect(() => {
    let live = true;
    setFit(null);
    setFitError(null);
    if (model.status === 'remote') {
      return; // served by a remote endpoint: nothing to fit here
    }
    props
      .limit(() => source.fit(model.id, quant || null))
      .then(
        result => live && setFit(result),
        err => live && setFitError((err as Error).message ?? String(err))
      );
    return () => {
      live = false;
    };
  }, [source, model.id, quant]);

  const selected = model.quantizations.find(q => q.name === quant);
  const size = selected?.size ?? model.size;
  const job = props.job;
  const jobActive = job && (job.state === 'running' || job.state === 'queued');
  const isLocal = model.status === 'local' || (model.local_size ?? 0) > 0;
  const selectedLocal = selected ? selected.local : model.status === 'local';
  // Not on the Hub: loose files, imports and other tools' stores (nothing to download).
  const isLooseLocal = model.id.startsWith('local/') || !!model.read_only;
  // Deletable: Hub cache models, and imports (the studio's entry; a copy's bytes).
  const canDelete =
    isLocal && !model.read_only && !model.shared && (!isLooseLocal || model.store === 'import');
  // Served by a remote endpoint (remote/<endpoint>/<model>): nothing to download or delete here.
  const isRemote = model.status === 'remote';

  const download = async (): Promise<void> => {
    setBusy('download');
    setError(null);
    try {
      const started = await source.startDownload({ model: model.id, quantization: quant || null });
      props.onDownloadStarted?.(started);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const askDelete = async (): Promise<void> => {
    setBusy('delete');
    setError(null);
    try {
      setConfirm(await source.deleteModel(model.id, true));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const doDelete = async (): Promise<void> => {
    setBusy('delete');
    setError(null);
    try {
      const result = await source.deleteModel(model.id, false);
      setConfirm(null);
      props.onDeleted?.(model, result);
    } catch (err) {
      setConfirm(null);
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const percent =
    job && job.progress.fraction !== null ? Math.round(job.progress.fraction * 100) : null;

  return (
    <div
      className="jp-ModelStudio-card"
      data-testid={`model-card-${tid}`}
      data-model-id={model.id}
      data-status={model.status}
    >
      <div className="jp-ModelStudio-cardHead">
        {nav ? (
          <button
            className="jp-ModelStudio-cardTitle jp-ModelStudio-linkButton"
            title={`Open the page of ${model.id}`}
            aria-label={`Open page: ${model.id}`}
            data-testid={`open-page-${tid}`}
            onClick={() =>
              // the variant only when the user picked one: the page knows the model's default
              nav.open({
                kind: 'model',
                model: model.id,
                variant: quant && quant !== initialQuant(model) ? quant : null
              })
            }
          >
            {model.id}
          </button>
        ) : (
          <span className="jp-ModelStudio-cardTitle" title={model.id}>
            {model.id}
          </span>
        )}
        <span
          className={`jp-ModelStudio-status jp-ModelStudio-status-${model.status}`}
          data-testid={`model-status-${tid}`}
          title={model.error?.message}
        >
          {jobActive ? `downloading${percent !== null ? ` ${percent}%` : ''}` : model.status}
        </span>
        {model.shared && (
          <span
            className="jp-ModelStudio-status jp-ModelStudio-status-shared"
            data-testid={`model-shared-${tid}`}
            title="In the read-only shared model folder (shared_model_dirs): loaded in place, not deletable here"
          >
            shared
          </span>
        )}
      </div>
      {model.description && <div className="jp-ModelStudio-cardDesc">{model.description}</div>}
      {model.error && (
        <div className="jp-ModelStudio-cardProblem" data-testid={`model-problem-${tid}`}>
          {model.error.message}
          {model.error.resolution_steps?.length ? ` (${model.error.resolution_steps[0]})` : ''}
        </div>
      )}
      <div className="jp-ModelStudio-meta">
        {model.task && <span title="Task">{model.task}</span>}
        <span title="Size on the Hub (selected quantization)">{formatBytes(size)}</span>
        {model.parameters ? (
          <span title="Parameters">{formatCount(model.parameters)} params</span>
        ) : null}
        {model.context_length ? (
          <span title="Context length">{formatCount(model.context_length)} ctx</span>
        ) : null}
        {model.license && <span title="Licence">{model.license}</span>}
        {model.gated && <span title="Needs accepting the licence on the Hub">gated</span>}
        {model.formats.length > 0 && <span title="Formats">{model.formats.join(', ')}</span>}
        {isLocal && model.local_size ? (
          <span title="On disk">{formatBytes(model.local_size)} on disk</span>
        ) : null}
        {model.store && model.store !== 'hf-cache' && (
          <span
            className="jp-ModelStudio-badge"
            data-testid={`model-store-${tid}`}
            title={
              model.read_only
                ? `${STORE_NAMES[model.store] ?? model.store} owns this model: the studio reads it, never deletes it`
                : `Lives in: ${model.local_path ?? model.store}`
            }
          >
            {STORE_NAMES[model.store] ?? model.store}
            {model.read_only ? ' · read-only' : ''}
          </span>
        )}
        {model.verified === false && (
          <span
            className="jp-ModelStudio-badge jp-ModelStudio-badge-bad"
            data-testid={`model-unverified-${tid}`}
            title="Imported from a URL without a sha256: its bytes were not checked"
          >
            unverified
          </span>
        )}
      </div>
      <div className="jp-ModelStudio-cardActions">
        {model.quantizations.length > 0 && (
          <select
            className="jp-ModelStudio-select"
            aria-label="Quantization"
            data-testid={`quant-select-${tid}`}
            value={quant}
            onChange={e => setQuant(e.target.value)}
          >
            {model.quantizations.map(q => (
              <option key={q.name} value={q.name}>
                {q.name}
                {q.size ? ` · ${formatBytes(q.size)}` : ''}
                {q.local ? ' ✓' : ''}
              </option>
            ))}
          </select>
        )}
        {isRemote ? (
          <span data-testid={`remote-badge-${tid}`}>
            served by the remote endpoint <strong>{model.endpoint}</strong>
          </span>
        ) : (
          <FitBadge fit={fit} error={fitError} testId={`fit-badge-${tid}`} />
        )}
        <span className="jp-ModelStudio-spacer" />
        {!isLooseLocal && !isRemote && (
          <button
            className="jp-ModelStudio-button jp-mod-accept"
            data-testid={`download-button-${tid}`}
            disabled={busy !== null || !!jobActive || selectedLocal}
            title={
              selectedLocal
                ? 'Already on this machine'
                : `Download ${model.id}${quant ? ':' + quant : ''}`
            }
            onClick={() => void download()}
          >
            {jobActive
              ? 'Downloading…'
              : busy === 'download'
                ? 'Starting…'
                : selectedLocal
                  ? 'Downloaded'
                  : 'Download'}
          </button>
        )}
        {canDelete && (
          <button
            className="jp-ModelStudio-button jp-mod-warn"
            data-testid={`delete-button-${tid}`}
            disabled={busy !== null || !!jobActive}
            title={
              model.store === 'import'
                ? 'Remove the import (a copy made by the studio is deleted; your own file stays)'
                : 'Delete from the Hugging Face cache'
            }
            onClick={() => void askDelete()}
          >
            Delete
          </button>
        )}
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId={`model-error-${tid}`} />
      {confirm && (
        <ConfirmDelete
          model={model}
          result={confirm}
          busy={busy === 'delete'}
          onCancel={() => setConfirm(null)}
          onConfirm={() => void doDelete()}
        />
      )}
    </div>
  );
}

export function FitBadge(props: {
  fit: FitResult | null;
  error: string | null;
  testId: string;
}): JSX.Element {
  if (props.error) {
    return (
      <span
        className="jp-ModelStudio-fit jp-ModelStudio-fit-unknown"
        title={props.error}
        data-testid={props.testId}
      >
        fit ?
      </span>
    );
  }
  if (!props.fit) {
    return (
      <span className="jp-ModelStudio-fit jp-ModelStudio-fit-pending" data-testid={props.testId}>
        …
      </span>
    );
  }
  const { fit } = props;
  const label =
    fit.verdict === 'partial' && fit.total_layers
      ? `${VERDICT_LABEL.partial} ${fit.gpu_layers}/${fit.total_layers}`
      : (VERDICT_LABEL[fit.verdict] ?? fit.verdict);
  const title = [fit.message, `Needs ≈ ${formatBytes(fit.total_bytes)}`, ...fit.notes].join('\n');
  return (
    <span
      className={`jp-ModelStudio-fit jp-ModelStudio-fit-${fit.verdict}`}
      title={title}
      data-testid={props.testId}
      data-verdict={fit.verdict}
    >
      {fit.approximate ? '≈ ' : ''}
      {label}
    </span>
  );
}

export function ConfirmDelete(props: {
  model: ModelInfo;
  result: DeleteResult;
  busy: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}): JSX.Element {
  const confirmRef = React.useRef<HTMLButtonElement>(null);
  React.useEffect(() => confirmRef.current?.focus(), []);
  return (
    <div className="jp-ModelStudio-overlay" onClick={props.onCancel}>
      <div
        className="jp-ModelStudio-dialog"
        role="dialog"
        aria-modal="true"
        aria-label={`Delete ${props.model.id}`}
        data-testid="delete-dialog"
        onClick={e => e.stopPropagation()}
        onKeyDown={e => e.key === 'Escape' && props.onCancel()}
      >
        <div className="jp-ModelStudio-dialogTitle">Delete {props.model.id}?</div>
        <p>
          This removes the model from the Hugging Face cache and frees{' '}
          <strong data-testid="delete-freed-bytes" data-bytes={props.result.freed_bytes}>
            {formatBytes(props.result.freed_bytes)}
          </strong>
          .
        </p>
        <div className="jp-ModelStudio-dialogButtons">
          <button
            className="jp-ModelStudio-button"
            data-testid="delete-cancel"
            onClick={props.onCancel}
          >
            Cancel
          </button>
          <button
            ref={confirmRef}
            className="jp-ModelStudio-button jp-mod-warn"
            data-testid="delete-confirm"
            disabled={props.busy}
            onClick={props.onConfirm}
          >
            {props.busy ? 'Deleting…' : 'Delete'}
          </button>
        </div>
      </div>
    </div>
  );
}
