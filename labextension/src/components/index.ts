export { DownloadsPanel } from './DownloadsPanel';
export { ErrorBanner } from './ErrorBanner';
export { LibraryPanel } from './LibraryPanel';
export { ModelCard } from './ModelCard';
export { ProgressBar } from './ProgressBar';
export { DEFAULT_TABS, StudioTabs } from './StudioTabs';
export type { StudioTab, TabContext } from './StudioTabs';
export { SystemPanel } from './SystemPanel';
