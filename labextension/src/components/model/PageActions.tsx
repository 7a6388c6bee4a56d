import * as React from 'react';

import { StudioApiError, type DataSource } from '../../api/source';
import type { DeleteResult, Job, ModelPageData, VerifyResult } from '../../api/types';
import { ConfirmDelete } from '../ModelCard';
import { useNav } from '../nav';
import { formatBytes } from '../format';
import { ProgressBar } from '../ProgressBar';
import { codeSnippet, copyText } from './copy';

export interface PageActionsProps {
  source: DataSource;
  page: ModelPageData;
  variant: string | null;
  downloading: boolean;
  onDownload: (variant: string | null) => void;
  onVerified: (result: VerifyResult) => void;
  onDeleted: () => void;
  onError: (error: Error) => void;
}

/**
 * Download, Verify (with progress, then the bad files named), Delete (the bytes freed shown
 * first), Chat, Fine-tune, Generate video and Copy as code. Navigation buttons show only where a
 * host can open the view and the model can do it.
 */
export function PageActions(props: PageActionsProps): JSX.Element {
  const { page, source } = props;
  const nav = useNav();
  const model = page.model.id;
  const caps = page.capabilities;
  const [busy, setBusy] = React.useState<'verify' | 'delete' | null>(null);
  const [confirm, setConfirm] = React.useState<DeleteResult | null>(null);
  const [copied, setCopied] = React.useState<string | null>(null);

  // Verify runs as a job (library.verify_start): its progress says bytes and files done.
  const [verifyJob, setVerifyJob] = React.useState<Job | null>(null);
  const verifyId = verifyJob?.id ?? null;
  const { onVerified, onError } = props;
  const settle = React.useCallback(
    (job: Job): boolean => {
      if (job.state === 'queued' || job.state === 'running') {
        setVerifyJob(job);
        return false;
      }
      setVerifyJob(null);
      setBusy(null);
      if (job.state === 'completed') {
        onVerified(job.result as unknown as VerifyResult);
      } else if (job.error) {
        onError(new StudioApiError(job.error));
      }
      return true;
    },
    [onVerified, onError]
  );
  React.useEffect(() => {
    if (!verifyId) {
      return;
    }
    let done = false;
    const stop = source.subscribe(
      job => {
        if (!done && job.id === verifyId) {
          done = settle(job);
        }
      },
      undefined,
      { topics: ['jobs'], kinds: ['verify'], jobs: [verifyId] }
    );
    // A small model can be verified before the subscription opens: read the job once.
    void source.listJobs({ kind: 'verify', q: verifyId }).then(found => {
      const job = found.find(j => j.id === verifyId);
      if (!done && job) {
        done = settle(job);
      }
    });
    return stop;
  }, [source, verifyId, settle]);
  const verify = async (): Promise<void> => {
    setBusy('verify');
    try {
      settle(await source.startVerify(model));
    } catch (err) {
      props.onError(err as Error);
      setBusy(null);
    }
  };
  const cancelVerify = async (): Promise<void> => {
    if (verifyId) {
      try {
        await source.cancelJob(verifyId);
      } catch (err) {
        props.onError(err as Error);
      }
    }
  };
  const askDelete = async (): Promise<void> => {
    setBusy('delete');
    try {
      setConfirm(await source.deleteModel(model, true));
    } catch (err) {
      props.onError(err as Error);
    } finally {
      setBusy(null);
    }
  };
  const doDelete = async (): Promise<void> => {
    setBusy('delete');
    try {
      await source.deleteModel(model, false);
      setConfirm(null);
      props.onDeleted();
    } catch (err) {
      setConfirm(null);
      props.onError(err as Error);
    } finally {
      setBusy(null);
    }
  };
  const copy = async (): Promise<void> => {
    const ok = await copyText(codeSnippet(model, props.variant, caps.chat));
    setCopied(ok ? 'Copied' : 'Copy failed');
    window.setTimeout(() => setCopied(null), 1500);
  };
  const selected = page.quantizations.find(q => (q.name ?? null) === props.variant);

  return (
    <div className="jp-ModelStudio-pageActions">
      <div className="jp-ModelStudio-cardActions">
        {caps.download && (
          <button
            className="jp-ModelStudio-button jp-mod-accept"
            data-testid="page-download"
            disabled={props.downloading || !!selected?.local}
            onClick={() => props.onDownload(props.variant)}
          >
            {selected?.local
              ? 'Downloaded'
              : props.downloading
                ? 'Downloading…'
                : `Download${props.variant ? ' ' + props.variant : ''}`}
          </button>
        )}
        {caps.verify && (
          <button
            className="jp-ModelStudio-button"
            data-testid="page-verify"
            disabled={busy !== null}
            onClick={() => void verify()}
          >
            {busy === 'verify' ? 'Verifying…' : 'Verify'}
          </button>
        )}
        {caps.delete && (
          <button
            className="jp-ModelStudio-button jp-mod-warn"
            data-testid="page-delete"
            disabled={busy !== null || props.downloading}
            onClick={() => void askDelete()}
          >
            Delete
          </button>
        )}
        {nav && caps.chat && (
          <button
            className="jp-ModelStudio-button"
            data-testid="page-chat"
            onClick={() => nav.open({ kind: 'chat', model })}
          >
            Chat
          </button>
        )}
        {nav && caps.fine_tune && (
          <button
            className="jp-ModelStudio-button"
            data-testid="page-finetune"
            onClick={() => nav.open({ kind: 'training', model })}
          >
            Fine-tune
          </button>
        )}
        {nav && caps.video && (
          <button
            className="jp-ModelStudio-button"
            data-testid="page-video"
            onClick={() => nav.open({ kind: 'video', model })}
          >
            Generate video
          </button>
        )}
        <button
          className="jp-ModelStudio-button"
          data-testid="page-copy-code"
          title={codeSnippet(model, props.variant, caps.chat)}
          onClick={() => void copy()}
        >
          {copied ?? 'Copy as code'}
        </button>
      </div>
      {busy === 'verify' && <VerifyProgress job={verifyJob} onCancel={() => void cancelVerify()} />}
      {confirm && (
        <ConfirmDelete
          model={page.model}
          result={confirm}
          busy={busy === 'delete'}
          onCancel={() => setConfirm(null)}
          onConfirm={() => void doDelete()}
        />
      )}
    </div>
  );
}

/** A running verification: the bar over bytes hashed, which file of how many, and Cancel. */
function VerifyProgress(props: { job: Job | null; onCancel: () => void }): JSX.Element {
  const p = props.job?.progress;
  const detail = (p?.detail ?? {}) as { files_done?: number; files_total?: number; file?: string };
  const of = detail.files_total;
  const n = detail.files_done ?? 0;
  const label =
    of === undefined
      ? 'Listing the files to verify…'
      : detail.file
        ? `Verifying file ${Math.min(n + 1, of)} of ${of}: ${detail.file}`
        : `${n} of ${of} files verified`;
  return (
    <div className="jp-ModelStudio-verifyProgress" data-testid="page-verify-running">
      <ProgressBar
        fraction={p?.fraction ?? null}
        label={label}
        testId="page-verify-progress"
        title={`${formatBytes(p?.done ?? 0)} of ${formatBytes(p?.total ?? null)} hashed`}
      />
      <span className="jp-ModelStudio-muted" data-testid="page-verify-files">
        {label}
        {p?.total ? ` (${formatBytes(p.done)} of ${formatBytes(p.total)})` : ''}
      </span>
      <button
        className="jp-ModelStudio-button"
        data-testid="page-verify-cancel"
        disabled={!props.job}
        onClick={props.onCancel}
      >
        Cancel
      </button>
    </div>
  );
}

/** What a finished verify says: all good, or which files are bad and why. */
export function VerifySummary(props: { result: VerifyResult | null }): JSX.Element | null {
  const r = props.result;
  if (!r) {
    return null;
  }
  const bad = [...r.mismatches.map(m => String(m.path)), ...(r.extra ?? [])];
  return (
    <div
      className={`jp-ModelStudio-notice${r.ok ? '' : ' jp-mod-warn'}`}
      data-testid="page-verify-result"
      data-ok={String(r.ok)}
    >
      {r.ok ? (
        `Verified: ${r.checked} file${r.checked === 1 ? ' matches' : 's match'} the Hub's checksums.`
      ) : (
        <>
          {bad.length} bad file{bad.length === 1 ? '' : 's'}:{' '}
          {r.mismatches.map(m => (
            <code key={String(m.path)} data-testid="page-bad-file" title={`${m.algorithm}`}>
              {String(m.path)}
            </code>
          ))}
          {(r.extra ?? []).map(p => (
            <code key={p} data-testid="page-bad-file" title="not part of this revision">
              {p}
            </code>
          ))}
          . Delete the model and download it again.
        </>
      )}
    </div>
  );
}
