import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { Job } from '../../api/types';
import { ErrorBanner } from '../ErrorBanner';
import { EMPTY_FORM, formFromJob, generateRequest, type VideoForm } from './form';
import { GenerationForm, type PickedImage } from './GenerationForm';
import { useGenerations, useModelDownload, useVideoModels, useVideoPlan } from './hooks';
import { Player } from './Player';
import { VideoGallery } from './VideoGallery';
import { VideoQueue } from './VideoQueue';

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

/** Text-to-video, image-to-video and first-last-frame: form, memory plan, queue, player and gallery. */
export function VideoPanel(props: VideoPanelProps): JSX.Element {
  const { source } = props;
  const [form, setForm] = React.useState<VideoForm>(() => ({
    ...EMPTY_FORM,
    model: props.initialModel ?? ''
  }));
  const [image, setImage] = React.useState<PickedImage | null>(null);
  const [lastImage, setLastImage] = React.useState<PickedImage | null>(null);
  const [error, setError] = React.useState<Error | null>(null);
  const [busy, setBusy] = React.useState('');

  const { models, modelsError, model, loadModels, chooseModel } = useVideoModels(
    source,
    form,
    setForm,
    props.onModelChange,
    props.watchModel
  );
  const { download, upsertDownload } = useModelDownload(source, model, loadModels);
  const {
    jobs,
    active,
    finished,
    error: jobsError,
    reload,
    upsert,
    selected,
    select,
    current,
    hide
  } = useGenerations(source, props.initialJobId, props.onJobChange, props.watchJobId);
  const plan = useVideoPlan(
    source,
    form,
    !!image && !!model?.image_to_video,
    !!image && !!lastImage && !!model?.last_image
  );

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

  const pickImage =
    (set: (image: PickedImage) => void) =>
    (e: React.ChangeEvent<HTMLInputElement>): void => {
      const file = e.target.files?.[0];
      e.target.value = '';
      if (!file) {
        return;
      }
      const reader = new FileReader();
      reader.onload = () => set({ name: file.name, data: String(reader.result ?? '') });
      reader.onerror = () => setError(new Error(`Cannot read ${file.name}`));
      reader.readAsDataURL(file);
    };

  const reuse = async (job: Job): Promise<void> => {
    setForm(formFromJob(job));
    setImage(null);
    setLastImage(null);
    const p = (job.params ?? {}) as Record<string, unknown>;
    const inputs: [unknown, 'image' | 'last_image', (i: PickedImage) => void, string][] = [
      [p.image, 'image', setImage, 'input image'],
      [p.last_image, 'last_image', setLastImage, 'last image']
    ];
    for (const [given, what, set, name] of inputs) {
      if (given) {
        try {
          const media = await source.videoMedia(job.id, what);
          set({ name, data: `data:${media.mime};base64,${media.base64}` });
        } catch {
          // the image is gone: the settings are reused without it
        }
      }
    }
  };

  const generate = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy('generate');
    setError(null);
    try {
      const job = await source.generateVideo(
        generateRequest(form, model, image?.data ?? null, lastImage?.data ?? null)
      );
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
      hide(job.id);
      if (selected === job.id) {
        select('');
      }
    } catch (err) {
      setError(err as Error);
    }
  };

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
      <GenerationForm
        form={form}
        setForm={setForm}
        models={models}
        model={model}
        onChooseModel={chooseModel}
        onRefreshModels={() => void loadModels()}
        download={download}
        onDownload={() => void startDownload()}
        source={source}
        loadedKey={active.length}
        image={image}
        onPickImage={pickImage(setImage)}
        onRemoveImage={() => setImage(null)}
        lastImage={lastImage}
        onPickLastImage={pickImage(setLastImage)}
        onRemoveLastImage={() => setLastImage(null)}
        plan={plan}
        busy={busy}
        onSubmit={e => void generate(e)}
      />
      <VideoQueue jobs={active} onCancel={job => void cancel(job)} />
      {current && <Player source={source} job={current} />}
      <VideoGallery
        source={source}
        jobs={jobs}
        finished={finished}
        currentId={current?.id}
        onPlay={job => select(job.id)}
        onReuse={job => void reuse(job)}
        onRetry={job => void retry(job)}
        onDelete={job => void remove(job)}
      />
    </div>
  );
}
