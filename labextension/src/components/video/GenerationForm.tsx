import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job, VideoModel, VideoOffload } from '../../api/types';
import {
  framesValid,
  OFFLOAD_HELP,
  OFFLOADS,
  parseInt_,
  parseNum,
  randomSeed,
  type VideoForm
} from './form';
import type { PlanState } from './hooks';
import { DeviceField } from './DeviceField';
import { ImageInputs, type PickedImage } from './ImageInputs';
import { ModelField } from './ModelField';
import { ModelReadiness } from './ModelReadiness';
import { PlanView } from './PlanView';

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

export type { PickedImage };

/** The generation form: model, its readiness, prompt, start (and last) image, size, frames, steps, seed, offload, LoRA,
 * the memory plan and Generate. The form's state lives in the panel. */
export function GenerationForm(props: {
  form: VideoForm;
  setForm: React.Dispatch<React.SetStateAction<VideoForm>>;
  models: VideoModel[];
  model: VideoModel | undefined;
  onChooseModel: (id: string) => void;
  onRefreshModels: () => void;
  download: Job | undefined;
  onDownload: () => void;
  source: DataSource;
  /** Changes when the readiness view should be asked again (generations started or ended). */
  loadedKey: number;
  image: PickedImage | null;
  onPickImage: (e: React.ChangeEvent<HTMLInputElement>) => void;
  onRemoveImage: () => void;
  lastImage: PickedImage | null;
  onPickLastImage: (e: React.ChangeEvent<HTMLInputElement>) => void;
  onRemoveLastImage: () => void;
  plan: PlanState;
  busy: string;
  onSubmit: (e: React.FormEvent) => void;
}): JSX.Element {
  const { form, setForm, models, model, image, plan, busy } = props;
  const badField = plan.badField;
  const set =
    (key: keyof VideoForm) =>
    (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => {
      const value = e.target.value;
      setForm(prev => ({ ...prev, [key]: value }));
    };

  const rules = model?.rules;
  const frames = parseInt_(form.num_frames);
  const presetValue =
    model?.presets?.find(p => String(p.width) === form.width && String(p.height) === form.height)
      ?.label ?? '';
  const canGenerate =
    !!model && model.local && form.prompt.trim() !== '' && !plan.blocks && busy === '';
  const generateTitle = !model
    ? 'Choose a model'
    : !model.local
      ? 'Download the model first'
      : !form.prompt.trim()
        ? 'Write a prompt'
        : plan.blocks
          ? plan.error?.message
          : undefined;

  return (
    <form className="jms-video-form" data-testid="video-form" onSubmit={props.onSubmit}>
      <ModelField
        value={form.model}
        models={models}
        model={model}
        download={props.download}
        downloadBusy={busy === 'download'}
        onChoose={props.onChooseModel}
        onRefresh={props.onRefreshModels}
        onDownload={props.onDownload}
      />
      <ModelReadiness
        source={props.source}
        model={model}
        refreshKey={`${props.loadedKey}:${model?.local ? 1 : 0}:${props.download?.state ?? ''}`}
      />
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
      <ImageInputs
        model={model}
        image={image}
        onPickImage={props.onPickImage}
        onRemoveImage={props.onRemoveImage}
        lastImage={props.lastImage}
        onPickLastImage={props.onPickLastImage}
        onRemoveLastImage={props.onRemoveLastImage}
      />
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
      <DeviceField
        source={props.source}
        value={form.device}
        onChange={set('device')}
        refreshKey={props.loadedKey}
      />
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
        plan={plan.plan}
        error={plan.error}
        planning={plan.planning}
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
  );
}
