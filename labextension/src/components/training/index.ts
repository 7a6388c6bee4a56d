export { TrainingPanel, type TrainingPanelProps } from './TrainingPanel';
export { finalLoss, mergeMetrics, runFacts } from './runs';
export { formConfig } from './TrainingForm';
