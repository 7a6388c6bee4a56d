import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { DatasetInfo, Job, TrainingConfig, TrainingEstimate } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { ClusterExport } from './ClusterExport';
import { formatBytes, formatDuration } from '../format';
import { useDebounced } from '../hooks';
import { num } from './runs';

interface FormState {
  base: string;
  dataset: string;
  steps: string;
  learning_rate: string;
  lora_r: string;
  lora_alpha: string;
  max_seq_length: string;
  devices: string;
  num_processes: string;
  strategy: string;
}

const DEFAULT_FORM: FormState = {
  base: '',
  dataset: '',
  steps: '20',
  learning_rate: '0.0002',
  lora_r: '8',
  lora_alpha: '16',
  max_seq_length: '512',
  devices: '',
  num_processes: '',
  strategy: 'ddp'
};

export function formConfig(form: FormState): TrainingConfig {
  const n = (v: string): number | null =>
    v.trim() === '' || !isFinite(Number(v)) ? null : Number(v);
  return {
    steps: n(form.steps),
    learning_rate: n(form.learning_rate),
    lora_r: n(form.lora_r),
    lora_alpha: n(form.lora_alpha),
    max_seq_length: n(form.max_seq_length),
    devices: form.devices.trim() || null,
    num_processes: n(form.num_processes),
    strategy: (form.strategy || 'ddp') as TrainingConfig['strategy']
  };
}

/** " · per device: cuda:0 1.2 GB, cuda:1 1.2 GB (fsdp)" when the run spans processes or devices. */
function perDevice(e: TrainingEstimate): string {
  const entries = Object.entries(e.per_device ?? {});
  if ((e.num_processes ?? 1) <= 1 && entries.length <= 1) {
    return '';
  }
  const each = entries.map(([d, b]) => `${d} ${formatBytes(b)}`).join(', ');
  return ` · ${e.num_processes} processes (${e.strategy}) · per device: ${each}`;
}

/** The "New run" form: base model, dataset (or upload), steps, LR, LoRA rank/alpha, estimate. */
export function TrainingForm(props: {
  source: DataSource;
  onStarted: (job: Job) => void;
}): JSX.Element {
  const { source } = props;
  const [form, setForm] = React.useState<FormState>(DEFAULT_FORM);
  const [models, setModels] = React.useState<string[]>([]);
  const [datasets, setDatasets] = React.useState<DatasetInfo[]>([]);
  const [estimate, setEstimate] = React.useState<TrainingEstimate | null>(null);
  const [estimateError, setEstimateError] = React.useState('');
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState('');
  const [exporting, setExporting] = React.useState(false);
  const settled = useDebounced(form, 300);

  const set =
    (key: keyof FormState) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
      setForm(prev => ({ ...prev, [key]: e.target.value }));

  const loadDatasets = React.useCallback(
    async (choose?: string) => {
      try {
        const list = await source.datasets();
        setDatasets(list);
        setForm(prev => ({
          ...prev,
          dataset: choose ?? (prev.dataset || list[0]?.name || '')
        }));
      } catch (err) {
        setError(err as Error);
      }
    },
    [source]
  );

  React.useEffect(() => {
    let live = true;
    source.chatModels().then(
      list => {
        if (!live) {
          return;
        }
        const ids = list.filter(m => m.local !== false && !m.id.startsWith('run/')).map(m => m.id);
        setModels(ids);
        setForm(prev => ({ ...prev, base: prev.base || ids[0] || '' }));
      },
      err => live && setError(err as Error)
    );
    void loadDatasets();
    return () => {
      live = false;
    };
  }, [source, loadDatasets]);

  React.useEffect(() => {
    if (!settled.base || !settled.dataset) {
      setEstimate(null);
      return;
    }
    let live = true;
    setEstimateError('');
    source.estimateTraining(settled.base, settled.dataset, formConfig(settled)).then(
      e => live && setEstimate(e),
      err => {
        if (live) {
          setEstimate(null);
          setEstimateError((err as Error).message);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [source, settled]);

  const upload = async (e: React.ChangeEvent<HTMLInputElement>): Promise<void> => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) {
      return;
    }
    setBusy('upload');
    setError(null);
    try {
      const content = await file.text();
      const name = file.name.replace(/\.[^.]+$/, '');
      const info = await source.uploadDataset(file.name, content, name);
      await loadDatasets(info?.name ?? name);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const start = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy('start');
    setError(null);
    try {
      props.onStarted(await source.startTraining(form.base, form.dataset, formConfig(form)));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const ds = datasets.find(d => d.name === form.dataset);
  return (
    <>
      <form
        className="jp-ModelStudio-trainingForm"
        data-testid="training-form"
        onSubmit={e => void start(e)}
      >
        <ErrorBanner error={error} onDismiss={() => setError(null)} testId="training-form-error" />
        <label>
          Base model
          <select
            className="jp-ModelStudio-select"
            data-testid="training-base"
            value={form.base}
            onChange={set('base')}
          >
            {models.length === 0 && <option value="">(no local chat models)</option>}
            {models.map(id => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Dataset
          <select
            className="jp-ModelStudio-select"
            data-testid="training-dataset"
            value={form.dataset}
            onChange={set('dataset')}
          >
            {datasets.length === 0 && <option value="">(upload a dataset)</option>}
            {datasets.map(d => (
              <option key={d.name} value={d.name}>
                {d.name}
                {d.rows ? ` (${d.rows} rows${d.shape ? `, ${d.shape}` : ''})` : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          Upload
          <input
            type="file"
            accept=".jsonl,.json,.csv,.parquet,.txt"
            data-testid="training-upload"
            disabled={busy === 'upload'}
            onChange={e => void upload(e)}
          />
        </label>
        <label>
          Steps
          <input
            type="number"
            min={1}
            data-testid="training-steps"
            value={form.steps}
            onChange={set('steps')}
          />
        </label>
        <label>
          Learning rate
          <input
            type="number"
            step="any"
            min={0}
            data-testid="training-lr"
            value={form.learning_rate}
            onChange={set('learning_rate')}
          />
        </label>
        <label>
          LoRA rank
          <input
            type="number"
            min={1}
            data-testid="training-rank"
            value={form.lora_r}
            onChange={set('lora_r')}
          />
        </label>
        <label>
          LoRA alpha
          <input
            type="number"
            min={1}
            data-testid="training-alpha"
            value={form.lora_alpha}
            onChange={set('lora_alpha')}
          />
        </label>
        <label>
          Max sequence length
          <input
            type="number"
            min={16}
            data-testid="training-max-seq"
            value={form.max_seq_length}
            onChange={set('max_seq_length')}
          />
        </label>
        <label>
          Devices
          <input
            type="text"
            placeholder="auto (GPU 0, else CPU)"
            title="cpu, all, a GPU index (0) or GPU indices (0,1)"
            data-testid="training-devices"
            value={form.devices}
            onChange={set('devices')}
          />
        </label>
        <label>
          Processes
          <input
            type="number"
            min={1}
            placeholder="1 per device"
            title="more than one runs under torchrun (DDP; gloo on the CPU)"
            data-testid="training-processes"
            value={form.num_processes}
            onChange={set('num_processes')}
          />
        </label>
        <label>
          Strategy
          <select
            className="jp-ModelStudio-select"
            data-testid="training-strategy"
            value={form.strategy}
            onChange={set('strategy')}
          >
            <option value="ddp">DDP (a full copy per process)</option>
            <option value="fsdp">FSDP (sharded over GPUs)</option>
            <option value="deepspeed">DeepSpeed ZeRO-3 (where installed)</option>
          </select>
        </label>
        <div
          className="jp-ModelStudio-trainingEstimate jp-ModelStudio-muted"
          data-testid="training-estimate"
        >
          {estimate
            ? `≈ ${formatBytes(num(estimate.memory_bytes))} memory · ${
                num(estimate.seconds_per_step) !== null
                  ? `${num(estimate.seconds_per_step)!.toFixed(2)} s/step · `
                  : ''
              }${formatDuration(num(estimate.seconds))} total${perDevice(estimate)}`
            : estimateError
              ? `No estimate: ${estimateError}`
              : ds
                ? 'Estimating…'
                : 'Pick a base model and a dataset'}
        </div>
        <button
          type="submit"
          className="jp-ModelStudio-button jp-mod-accept"
          data-testid="training-start"
          disabled={!form.base || !form.dataset || busy !== ''}
        >
          {busy === 'start' ? 'Starting…' : 'Start training'}
        </button>
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="training-export"
          aria-expanded={exporting}
          disabled={!form.base || !form.dataset}
          onClick={() => setExporting(v => !v)}
        >
          Export for a cluster
        </button>
      </form>
      {exporting && (
        <ClusterExport
          source={source}
          base={form.base}
          dataset={form.dataset}
          config={formConfig(form)}
        />
      )}
    </>
  );
}
