export { ModelPage } from './ModelPage';
export type { ModelPageProps } from './ModelPage';
