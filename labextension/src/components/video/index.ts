export {
  formFromJob,
  framesValid,
  modelDefaults,
  OFFLOAD_HELP,
  sortModels,
  type VideoForm
} from './form';
export { VideoPanel, type VideoPanelProps } from './VideoPanel';
