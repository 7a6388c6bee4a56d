/**
 * Chat-model, batch, training, dataset and video calls, written once over an operation invoker: the sidebar's RestSource
 * sends them as REST requests, the notebook widgets' WidgetSource as `{kind: "call"}` messages.
 */
import { asDataset, asJob, asList, asText, compact, OPERATION } from './source';
import type {
  AuthStatus,
  SettingsResult,
  Capabilities,
  JobCleanup,
  JobCleanupRequest,
  JobDeleted,
  JobQuery,
  ChatModel,
  Endpoint,
  EndpointHealth,
  EndpointRequest,
  Conversation,
  ConversationAppend,
  ConversationDeleted,
  ConversationExport,
  ConversationList,
  ConversationMeta,
  DiskFreed,
  DiskFreeWhat,
  DiskReport,
  EnergyExport,
  EnergyPeriod,
  EnergyRow,
  EnergySummary,
  NewMessage,
  JobStateName,
  VideoDeleteResult,
  VideoMedia,
  VideoMediaKind,
  VideoModel,
  VideoPipeline,
  VideoDevice,
  VideoPlan,
  VideoPlanRequest,
  VideoReadiness,
  VideoRequest,
  VideoUnloadResult,
  DatasetInfo,
  Job,
  LoadedModel,
  LoadOptions,
  MemoryHolders,
  HostLogs,
  HostStatus,
  HostStop,
  UnloadAction,
  ClusterAnswers,
  TrainingConfig,
  TrainingEstimate,
  TrainingExport,
  TrainingMetric,
  ImportRequest,
  ImportUrlRequest,
  ModelInfo
} from './types';

/** The operations a memory holder's `unload` action may name. */
const FREEING: string[] = [OPERATION.chatUnload, OPERATION.videoUnload, OPERATION.trainingCancel];

export abstract class OperationCalls {
  /** Run the api.py operation `method` with `params` (the host decides how). */
  protected abstract invoke<T>(method: string, params?: Record<string, unknown>): Promise<T>;

  // Imports ------------------------------------------------------------------------------------

  importModel(request: ImportRequest): Promise<ModelInfo> {
    return this.invoke(OPERATION.importModel, compact({ ...request }));
  }

  async importUrl(request: ImportUrlRequest): Promise<Job> {
    return asJob(await this.invoke(OPERATION.importUrl, compact({ ...request })));
  }

  // Training -----------------------------------------------------------------------------------

  async trainingRuns(): Promise<Job[]> {
    return asList<Job>(await this.invoke(OPERATION.trainingRuns), 'runs', 'jobs');
  }

  async trainingMetrics(jobId: string, sinceStep = 0): Promise<TrainingMetric[]> {
    return asList<TrainingMetric>(
      await this.invoke(OPERATION.trainingMetrics, { job_id: jobId, since_step: sinceStep }),
      'metrics'
    );
  }

  async trainingLogs(jobId: string, tail = 200): Promise<string> {
    return asText(await this.invoke(OPERATION.trainingLogs, { job_id: jobId, tail }));
  }

  async startTraining(base: string, dataset: string, config: TrainingConfig): Promise<Job> {
    return asJob(
      await this.invoke(OPERATION.trainingStart, { ...compact({ ...config }), base, dataset })
    );
  }

  estimateTraining(
    base: string,
    dataset: string,
    config: TrainingConfig
  ): Promise<TrainingEstimate> {
    return this.invoke(OPERATION.trainingEstimate, { ...compact({ ...config }), base, dataset });
  }

  exportTraining(
    base: string,
    dataset: string,
    config: TrainingConfig,
    cluster: ClusterAnswers
  ): Promise<TrainingExport> {
    return this.invoke(OPERATION.trainingExport, {
      ...compact({ ...config, ...cluster }),
      base,
      dataset
    });
  }

  async cancelTraining(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.trainingCancel, { job_id: jobId }));
  }

  async resumeTraining(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.trainingResume, { job_id: jobId }));
  }

  mergeTraining(jobId: string): Promise<unknown> {
    return this.invoke(OPERATION.trainingMerge, { job_id: jobId });
  }

  async datasets(): Promise<DatasetInfo[]> {
    return asList<DatasetInfo>(await this.invoke(OPERATION.datasetsList), 'datasets');
  }

  async uploadDataset(
    filename: string,
    content: string,
    name?: string | null
  ): Promise<DatasetInfo> {
    return asDataset(
      await this.invoke(OPERATION.datasetsUpload, compact({ filename, content, name }))
    );
  }

  // Chat models ------------------------------------------------------------------------------

  async chatModels(): Promise<ChatModel[]> {
    return asList<ChatModel>(await this.invoke(OPERATION.chatModels), 'models');
  }

  async loadedModels(): Promise<LoadedModel[]> {
    return asList<LoadedModel>(await this.invoke(OPERATION.chatLoaded), 'loaded');
  }

  loadModel(model: string, options: LoadOptions = {}): Promise<unknown> {
    return this.invoke(OPERATION.chatLoad, { model, ...options });
  }

  unloadModel(model: string): Promise<unknown> {
    return this.invoke(OPERATION.chatUnload, { model });
  }

  memoryHolders(): Promise<MemoryHolders> {
    return this.invoke(OPERATION.memoryHolders);
  }

  freeHolder(action: UnloadAction): Promise<unknown> {
    if (!FREEING.includes(action.operation)) {
      return Promise.reject(new Error(`${action.operation} does not free memory`));
    }
    return this.invoke(action.operation, action.params);
  }

  // The model host -----------------------------------------------------------------------------

  hostStatus(): Promise<HostStatus> {
    return this.invoke(OPERATION.hostStatus);
  }

  hostStop(): Promise<HostStop> {
    return this.invoke(OPERATION.hostStop);
  }

  hostLogs(lines = 200): Promise<HostLogs> {
    return this.invoke(OPERATION.hostLogs, { lines });
  }

  // Disk use and energy ------------------------------------------------------------------------

  diskUsage(): Promise<DiskReport> {
    return this.invoke(OPERATION.diskUsage);
  }

  diskFree(what: DiskFreeWhat, path?: string | null): Promise<DiskFreed> {
    return this.invoke(OPERATION.diskFree, compact({ what, path }));
  }

  energySummary(period: EnergyPeriod = {}): Promise<EnergySummary> {
    return this.invoke(OPERATION.energySummary, compact({ ...period }));
  }

  async energyJob(jobId: string): Promise<EnergyRow | null> {
    try {
      return await this.invoke<EnergyRow>(OPERATION.energyJob, { job_id: jobId });
    } catch (err) {
      const e = err as { status?: number | null; type?: string };
      if (e.status === 404 || e.type === 'NotFoundError') {
        return null;
      }
      throw err;
    }
  }

  energyExport(period: EnergyPeriod = {}): Promise<EnergyExport> {
    return this.invoke(OPERATION.energyExport, compact({ ...period }));
  }

  // Batches ------------------------------------------------------------------------------------

  async batches(state?: JobStateName | null, limit?: number | null): Promise<Job[]> {
    return asList<Job>(
      await this.invoke(OPERATION.batchList, compact({ state, limit })),
      'batches',
      'jobs'
    );
  }

  async cancelBatch(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.batchCancel, { job_id: jobId }));
  }

  async resumeBatch(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.batchResume, { job_id: jobId }));
  }

  // Video --------------------------------------------------------------------------------------

  async videoModels(): Promise<VideoModel[]> {
    return asList<VideoModel>(await this.invoke(OPERATION.videoModels), 'models');
  }

  videoModel(model: string): Promise<VideoReadiness> {
    return this.invoke(OPERATION.videoModel, { model });
  }

  videoPlan(request: VideoPlanRequest): Promise<VideoPlan> {
    return this.invoke(OPERATION.videoPlan, { ...compact({ ...request }), model: request.model });
  }

  async generateVideo(request: VideoRequest): Promise<Job> {
    return asJob(
      await this.invoke(OPERATION.videoGenerate, {
        ...compact({ ...request }),
        model: request.model,
        prompt: request.prompt
      })
    );
  }

  async videoGenerations(state?: JobStateName | null, limit?: number | null): Promise<Job[]> {
    return asList<Job>(
      await this.invoke(OPERATION.videoList, compact({ state, limit })),
      'generations',
      'jobs'
    );
  }

  async videoGeneration(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.videoGet, { job_id: jobId }));
  }

  async cancelVideo(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.videoCancel, { job_id: jobId }));
  }

  async resumeVideo(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.videoResume, { job_id: jobId }));
  }

  deleteVideo(jobId: string): Promise<VideoDeleteResult> {
    return this.invoke(OPERATION.videoDelete, { job_id: jobId });
  }

  videoMedia(jobId: string, what: VideoMediaKind | 'image' | 'last_image'): Promise<VideoMedia> {
    return this.invoke(OPERATION.videoMedia, { job_id: jobId, what });
  }

  async videoLoaded(): Promise<VideoPipeline[]> {
    return asList<VideoPipeline>(await this.invoke(OPERATION.videoLoaded), 'pipelines');
  }

  async videoDevices(): Promise<VideoDevice[]> {
    return asList<VideoDevice>(await this.invoke(OPERATION.videoDevices), 'devices');
  }

  unloadVideo(device?: string): Promise<VideoUnloadResult> {
    return this.invoke(OPERATION.videoUnload, compact({ device }));
  }

  reloadSettings(): Promise<SettingsResult> {
    return this.invoke(OPERATION.reloadSettings);
  }

  // Settings and integrations, the job center ---------------------------------------------------

  authStatus(check = true): Promise<AuthStatus> {
    return this.invoke(OPERATION.authStatus, { check });
  }

  login(token: string): Promise<AuthStatus> {
    return this.invoke(OPERATION.authLogin, { token });
  }

  logout(): Promise<AuthStatus> {
    return this.invoke(OPERATION.authLogout);
  }

  capabilities(): Promise<Capabilities> {
    return this.invoke(OPERATION.capabilities);
  }

  async startVerify(model: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.verifyStart, { model }));
  }

  async listJobs(query: JobQuery = {}): Promise<Job[]> {
    return asList<Job>(await this.invoke(OPERATION.jobsList, compact({ ...query })), 'jobs');
  }

  async cancelJob(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.jobsCancel, { job_id: jobId }));
  }

  async resumeJob(jobId: string): Promise<Job> {
    return asJob(await this.invoke(OPERATION.jobsResume, { job_id: jobId }));
  }

  deleteJob(jobId: string, deleteFiles = false): Promise<JobDeleted> {
    return this.invoke(OPERATION.jobsDelete, { job_id: jobId, delete_files: deleteFiles });
  }

  cleanupJobs(request: JobCleanupRequest): Promise<JobCleanup> {
    return this.invoke(OPERATION.jobsCleanup, compact({ ...request }));
  }

  // Remote endpoints ---------------------------------------------------------------------------

  async endpoints(check = false): Promise<Endpoint[]> {
    return asList<Endpoint>(await this.invoke(OPERATION.endpointsList, { check }), 'endpoints');
  }

  addEndpoint(request: EndpointRequest): Promise<Endpoint> {
    return this.invoke(OPERATION.endpointsAdd, compact({ ...request }));
  }

  updateEndpoint(request: EndpointRequest): Promise<Endpoint> {
    // an empty api_key is sent: it removes the key
    const key = request.api_key === undefined ? {} : { api_key: request.api_key };
    return this.invoke(OPERATION.endpointsUpdate, {
      ...compact({ ...request, api_key: undefined }),
      ...key
    });
  }

  removeEndpoint(name: string): Promise<{ removed: string }> {
    return this.invoke(OPERATION.endpointsRemove, { name });
  }

  testEndpoint(name: string): Promise<EndpointHealth> {
    return this.invoke(OPERATION.endpointsTest, { name });
  }

  // Conversations ------------------------------------------------------------------------------

  listConversations(q = '', limit = 50, offset = 0): Promise<ConversationList> {
    return this.invoke(OPERATION.conversationsList, compact({ q, limit, offset }));
  }

  createConversation(meta: ConversationMeta): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsCreate, compact({ ...meta }));
  }

  getConversation(id: string): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsGet, { conversation_id: id });
  }

  updateConversation(id: string, meta: ConversationMeta): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsUpdate, { ...meta, conversation_id: id });
  }

  renameConversation(id: string, title: string): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsRename, { conversation_id: id, title });
  }

  deleteConversation(id: string): Promise<ConversationDeleted> {
    return this.invoke(OPERATION.conversationsDelete, { conversation_id: id });
  }

  appendMessages(
    id: string,
    messages: NewMessage[],
    parentId?: string | null,
    lane = 0
  ): Promise<ConversationAppend> {
    return this.invoke(OPERATION.conversationsAppend, {
      conversation_id: id,
      messages,
      parent_id: parentId,
      lane
    });
  }

  branchConversation(id: string, messageId: string, content: string): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsBranch, {
      conversation_id: id,
      message_id: messageId,
      content
    });
  }

  selectBranch(id: string, messageId: string): Promise<Conversation> {
    return this.invoke(OPERATION.conversationsSelect, {
      conversation_id: id,
      message_id: messageId
    });
  }

  exportConversation(id: string, format: 'json' | 'markdown'): Promise<ConversationExport> {
    return this.invoke(OPERATION.conversationsExport, { conversation_id: id, format });
  }

  importConversation(file: unknown): Promise<Conversation> {
    return this.invoke(
      OPERATION.conversationsImport,
      typeof file === 'string' ? { content: file } : { conversation: file }
    );
  }
}
