/**
 * A model's page: its card (sanitized Markdown), the card's metadata and evaluation results,
 * files with sha256 and local badges, revisions, licence and gating, quantizations with fit
 * verdicts, and the actions (download, verify, delete, chat, fine-tune, video, copy as code).
 * Hosted by a JupyterLab main-area panel, the Studio widget's tabs, or `ms.ModelPage(...)`.
 */
import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, ModelPageData, VerifyResult } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { formatBytes, formatCount, testIdPart } from '../format';
import { CardFacts, EvalResults } from './CardMetadata';
import { CardView } from './CardView';
import { FilesTable } from './FilesTable';
import { GatingBox } from './GatingBox';
import { PageActions, VerifySummary } from './PageActions';
import { jobVariant, Quantizations } from './Quantizations';
import { Revisions } from './Revisions';

export interface ModelPageProps {
  source: DataSource;
  model: string;
  variant?: string | null;
}

const ACTIVE = new Set(['queued', 'running']);

function Section(props: { title: string; id: string; children: React.ReactNode }): JSX.Element {
  return (
    <section className="jp-ModelStudio-pageSection" data-testid={`model-section-${props.id}`}>
      <h3 className="jp-ModelStudio-sectionTitle">{props.title}</h3>
      {props.children}
    </section>
  );
}

export function ModelPage(props: ModelPageProps): JSX.Element {
  const { source, model } = props;
  const [page, setPage] = React.useState<ModelPageData | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [loadError, setLoadError] = React.useState<Error | null>(null);
  const [generation, setGeneration] = React.useState(0);
  const [variant, setVariant] = React.useState<string | null>(props.variant ?? null);
  const [jobs, setJobs] = React.useState<Map<string, Job>>(() => new Map());
  const [verified, setVerified] = React.useState<VerifyResult | null>(null);
  const reload = React.useCallback(() => setGeneration(g => g + 1), []);

  React.useEffect(() => {
    let live = true;
    source.modelPage(model, props.variant ?? null).then(
      result => {
        if (!live) {
          return;
        }
        setPage(result);
        setLoadError(null);
        setVariant(v => v ?? result.model.default_quantization ?? null);
      },
      err => live && setLoadError(err as Error)
    );
    return () => {
      live = false;
    };
  }, [source, model, props.variant, generation]);

  // Downloads of this model: buttons show them; a finished one refreshes the page's local part.
  React.useEffect(
    () =>
      source.subscribe(job => {
        const params = job.params as Record<string, unknown>;
        if (job.kind !== 'download' || params.repo_id !== model) {
          return;
        }
        setJobs(prev => new Map(prev).set(job.id, job));
        if (job.state === 'completed') {
          reload();
        }
      }),
    [source, model, reload]
  );

  const download = async (v: string | null): Promise<void> => {
    setError(null);
    try {
      const job = await source.startDownload({ model, quantization: v });
      setJobs(prev => new Map(prev).set(job.id, job));
    } catch (err) {
      setError(err as Error);
    }
  };

  const tid = testIdPart(model);
  if (!page) {
    return (
      <div className="jp-ModelStudio jp-ModelStudio-modelPage" data-testid="model-page-loading">
        {loadError ? (
          <ErrorBanner error={loadError} testId="model-page-error" />
        ) : (
          <div className="jp-ModelStudio-empty">Loading {model}…</div>
        )}
      </div>
    );
  }
  const info = page.model;
  const downloading = new Set(
    [...jobs.values()].filter(j => ACTIVE.has(j.state)).map(j => jobVariant(j))
  );
  const bad = new Set([
    ...(verified?.mismatches ?? []).map(m => String(m.path)),
    ...(verified?.extra ?? [])
  ]);
  const meta = page.metadata;
  const named = page.quantizations.filter(q => q.name);

  return (
    <div
      className="jp-ModelStudio jp-ModelStudio-modelPage"
      data-testid="model-page"
      data-model-id={model}
    >
      <div className="jp-ModelStudio-pageHead">
        <h2 className="jp-ModelStudio-pageTitle" data-testid={`model-page-title-${tid}`}>
          {info.id}
        </h2>
        <span className={`jp-ModelStudio-status jp-ModelStudio-status-${info.status}`}>
          {info.status}
        </span>
        {page.url && (
          <a href={page.url} target="_blank" rel="noopener noreferrer">
            On the Hub
          </a>
        )}
      </div>
      <div className="jp-ModelStudio-meta">
        {info.task && <span title="Task">{info.task}</span>}
        {info.parameters ? <span>{formatCount(info.parameters)} params</span> : null}
        {info.context_length ? <span>{formatCount(info.context_length)} ctx</span> : null}
        {info.architecture && <span title="Architecture">{info.architecture}</span>}
        {info.formats.length > 0 && <span title="Formats">{info.formats.join(', ')}</span>}
        {info.local_size ? <span>{formatBytes(info.local_size)} on disk</span> : null}
        {page.backends.map(b => (
          <span
            key={b.name}
            title={b.installed ? 'Installed' : 'Not installed'}
            data-testid={`model-backend-${b.name}`}
          >
            {b.name}
            {b.installed ? ' ✓' : ' (not installed)'}
          </span>
        ))}
        {meta.tags.slice(0, 8).map(t => (
          <span key={t} className="jp-ModelStudio-tag">
            {t}
          </span>
        ))}
      </div>
      {page.hub_error && (
        <div className="jp-ModelStudio-notice jp-mod-warn" data-testid="model-page-hub-error">
          The Hub did not answer ({page.hub_error.message}); showing what is on this machine.
        </div>
      )}
      {named.length > 1 && (
        <label className="jp-ModelStudio-inline">
          Variant{' '}
          <select
            className="jp-ModelStudio-select"
            data-testid="page-variant"
            value={variant ?? ''}
            onChange={e => setVariant(e.target.value || null)}
          >
            {named.map(q => (
              <option key={q.name} value={q.name ?? ''}>
                {q.name}
                {q.local ? ' ✓' : ''}
              </option>
            ))}
          </select>
        </label>
      )}
      <PageActions
        source={source}
        page={page}
        variant={named.length > 0 ? variant : null}
        downloading={downloading.has((named.length > 0 ? (variant ?? '') : '').toUpperCase())}
        onDownload={v => void download(v)}
        onVerified={r => {
          setVerified(r);
          reload();
        }}
        onDeleted={() => {
          setVerified(null);
          reload();
        }}
        onError={setError}
      />
      <ErrorBanner
        error={error}
        onDismiss={() => setError(null)}
        testId="model-page-action-error"
      />
      <VerifySummary result={verified} />
      <GatingBox page={page} />
      <CardFacts meta={meta} />
      <Section title="Quantizations and fit" id="quantizations">
        <Quantizations
          quantizations={page.quantizations}
          canDownload={page.capabilities.download}
          downloading={downloading}
          onDownload={v => void download(v)}
        />
      </Section>
      {meta.eval_results.length > 0 && (
        <Section title="Evaluation results" id="eval">
          <EvalResults results={meta.eval_results} />
        </Section>
      )}
      <Section title={`Files (${page.files.length})`} id="files">
        <FilesTable files={page.files} bad={bad} />
      </Section>
      <Section title="Revisions" id="revisions">
        <Revisions revisions={page.revisions} />
      </Section>
      <Section title="Model card" id="card">
        <CardView text={page.card ?? null} />
      </Section>
    </div>
  );
}
