import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { ClusterAnswers, TrainingConfig, TrainingExport } from '../../api/types';
import { download } from '../chat/conversation';
import { ErrorBanner } from '../ErrorBanner';

interface Answers {
  nnodes: string;
  node_rank: string;
  master_addr: string;
  master_port: string;
  partition: string;
  time_limit: string;
  out_dir: string;
}

const DEFAULT_ANSWERS: Answers = {
  nnodes: '1',
  node_rank: '0',
  master_addr: '127.0.0.1',
  master_port: '29500',
  partition: '',
  time_limit: '',
  out_dir: ''
};

function clusterOf(a: Answers): ClusterAnswers {
  const n = (v: string): number | null =>
    v.trim() === '' || !isFinite(Number(v)) ? null : Number(v);
  return {
    nnodes: n(a.nnodes),
    node_rank: n(a.node_rank),
    master_addr: a.master_addr.trim() || null,
    master_port: n(a.master_port),
    partition: a.partition.trim() || null,
    time_limit: a.time_limit.trim() || null
  };
}

/**
 * "Export for a cluster": the run config as the torchrun command, a SLURM script and the files they
 * read (`training.export`), with the multi-node fields from the answers here. Shows the command and
 * each file, downloads the bundle as a zip, or saves it into a folder under the server root.
 */
export function ClusterExport(props: {
  source: DataSource;
  base: string;
  dataset: string;
  config: TrainingConfig;
}): JSX.Element {
  const { source, base, dataset, config } = props;
  const [answers, setAnswers] = React.useState<Answers>(DEFAULT_ANSWERS);
  const [bundle, setBundle] = React.useState<TrainingExport | null>(null);
  const [saved, setSaved] = React.useState('');
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState('');

  const set = (key: keyof Answers) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setAnswers(prev => ({ ...prev, [key]: e.target.value }));

  const run = async (what: 'show' | 'save'): Promise<void> => {
    setBusy(what);
    setError(null);
    try {
      const out = await source.exportTraining(base, dataset, config, {
        ...clusterOf(answers),
        out_dir: what === 'save' ? answers.out_dir.trim() || null : null,
        include_zip: what === 'show'
      });
      setBundle(out);
      setSaved(what === 'save' ? (out.path ?? '') : '');
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const field = (key: keyof Answers, label: string, testId: string, type = 'text'): JSX.Element => (
    <label>
      {label}
      <input type={type} data-testid={testId} value={answers[key]} onChange={set(key)} />
    </label>
  );

  return (
    <div className="jp-ModelStudio-clusterExport" data-testid="cluster-export">
      <ErrorBanner error={error} onDismiss={() => setError(null)} testId="cluster-export-error" />
      {field('nnodes', 'Nodes', 'export-nnodes', 'number')}
      {field('node_rank', 'This node’s rank', 'export-node-rank', 'number')}
      {field('master_addr', 'Master address', 'export-master-addr')}
      {field('master_port', 'Master port', 'export-master-port', 'number')}
      {field('partition', 'SLURM partition', 'export-partition')}
      {field('time_limit', 'SLURM time limit', 'export-time-limit')}
      <div className="jp-ModelStudio-row">
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="export-show"
          disabled={!base || !dataset || busy !== ''}
          onClick={() => void run('show')}
        >
          {busy === 'show' ? 'Exporting…' : 'Show command'}
        </button>
        {bundle?.zip_base64 && (
          <button
            type="button"
            className="jp-ModelStudio-button"
            data-testid="export-download"
            onClick={() =>
              download(
                Uint8Array.from(atob(bundle.zip_base64!), c => c.charCodeAt(0)),
                bundle.zip_name ?? 'bundle.zip',
                'application/zip'
              )
            }
          >
            Download zip
          </button>
        )}
      </div>
      <div className="jp-ModelStudio-row">
        {field('out_dir', 'Save into folder', 'export-out-dir')}
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="export-save"
          disabled={!base || !dataset || !answers.out_dir.trim() || busy !== ''}
          onClick={() => void run('save')}
        >
          {busy === 'save' ? 'Saving…' : 'Save bundle'}
        </button>
      </div>
      {saved && (
        <div className="jp-ModelStudio-muted" data-testid="export-saved">
          Saved to {saved} (and {bundle?.zip})
        </div>
      )}
      {bundle && (
        <>
          <pre className="jp-ModelStudio-code" data-testid="export-command">
            {bundle.command}
          </pre>
          <div className="jp-ModelStudio-muted">
            {bundle.num_processes} process(es) per node on {bundle.devices.join(', ')} (
            {bundle.backend}); on one machine: <code>{bundle.launch}</code>; on SLURM:{' '}
            <code>{bundle.slurm}</code>
          </div>
          {Object.entries(bundle.files ?? {})
            .filter(([name]) => name !== 'data.jsonl')
            .map(([name, text]) => (
              <details key={name} data-testid={`export-file-${name}`}>
                <summary>{name}</summary>
                <pre className="jp-ModelStudio-code">{text}</pre>
              </details>
            ))}
        </>
      )}
    </div>
  );
}
