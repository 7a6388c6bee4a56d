export { JobCenter } from './JobCenter';
export type { JobCenterProps } from './JobCenter';
