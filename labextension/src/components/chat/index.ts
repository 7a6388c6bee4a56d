export { ChatPanel, type ChatPanelProps } from './ChatPanel';
export { pythonCode, statsLine } from './session';
