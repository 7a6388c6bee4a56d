// The video panel's state, one hook per concern: models, a model's download, generations, the
// memory plan and media URLs. The panel calls them in this order (effects run in call order).
import * as React from 'react';

import { StudioApiError, type DataSource } from '../../api/source';
import type { Job, VideoMediaKind, VideoModel, VideoPlan, VideoPlanRequest } from '../../api/types';
import { useDebounced } from '../hooks';
import { useDownloadJobs, useLiveJobs } from '../useJobs';
import {
  ACTIVE,
  BLOCKING,
  DOWNLOAD_ACTIVE,
  downloadModelOf,
  modelDefaults,
  planRequest,
  sortModels,
  str,
  type VideoForm
} from './form';

/** The video models, the chosen one, and the choice kept in step with the widget's trait. */
export function useVideoModels(
  source: DataSource,
  form: VideoForm,
  setForm: React.Dispatch<React.SetStateAction<VideoForm>>,
  onModelChangeProp: ((model: string) => void) | undefined,
  watchModel: ((listener: (model: string) => void) => () => void) | undefined
): {
  models: VideoModel[];
  modelsError: Error | null;
  model: VideoModel | undefined;
  loadModels: () => Promise<void>;
  chooseModel: (id: string) => void;
} {
  const [models, setModels] = React.useState<VideoModel[]>([]);
  const [modelsError, setModelsError] = React.useState<Error | null>(null);
  const model = models.find(m => m.id === form.model);
  const onModelChange = React.useRef(onModelChangeProp);
  onModelChange.current = onModelChangeProp;
  const lastModel = React.useRef(form.model);
  React.useEffect(() => {
    if (form.model && form.model !== lastModel.current) {
      lastModel.current = form.model;
      onModelChange.current?.(form.model);
    }
  }, [form.model]);

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
  }, [source, setForm]);

  React.useEffect(() => {
    void loadModels();
  }, [loadModels]);

  const chooseModel = React.useCallback(
    (id: string) => {
      const m = models.find(x => x.id === id);
      setForm(prev => (m ? { ...prev, ...modelDefaults(m) } : { ...prev, model: id }));
    },
    [models, setForm]
  );

  React.useEffect(() => {
    if (!watchModel) {
      return;
    }
    return watchModel(id => {
      if (id) {
        lastModel.current = id;
        chooseModel(id);
      }
    });
  }, [watchModel, chooseModel]);

  return { models, modelsError, model, loadModels, chooseModel };
}

/** The running download of `model`, if any; a finished download reloads the models. */
export function useModelDownload(
  source: DataSource,
  model: VideoModel | undefined,
  loadModels: () => Promise<void>
): { download: Job | undefined; upsertDownload: (job: Job) => void } {
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

  return { download, upsertDownload };
}

/** The generations (live), the one shown, and the choice kept in step with the widget's trait. */
export function useGenerations(
  source: DataSource,
  initialJobId: string | undefined,
  onJobChangeProp: ((jobId: string) => void) | undefined,
  watchJobId: ((listener: (jobId: string) => void) => () => void) | undefined
): {
  jobs: Job[];
  active: Job[];
  finished: Job[];
  error: Error | null;
  reload: () => void;
  upsert: (job: Job) => void;
  selected: string;
  select: (id: string, sync?: boolean) => void;
  current: Job | undefined;
  hide: (id: string) => void;
} {
  const [selected, setSelected] = React.useState(initialJobId ?? '');
  const [deleted, setDeleted] = React.useState<Set<string>>(() => new Set());
  const onJobChange = React.useRef(onJobChangeProp);
  onJobChange.current = onJobChangeProp;

  const {
    jobs: allJobs,
    error,
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
    if (!watchJobId) {
      return;
    }
    return watchJobId(id => select(id, false));
  }, [watchJobId, select]);

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

  const hide = React.useCallback((id: string) => setDeleted(prev => new Set(prev).add(id)), []);

  return { jobs, active, finished, error, reload, upsert, selected, select, current, hide };
}

export interface PlanState {
  plan: VideoPlan | null;
  error: StudioApiError | null;
  /** A request is in flight or the form changed since the shown plan. */
  planning: boolean;
  /** The plan error means the generation cannot run as set up. */
  blocks: boolean;
  /** The form field the plan error named ('' if none). */
  badField: string;
}

/** The memory plan of the form, asked for once the form settles. */
export function useVideoPlan(
  source: DataSource,
  form: VideoForm,
  hasImage: boolean,
  hasLastImage = false
): PlanState {
  const planKey = form.model ? JSON.stringify(planRequest(form, hasImage, hasLastImage)) : '';
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
  return {
    plan,
    error: planError,
    planning: planning || planKey !== settledKey,
    blocks: !!planError && BLOCKING.has(planError.type),
    badField: str(planError?.details?.field ?? planError?.details?.param)
  };
}

/** A URL for a generation's video or thumbnail, once it is completed. */
export function useMediaUrl(
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
