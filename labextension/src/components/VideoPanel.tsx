import * as React from 'react';

import { StudioApiError, type DataSource } from '../api/source';
import type {
  Job,
  VideoMediaKind,
  VideoModel,
  VideoOffload,
  VideoPlan,
  VideoPlanRequest,
  VideoRequest,
  VideoResult
} from '../api/types';
import { ErrorBanner } from './ErrorBanner';
import { formatBytes, formatDuration } from './format';
import { useDebounced } from './hooks';
import { ProgressBar, usageTone } from './ProgressBar';
import { useDownloadJobs, useLiveJobs } from './useJobs';

export interface VideoPanelProps {
  source: DataSource;
  /** The generation shown at start (the widget's `job_id` trait); empty = the newest. */
  initialJobId?: string;
  /** Hear the shown generation change (the widget syncs it back to Python). */
  onJobChange?: (jobId: string) => void;
  /** Subscribe to outside changes of the shown generation (the widget's `job_id` trait). */
  watchJobId?: (listener: (jobId: string) => void) => () => void;
  /** The model chosen at start (the widget's `model` trait). */
  initialModel?: string;
  /** Hear the chosen model change (the widget syncs it back to Python). */
  onModelChange?: (model: string) => void;
  /** Subscribe to outside changes of the chosen model (the widget's `model` trait). */
  watchModel?: (listener: (model: string) => void) => () => void;
}

const ACTIVE = new Set(['queued', 'running']);
const DOWNLOAD_ACTIVE = new Set(['queued', 'running', 'paused']);
/** Plan errors that mean the generation cannot run as set up (Generate is disabled). */
const BLOCKING = new Set(['ValidationError', 'ResourceError', 'NotFoundError']);

export const OFFLOAD_HELP: Record<VideoOffload, string> = {
  auto: 'Pick the fastest way that fits in memory',
  none: 'Everything on the GPU: fastest, needs the most GPU memory',
  model: 'Model CPU offload: each component moves to the GPU while it runs',
  sequential: 'Sequential CPU offload: layer by layer, least GPU memory, slowest on a GPU',
  cpu: 'Run on the CPU: no GPU needed, slow'
};
const OFFLOADS = Object.keys(OFFLOAD_HELP) as VideoOffload[];

/** The form, as typed (numbers stay strings until sent; empty = the model's default). */
export interface VideoForm {
  model: string;
  prompt: string;
  negative_prompt: string;
  width: string;
  height: string;
  num_frames: string;
  fps: string;
  steps: string;
  guidance: string;
  seed: string;
  lora: string;
  lora_scale: string;
  offload: string;
}

const EMPTY_FORM: VideoForm = {
  model: '',
  prompt: '',
  negative_prompt: '',
  width: '',
  height: '',
  num_frames: '',
  fps: '',
  steps: '',
  guidance: '',
  seed: '',
  lora: '',
  lora_scale: '1.0',
  offload: 'auto'
};

function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

function str(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function parseNum(value: string): number | null {
  return value.trim() === '' || !isFinite(Number(value)) ? null : Number(value);
}

function parseInt_(value: string): number | null {
  const n = parseNum(value);
  return n === null ? null : Math.round(n);
}

/** A labelled number input of the form: its value, change handler and invalid state come from
 * the form (`badField` is the field the last plan error named). */
function NumberField(props: {
  label: string;
  name: keyof VideoForm;
  testId: string;
  form: VideoForm;
  set: (name: keyof VideoForm) => (e: React.ChangeEvent<HTMLInputElement>) => void;
  badField: string | null;
  step?: number | string;
  min?: number;
  max?: number;
  invalid?: boolean;
  children?: React.ReactNode;
}): JSX.Element {
  return (
    <label>
      {props.label}
      <input
        type="number"
        name={props.name}
        data-testid={props.testId}
        step={props.step}
        min={props.min}
        max={props.max}
        aria-invalid={props.badField === props.name || props.invalid || undefined}
        value={props.form[props.name]}
        onChange={props.set(props.name)}
      />
      {props.children}
    </label>
  );
}

/** Local models first, then by name. */
export function sortModels(models: VideoModel[]): VideoModel[] {
  return [...models].sort(
    (a, b) => Number(b.local) - Number(a.local) || (a.name || a.id).localeCompare(b.name || b.id)
  );
}

/** The form fields a model's defaults fill. */
export function modelDefaults(model: VideoModel): Partial<VideoForm> {
  const d = model.defaults ?? ({} as VideoModel['defaults']);
  const out: Partial<VideoForm> = {
    model: model.id,
    width: str(d.width),
    height: str(d.height),
    num_frames: str(d.num_frames),
    fps: str(d.fps),
    steps: str(d.steps),
    guidance: str(d.guidance)
  };
  if (!model.lora) {
    out.lora = '';
  }
  return out;
}

/** The form a generation was made with ("Reuse settings"). */
export function formFromJob(job: Job): VideoForm {
  const p = (job.params ?? {}) as Record<string, unknown>;
  const r = (job.result ?? {}) as Record<string, unknown>;
  return {
    model: str(p.model),
    prompt: str(p.prompt),
    negative_prompt: str(p.negative_prompt),
    width: str(p.width),
    height: str(p.height),
    num_frames: str(p.num_frames),
    fps: str(p.fps),
    steps: str(p.steps),
    guidance: str(p.guidance),
    seed: str(p.seed ?? r.seed),
    lora: str(p.lora),
    lora_scale: p.lora_scale === null || p.lora_scale === undefined ? '1.0' : str(p.lora_scale),
    offload: str(p.offload) || 'auto'
  };
}

function planRequest(form: VideoForm, hasImage: boolean): VideoPlanRequest {
  return {
    model: form.model,
    width: parseInt_(form.width),
    height: parseInt_(form.height),
    num_frames: parseInt_(form.num_frames),
    steps: parseInt_(form.steps),
    guidance: parseNum(form.guidance),
    fps: parseInt_(form.fps),
    offload: form.offload || 'auto',
    has_image: hasImage
  };
}

function generateRequest(
  form: VideoForm,
  model: VideoModel | undefined,
  image: string | null
): VideoRequest {
  const lora = model?.lora ? form.lora.trim() : '';
  return {
    model: form.model,
    prompt: form.prompt,
    negative_prompt: form.negative_prompt.trim() || null,
    image_base64: model?.image_to_video && image ? image : null,
    width: parseInt_(form.width),
    height: parseInt_(form.height),
    num_frames: parseInt_(form.num_frames),
    fps: parseInt_(form.fps),
    steps: parseInt_(form.steps),
    guidance: parseNum(form.guidance),
    seed: parseInt_(form.seed),
    lora: lora || null,
    lora_scale: lora ? parseNum(form.lora_scale) : null,
    offload: form.offload || 'auto'
  };
}

/** Whether `frames` is a count the model accepts (`offset + k * step`, within the bounds). */
export function framesValid(frames: number | null, model: VideoModel | undefined): boolean {
  const r = model?.rules;
  if (frames === null || !r) {
    return true;
  }
  const step = r.frame_step || 1;
  const offset = r.frame_offset ?? 0;
  return (
    (((frames - offset) % step) + step) % step === 0 &&
    frames >= (r.min_frames ?? 1) &&
    (r.max_frames === null || r.max_frames === undefined || frames <= r.max_frames)
  );
}

function randomSeed(): string {
  return String(Math.floor(Math.random() * 2 ** 32));
}

function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '—';
  }
  return value < 60 ? `${value.toFixed(1)} s` : formatDuration(value);
}

function downloadModelOf(job: Job): string {
  const p = (job.params ?? {}) as Record<string, unknown>;
  return str(p.model ?? p.repo_id);
}

/** A URL for a generation's video or thumbnail, once it is completed. */
function useMediaUrl(
  source: DataSource,
  job: Job | undefined,
  what: VideoMediaKind
): { url: string | null; error: Error | null } {
  const [url, setUrl] = React.useState<string | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const id = job?.id;
  const ready = job?.state === 'completed';
  React.useEffect(() => {
    setUrl(null);
    setError(null);
    if (!id || !ready) {
      return;
    }
    let live = true;
    source.videoUrl(id, what).then(
      u => live && setUrl(u),
      err => live && setError(err as Error)
    );
    return () => {
      live = false;
    };
  }, [source, id, ready, what]);
  return { url, error };
}

/** Text-to-video and image-to-video: form, memory plan, queue, player and gallery. */
export function VideoPanel(props: VideoPanelProps): JSX.Element {
  const { source } = props;
  const [models, setModels] = React.useState<VideoModel[]>([]);
  const [modelsError, setModelsError] = React.useState<Error | null>(null);
  const [form, setForm] = React.useState<VideoForm>(() => ({
    ...EMPTY_FORM,
    model: props.initialModel ?? ''
  }));
  const [image, setImage] = React.useState<{ name: string; data: string } | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState('');
  const [selected, setSelected] = React.useState(props.initialJobId ?? '');
  const [deleted, setDeleted] = React.useState<Set<string>>(() => new Set());
  const onJobChange = React.useRef(props.onJobChange);
  onJobChange.current = props.onJobChange;

  const model = models.find(m => m.id === form.model);
  const onModelChange = React.useRef(props.onModelChange);
  onModelChange.current = props.onModelChange;
  const lastModel = React.useRef(form.model);
  React.useEffect(() => {
    if (form.model && form.model !== lastModel.current) {
      lastModel.current = form.model;
      onModelChange.current?.(form.model);
    }
  }, [form.model]);

  // Models -----------------------------------------------------------------------------------

  const loadModels = React.useCallback(async () => {
    try {
      const list = sortModels(await source.videoModels());
      setModels(list);
      setModelsError(null);
      setForm(prev => {
        const known = list.find(m => m.id === prev.model);
        if (known) {
          // A preselected model gets its defaults once (fields still empty).
          return prev.width === '' ? { ...prev, ...modelDefaults(known) } : prev;
        }
        const first = list.find(m => m.local) ?? list[0];
        return first ? { ...prev, ...modelDefaults(first) } : prev;
      });
    } catch (err) {
      setModelsError(err as Error);
    }
  }, [source]);

  React.useEffect(() => {
    void loadModels();
  }, [loadModels]);

  const chooseModel = React.useCallback(
    (id: string) => {
      const m = models.find(x => x.id === id);
      setForm(prev => (m ? { ...prev, ...modelDefaults(m) } : { ...prev, model: id }));
    },
    [models]
  );

  React.useEffect(() => {
    if (!props.watchModel) {
      return;
    }
    return props.watchModel(id => {
      if (id) {
        lastModel.current = id;
        chooseModel(id);
      }
    });
  }, [props.watchModel, chooseModel]);

  const {
    jobs: downloads,
    upsert: upsertDownload,
    reload: reloadDownloads
  } = useDownloadJobs(source, (job, previous) => {
    if (job.state === 'completed' && previous?.state !== 'completed') {
      void loadModels();
    }
  });
  const download = model
    ? downloads.find(j => downloadModelOf(j) === model.id && DOWNLOAD_ACTIVE.has(j.state))
    : undefined;

  // Notebook widgets hear only video jobs: poll a download while it runs.
  const downloading = download?.id;
  React.useEffect(() => {
    if (!downloading) {
      return;
    }
    const timer = window.setInterval(reloadDownloads, 2000);
    return () => window.clearInterval(timer);
  }, [downloading, reloadDownloads]);

  const startDownload = async (): Promise<void> => {
    if (!model) {
      return;
    }
    setBusy('download');
    setError(null);
    try {
      upsertDownload(await source.startDownload({ model: model.id }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  // Generations ------------------------------------------------------------------------------

  const {
    jobs: allJobs,
    error: jobsError,
    reload,
    upsert
  } = useLiveJobs(source, 'video', () => source.videoGenerations(null, 100));
  const jobs = React.useMemo(() => allJobs.filter(j => !deleted.has(j.id)), [allJobs, deleted]);
  const active = jobs.filter(j => ACTIVE.has(j.state));
  const finished = jobs.filter(j => !ACTIVE.has(j.state));
  // Events drive the queue; a slow poll while something runs covers a lost event stream.
  const running = active.length > 0;
  React.useEffect(() => {
    if (!running) {
      return;
    }
    const timer = window.setInterval(reload, 3000);
    return () => window.clearInterval(timer);
  }, [running, reload]);

  const select = React.useCallback((id: string, sync = true) => {
    setSelected(id);
    if (sync) {
      onJobChange.current?.(id);
    }
  }, []);

  React.useEffect(() => {
    if (!props.watchJobId) {
      return;
    }
    return props.watchJobId(id => select(id, false));
  }, [props.watchJobId, select]);

  const current = selected
    ? jobs.find(j => j.id === selected)
    : jobs.find(j => j.state === 'completed');
  // A generation chosen by id before the list knows it (just started elsewhere): reload.
  React.useEffect(() => {
    if (selected && !current && !deleted.has(selected)) {
      const timer = window.setTimeout(reload, 500);
      return () => window.clearTimeout(timer);
    }
  }, [selected, current, deleted, reload, jobs.length]);

  // Plan -------------------------------------------------------------------------------------

  const hasImage = !!image && !!model?.image_to_video;
  const planKey = form.model ? JSON.stringify(planRequest(form, hasImage)) : '';
  const settledKey = useDebounced(planKey, 300);
  const [plan, setPlan] = React.useState<VideoPlan | null>(null);
  const [planError, setPlanError] = React.useState<StudioApiError | null>(null);
  const [planning, setPlanning] = React.useState(false);
  React.useEffect(() => {
    if (!settledKey) {
      setPlan(null);
      setPlanError(null);
      return;
    }
    let live = true;
    setPlanning(true);
    source.videoPlan(JSON.parse(settledKey) as VideoPlanRequest).then(
      p => {
        if (live) {
          setPlan(p);
          setPlanError(null);
          setPlanning(false);
        }
      },
      err => {
        if (live) {
          setPlan(null);
          setPlanError(StudioApiError.from(err));
          setPlanning(false);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [source, settledKey]);
  const planBlocks = !!planError && BLOCKING.has(planError.type);
  const badField = str(planError?.details?.field ?? planError?.details?.param);

  // Form -------------------------------------------------------------------------------------

  const set =
    (key: keyof VideoForm) =>
    (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => {
      const value = e.target.value;
      setForm(prev => ({ ...prev, [key]: value }));
    };

  const pickImage = (e: React.ChangeEvent<HTMLInputElement>): void => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) {
      return;
    }
    const reader = new FileReader();
    reader.onload = () => setImage({ name: file.name, data: String(reader.result ?? '') });
    reader.onerror = () => setError(new Error(`Cannot read ${file.name}`));
    reader.readAsDataURL(file);
  };

  const reuse = async (job: Job): Promise<void> => {
    setForm(formFromJob(job));
    setImage(null);
    const p = (job.params ?? {}) as Record<string, unknown>;
    if (p.image) {
      try {
        const media = await source.videoMedia(job.id, 'image');
        setImage({ name: 'input image', data: `data:${media.mime};base64,${media.base64}` });
      } catch {
        // the input image is gone: the settings are reused without it
      }
    }
  };

  const generate = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy('generate');
    setError(null);
    try {
      const job = await source.generateVideo(generateRequest(form, model, image?.data ?? null));
      upsert(job);
      select(job.id);
      reload();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy('');
    }
  };

  const cancel = async (job: Job): Promise<void> => {
    setError(null);
    try {
      upsert(await source.cancelVideo(job.id));
    } catch (err) {
      setError(err as Error);
    }
  };

  const retry = async (job: Job): Promise<void> => {
    setError(null);
    try {
      const again = await source.resumeVideo(job.id);
      upsert(again);
      select(again.id);
    } catch (err) {
      setError(err as Error);
    }
  };

  const remove = async (job: Job): Promise<void> => {
    setError(null);
    try {
      await source.deleteVideo(job.id);
      setDeleted(prev => new Set(prev).add(job.id));
      if (selected === job.id) {
        select('');
      }
    } catch (err) {
      setError(err as Error);
    }
  };

  const rules = model?.rules;
  const frames = parseInt_(form.num_frames);
  const presetValue =
    model?.presets?.find(p => String(p.width) === form.width && String(p.height) === form.height)
      ?.label ?? '';
  const canGenerate =
    !!model && model.local && form.prompt.trim() !== '' && !planBlocks && busy === '';
  const generateTitle = !model
    ? 'Choose a model'
    : !model.local
      ? 'Download the model first'
      : !form.prompt.trim()
        ? 'Write a prompt'
        : planBlocks
          ? planError?.message
          : undefined;

  return (
    <div
      className="jp-ModelStudio-panel jms-video-panel"
      data-testid="video-panel"
      data-selected={current?.id ?? ''}
    >
      <ErrorBanner
        error={error ?? modelsError ?? jobsError}
        onDismiss={() => setError(null)}
        testId="video-error"
      />
      <form className="jms-video-form" data-testid="video-form" onSubmit={e => void generate(e)}>
        <label className="jms-video-wide">
          Model
          <span className="jms-video-modelRow">
            <select
              name="model"
              className="jp-ModelStudio-select"
              data-testid="video-model"
              value={form.model}
              onChange={e => chooseModel(e.target.value)}
            >
              {models.length === 0 && <option value="">(no video models)</option>}
              {form.model && !model && <option value={form.model}>{form.model}</option>}
              {models.map(m => (
                <option key={m.id} value={m.id}>
                  {m.id}
                  {m.local ? '' : ` (download${m.size ? `, ${formatBytes(m.size)}` : ''})`}
                </option>
              ))}
            </select>
            <button
              type="button"
              className="jp-ModelStudio-iconButton"
              title="Refresh models"
              aria-label="Refresh models"
              data-testid="video-models-refresh"
              onClick={() => void loadModels()}
            >
              ⟳
            </button>
          </span>
        </label>
        {model && (
          <div className="jms-video-wide jms-video-modelInfo" data-testid="video-model-info">
            <span className="jp-ModelStudio-muted">
              {[
                model.family,
                model.pipeline,
                model.text_to_video ? 'text-to-video' : '',
                model.image_to_video ? 'image-to-video' : ''
              ]
                .filter(Boolean)
                .join(' · ')}
            </span>
            {!model.local && (
              <span className="jms-video-download" data-testid="video-download">
                <span>Not downloaded · {formatBytes(model.size)}</span>
                {download ? (
                  <span className="jms-video-downloadProgress">
                    <ProgressBar
                      fraction={download.progress?.fraction}
                      label={`Download of ${model.id}`}
                      testId="video-download-progress"
                    />
                    <span className="jp-ModelStudio-muted">
                      {download.state} · {formatBytes(download.progress?.done)} /{' '}
                      {formatBytes(download.progress?.total)}
                    </span>
                  </span>
                ) : (
                  <button
                    type="button"
                    className="jp-ModelStudio-button"
                    data-testid="video-download-button"
                    disabled={busy === 'download'}
                    onClick={() => void startDownload()}
                  >
                    Download
                  </button>
                )}
              </span>
            )}
          </div>
        )}
        <label className="jms-video-wide">
          Prompt
          <textarea
            name="prompt"
            className="jp-ModelStudio-textarea"
            data-testid="video-prompt"
            rows={3}
            placeholder="A red fox running through fresh snow, cinematic"
            value={form.prompt}
            onChange={set('prompt')}
          />
        </label>
        <label className="jms-video-wide">
          Negative prompt
          <input
            type="text"
            name="negative_prompt"
            data-testid="video-negative"
            placeholder="blurry, low quality"
            value={form.negative_prompt}
            onChange={set('negative_prompt')}
          />
        </label>
        {model?.image_to_video && (
          <div className="jms-video-wide jms-video-image" data-testid="video-image">
            <label>
              Start image (optional)
              <input
                type="file"
                name="image"
                accept="image/png,image/jpeg,image/webp"
                data-testid="video-image-input"
                onChange={pickImage}
              />
            </label>
            {image && (
              <span className="jms-video-imagePreview">
                <img src={image.data} alt={image.name} data-testid="video-image-preview" />
                <button
                  type="button"
                  className="jp-ModelStudio-button"
                  data-testid="video-image-remove"
                  onClick={() => setImage(null)}
                >
                  Remove image
                </button>
              </span>
            )}
          </div>
        )}
        {model && (model.presets?.length ?? 0) > 0 && (
          <label>
            Size preset
            <select
              name="preset"
              className="jp-ModelStudio-select"
              data-testid="video-preset"
              value={presetValue}
              onChange={e => {
                const p = model.presets.find(x => x.label === e.target.value);
                if (p) {
                  setForm(prev => ({ ...prev, width: String(p.width), height: String(p.height) }));
                }
              }}
            >
              <option value="">Custom</option>
              {model.presets.map(p => (
                <option key={p.label} value={p.label}>
                  {p.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <NumberField
          label="Width"
          name="width"
          testId="video-width"
          step={rules?.size_multiple ?? 1}
          min={rules?.min_size ?? 1}
          max={rules?.max_size ?? undefined}
          badField={badField}
          form={form}
          set={set}
        />
        <NumberField
          label="Height"
          name="height"
          testId="video-height"
          step={rules?.size_multiple ?? 1}
          min={rules?.min_size ?? 1}
          max={rules?.max_size ?? undefined}
          badField={badField}
          form={form}
          set={set}
        />
        <NumberField
          label="Frames"
          name="num_frames"
          testId="video-frames"
          step={rules?.frame_step ?? 1}
          min={rules?.min_frames ?? 1}
          max={rules?.max_frames ?? undefined}
          invalid={!framesValid(frames, model)}
          badField={badField}
          form={form}
          set={set}
        >
          {rules && (
            <span
              className={`jms-video-hint${framesValid(frames, model) ? '' : ' jms-video-hintBad'}`}
              data-testid="video-frames-hint"
            >
              {rules.frame_step > 1 ? `${rules.frame_step}k+${rules.frame_offset ?? 0}` : 'any'}
              {frames !== null && model?.defaults?.fps
                ? ` · ${(frames / (parseNum(form.fps) || model.defaults.fps)).toFixed(1)} s`
                : ''}
            </span>
          )}
        </NumberField>
        <NumberField
          label="FPS"
          name="fps"
          testId="video-fps"
          min={rules?.fps?.[0] ?? 1}
          max={rules?.fps?.[1] ?? undefined}
          badField={badField}
          form={form}
          set={set}
        />
        <NumberField
          label="Steps"
          name="steps"
          testId="video-steps"
          min={rules?.steps?.[0] ?? 1}
          max={rules?.steps?.[1] ?? undefined}
          badField={badField}
          form={form}
          set={set}
        />
        <NumberField
          label="Guidance"
          name="guidance"
          testId="video-guidance"
          step="any"
          min={rules?.guidance?.[0] ?? 0}
          max={rules?.guidance?.[1] ?? undefined}
          badField={badField}
          form={form}
          set={set}
        />
        <label>
          Seed
          <span className="jms-video-seed">
            <input
              type="number"
              name="seed"
              data-testid="video-seed"
              min={0}
              placeholder="random"
              value={form.seed}
              onChange={set('seed')}
            />
            <button
              type="button"
              className="jp-ModelStudio-button"
              title="Randomise the seed"
              aria-label="Randomise the seed"
              data-testid="video-seed-random"
              onClick={() => setForm(prev => ({ ...prev, seed: randomSeed() }))}
            >
              Random
            </button>
          </span>
        </label>
        <label title={OFFLOAD_HELP[form.offload as VideoOffload] ?? ''}>
          Offload
          <select
            name="offload"
            className="jp-ModelStudio-select"
            data-testid="video-offload"
            value={form.offload}
            onChange={set('offload')}
          >
            {OFFLOADS.map(o => (
              <option key={o} value={o} title={OFFLOAD_HELP[o]}>
                {o}
              </option>
            ))}
          </select>
          <span className="jms-video-hint" data-testid="video-offload-help">
            {OFFLOAD_HELP[form.offload as VideoOffload] ?? ''}
          </span>
        </label>
        {model?.lora && (
          <>
            <label className="jms-video-lora">
              LoRA weights (path of a .safetensors file or folder, optional)
              <input
                type="text"
                name="lora"
                data-testid="video-lora"
                placeholder="/path/to/lora.safetensors"
                value={form.lora}
                onChange={set('lora')}
              />
            </label>
            <label>
              LoRA strength
              <input
                type="number"
                name="lora_scale"
                data-testid="video-lora-scale"
                step="0.05"
                min={0}
                value={form.lora_scale}
                onChange={set('lora_scale')}
              />
            </label>
          </>
        )}
        <PlanView
          plan={plan}
          error={planError}
          planning={planning || planKey !== settledKey}
          hasModel={!!form.model}
        />
        <div className="jms-video-wide jms-video-actions">
          <button
            type="submit"
            className="jp-ModelStudio-button jp-mod-accept"
            data-testid="video-generate"
            disabled={!canGenerate}
            title={generateTitle}
          >
            {busy === 'generate' ? 'Queueing…' : 'Generate'}
          </button>
        </div>
      </form>
      {active.length > 0 && (
        <div className="jms-video-queue" data-testid="video-queue">
          {active.map(job => (
            <QueueRow key={job.id} job={job} onCancel={() => void cancel(job)} />
          ))}
        </div>
      )}
      {current && <Player source={source} job={current} />}
      <div className="jms-video-gallery" data-testid="video-gallery">
        {finished.map(job => (
          <GalleryItem
            key={job.id}
            source={source}
            job={job}
            selected={job.id === current?.id}
            onPlay={() => select(job.id)}
            onReuse={() => void reuse(job)}
            onRetry={() => void retry(job)}
            onDelete={() => void remove(job)}
          />
        ))}
        {jobs.length === 0 && (
          <div className="jp-ModelStudio-empty" data-testid="video-empty">
            No videos yet. Write a prompt and press “Generate”.
          </div>
        )}
      </div>
    </div>
  );
}

/** The memory estimate: device, strategy, peak vs free, dtype and the planner's reasoning. */
function PlanView(props: {
  plan: VideoPlan | null;
  error: StudioApiError | null;
  planning: boolean;
  hasModel: boolean;
}): JSX.Element {
  const { plan, error } = props;
  if (error) {
    return (
      <div className="jms-video-wide jms-video-plan" data-testid="video-plan" data-fits="false">
        <ErrorBanner error={error} testId="video-plan-error" />
      </div>
    );
  }
  if (!plan) {
    return (
      <div className="jms-video-wide jms-video-plan jp-ModelStudio-muted" data-testid="video-plan">
        {props.hasModel ? 'Estimating memory…' : 'Choose a model'}
      </div>
    );
  }
  const s = plan.strategy ?? ({} as VideoPlan['strategy']);
  const free = num(plan.free_bytes);
  const peak = num(s.peak_bytes);
  const fraction = free && peak !== null ? peak / free : null;
  const extras = [s.vae_tiling ? 'VAE tiling' : '', s.vae_slicing ? 'VAE slicing' : ''].filter(
    Boolean
  );
  return (
    <div
      className={`jms-video-wide jms-video-plan${props.planning ? ' jms-video-stale' : ''}`}
      data-testid="video-plan"
      data-fits={String(plan.fits)}
      data-strategy={s.name ?? ''}
    >
      <div className="jp-ModelStudio-meta">
        <span title={plan.device}>
          <b>{plan.device_name || plan.device}</b>
        </span>
        <span data-testid="video-plan-strategy">
          strategy <b>{s.name}</b>
          {s.offload && s.offload !== s.name ? ` (offload ${s.offload})` : ''}
          {extras.length ? ` + ${extras.join(', ')}` : ''}
        </span>
        <span>{plan.dtype}</span>
        <span className={plan.fits ? '' : 'jms-video-bad'}>
          {plan.fits ? 'fits' : 'does not fit'}
        </span>
      </div>
      <div className="jms-video-planBar">
        <ProgressBar
          fraction={fraction === null ? 0 : Math.min(1, fraction)}
          label="Peak memory of the free memory"
          testId="video-plan-bar"
          tone={plan.fits ? usageTone(fraction) : 'bad'}
        />
        <span className="jp-ModelStudio-muted" data-testid="video-plan-peak">
          peak {formatBytes(peak)} of {formatBytes(free)} free
        </span>
      </div>
      {s.reason && <div className="jp-ModelStudio-muted">{s.reason}</div>}
      {(plan.reasoning?.length ?? 0) > 0 && (
        <ul className="jms-video-reasoning" data-testid="video-plan-reasoning">
          {plan.reasoning.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function QueueRow(props: { job: Job; onCancel: () => void }): JSX.Element {
  const { job } = props;
  const p = job.progress ?? ({} as Job['progress']);
  const params = (job.params ?? {}) as Record<string, unknown>;
  const fraction = p.total
    ? (p.done ?? 0) / p.total
    : (p.fraction ?? (job.state === 'queued' ? 0 : null));
  return (
    <div
      className="jms-video-job"
      data-testid={`video-job-${job.id}`}
      data-state={job.state}
      data-phase={p.message ?? ''}
    >
      <div className="jp-ModelStudio-cardHead">
        <span className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}>
          {job.state}
        </span>
        <span className="jms-video-prompt" title={str(params.prompt)}>
          {str(params.prompt) || job.title}
        </span>
        <button
          type="button"
          className="jp-ModelStudio-button jp-mod-warn"
          data-testid="video-cancel"
          onClick={props.onCancel}
        >
          Cancel
        </button>
      </div>
      <ProgressBar fraction={fraction} label={`Generation ${job.id}`} testId="video-job-progress" />
      <div className="jp-ModelStudio-meta">
        <span>
          step {p.done ?? 0} / {p.total ?? (str(params.steps) || '?')}
        </span>
        {p.message && <span data-testid="video-job-phase">{p.message}</span>}
        {p.eta !== null && p.eta !== undefined && <span>ETA {formatDuration(p.eta)}</span>}
        {p.rate ? <span>{p.rate.toFixed(2)} steps/s</span> : null}
        <span className="jp-ModelStudio-muted">{str(params.model)}</span>
      </div>
    </div>
  );
}

/** The settings line under a video: model, size, frames, steps, seed, elapsed, energy. */
function settingsLine(job: Job): string {
  const p = (job.params ?? {}) as Record<string, unknown>;
  const r = (job.result ?? {}) as Partial<VideoResult>;
  const width = num(r.width) ?? num(p.width);
  const height = num(r.height) ?? num(p.height);
  const frames = num(r.frames) ?? num(p.num_frames);
  const fps = num(r.fps) ?? num(p.fps);
  const seed = r.seed ?? p.seed;
  const parts = [
    str(p.model),
    width !== null && height !== null ? `${width}×${height}` : '',
    frames !== null ? `${frames} frames${fps ? ` @ ${fps} fps` : ''}` : '',
    p.steps !== undefined && p.steps !== null ? `${str(p.steps)} steps` : '',
    seed !== undefined && seed !== null ? `seed ${str(seed)}` : '',
    num(r.elapsed) !== null ? `${seconds(r.elapsed)}` : '',
    num(r.energy_wh) !== null ? `${(r.energy_wh as number).toFixed(2)} Wh` : ''
  ];
  return parts.filter(Boolean).join(' · ');
}

function Player(props: { source: DataSource; job: Job }): JSX.Element {
  const { job } = props;
  const { url, error } = useMediaUrl(props.source, job, 'video');
  const ref = React.useRef<HTMLVideoElement>(null);
  React.useEffect(() => {
    const el = ref.current;
    if (el && url) {
      // React sets `muted` as a property only; autoplay policies want it before playing.
      el.defaultMuted = true;
      el.muted = true;
      el.play()?.catch(() => undefined);
    }
  }, [url]);
  const params = (job.params ?? {}) as Record<string, unknown>;
  return (
    <div
      className="jms-video-player"
      data-testid="video-player"
      data-job-id={job.id}
      data-state={job.state}
    >
      {job.state === 'completed' ? (
        url ? (
          <video
            key={url}
            ref={ref}
            src={url}
            controls
            autoPlay
            loop
            muted
            playsInline
            data-testid="video-element"
          />
        ) : error ? (
          <ErrorBanner error={error} testId="video-player-error" />
        ) : (
          <div className="jp-ModelStudio-muted">Loading video…</div>
        )
      ) : ACTIVE.has(job.state) ? (
        <div className="jp-ModelStudio-muted">Generating… {job.progress?.message ?? job.state}</div>
      ) : (
        <ErrorBanner
          error={job.error ?? `Generation ${job.state}`}
          testId="video-player-job-error"
        />
      )}
      <div className="jms-video-prompt" title={str(params.prompt)}>
        {str(params.prompt)}
      </div>
      <div className="jp-ModelStudio-meta jms-video-settings" data-testid="video-settings">
        {settingsLine(job)}
      </div>
    </div>
  );
}

function GalleryItem(props: {
  source: DataSource;
  job: Job;
  selected: boolean;
  onPlay: () => void;
  onReuse: () => void;
  onRetry: () => void;
  onDelete: () => void;
}): JSX.Element {
  const { job } = props;
  const { url } = useMediaUrl(props.source, job, 'thumbnail');
  const prompt = str((job.params ?? {}).prompt);
  const excerpt = prompt.length > 80 ? `${prompt.slice(0, 77)}…` : prompt;
  const completed = job.state === 'completed';
  return (
    <div
      className={`jms-video-item${props.selected ? ' jp-mod-selected' : ''}`}
      data-testid={`video-item-${job.id}`}
      data-state={job.state}
    >
      <button
        type="button"
        className="jms-video-thumb"
        title={completed ? 'Play' : job.state}
        aria-label={completed ? `Play ${excerpt}` : job.state}
        data-testid="video-item-play"
        disabled={!completed}
        onClick={props.onPlay}
      >
        {completed && url ? (
          <img src={url} alt={excerpt} loading="lazy" />
        ) : (
          <span className={`jp-ModelStudio-state jp-ModelStudio-state-${job.state}`}>
            {job.state}
          </span>
        )}
      </button>
      <div className="jms-video-itemText">
        <span className="jms-video-prompt" title={prompt}>
          {excerpt || job.title}
        </span>
        {!completed && (
          <span className="jms-video-itemError" data-testid="video-item-error">
            {job.state}
            {job.error?.message ? `: ${job.error.message}` : ''}
          </span>
        )}
      </div>
      <div className="jms-video-itemActions">
        <button
          type="button"
          className="jp-ModelStudio-button"
          data-testid="video-reuse"
          onClick={props.onReuse}
        >
          Reuse settings
        </button>
        {['failed', 'cancelled', 'interrupted'].includes(job.state) && (
          <button
            type="button"
            className="jp-ModelStudio-button"
            data-testid="video-retry"
            title="Run it again with the same settings and seed"
            onClick={props.onRetry}
          >
            Retry
          </button>
        )}
        <button
          type="button"
          className="jp-ModelStudio-button jp-mod-warn"
          data-testid="video-delete"
          onClick={props.onDelete}
        >
          Delete
        </button>
      </div>
    </div>
  );
}
