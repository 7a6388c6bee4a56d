// The video form as typed, and the pure conversions between it, models, jobs and requests.
import { formatDuration, oneOf } from '../format';
import type {
  Job,
  VideoModel,
  VideoOffload,
  VideoPlanRequest,
  VideoRequest
} from '../../api/types';

export const ACTIVE = new Set(['queued', 'running']);
export const DOWNLOAD_ACTIVE = new Set(['queued', 'running', 'paused']);
/** Plan errors that mean the generation cannot run as set up (Generate is disabled). */
export const BLOCKING = new Set(['ValidationError', 'ResourceError', 'NotFoundError']);

export const OFFLOAD_HELP: Record<VideoOffload, string> = {
  auto: 'Pick the fastest way that fits in memory',
  none: 'Everything on the GPU: fastest, needs the most GPU memory',
  model: 'Model CPU offload: each component moves to the GPU while it runs',
  sequential: 'Sequential CPU offload: layer by layer, least GPU memory, slowest on a GPU',
  cpu: 'Run on the CPU: no GPU needed, slow'
};
export const OFFLOADS = Object.keys(OFFLOAD_HELP) as VideoOffload[];

/** A device's line in the form's Device menu: its name and free memory. */
export function deviceLabel(d: {
  device: string;
  name?: string;
  free?: number | null;
  picks?: string | null;
}): string {
  if (d.device === 'auto') {
    return d.picks ? `auto (now ${d.picks})` : 'auto';
  }
  const free = typeof d.free === 'number' ? ` — ${(d.free / 1e9).toFixed(1)} GB free` : '';
  return `${d.device}${d.name && d.name !== d.device ? ` (${d.name})` : ''}${free}`;
}

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
  /** auto, cuda:N or cpu (`video.devices`). */
  device: string;
}

export const EMPTY_FORM: VideoForm = {
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
  offload: 'auto',
  device: 'auto'
};

export function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

export function str(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

export function parseNum(value: string): number | null {
  return value.trim() === '' || !isFinite(Number(value)) ? null : Number(value);
}

export function parseInt_(value: string): number | null {
  const n = parseNum(value);
  return n === null ? null : Math.round(n);
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
    offload: str(p.offload) || 'auto',
    device: str(p.device) || 'auto'
  };
}

export function planRequest(
  form: VideoForm,
  hasImage: boolean,
  hasLastImage = false
): VideoPlanRequest {
  return {
    model: form.model,
    width: parseInt_(form.width),
    height: parseInt_(form.height),
    num_frames: parseInt_(form.num_frames),
    steps: parseInt_(form.steps),
    guidance: parseNum(form.guidance),
    fps: parseInt_(form.fps),
    offload: oneOf(form.offload, OFFLOADS) ?? 'auto',
    device: form.device || 'auto',
    has_image: hasImage,
    has_last_image: hasImage && hasLastImage
  };
}

export function generateRequest(
  form: VideoForm,
  model: VideoModel | undefined,
  image: string | null,
  lastImage: string | null = null
): VideoRequest {
  const lora = model?.lora ? form.lora.trim() : '';
  const first = model?.image_to_video && image ? image : null;
  return {
    model: form.model,
    prompt: form.prompt,
    negative_prompt: form.negative_prompt.trim() || null,
    image_base64: first,
    last_image_base64: first && model?.last_image && lastImage ? lastImage : null,
    width: parseInt_(form.width),
    height: parseInt_(form.height),
    num_frames: parseInt_(form.num_frames),
    fps: parseInt_(form.fps),
    steps: parseInt_(form.steps),
    guidance: parseNum(form.guidance),
    seed: parseInt_(form.seed),
    lora: lora || null,
    lora_scale: lora ? parseNum(form.lora_scale) : null,
    offload: oneOf(form.offload, OFFLOADS) ?? 'auto',
    device: form.device || 'auto'
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

export function randomSeed(): string {
  return String(Math.floor(Math.random() * 2 ** 32));
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '—';
  }
  return value < 60 ? `${value.toFixed(1)} s` : formatDuration(value);
}

export function downloadModelOf(job: Job): string {
  const p = (job.params ?? {}) as Record<string, unknown>;
  return str(p.model ?? p.repo_id);
}
