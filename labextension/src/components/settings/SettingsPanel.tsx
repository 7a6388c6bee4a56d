import * as React from 'react';

import type { DataSource } from '../../api/source';
import { BackendsStatus } from './BackendsStatus';
import { EngineSettings } from './EngineSettings';
import { HubLogin } from './HubLogin';
import { RemoteEndpoints } from './RemoteEndpoints';

export interface SettingsPanelProps {
  source: DataSource;
}

/**
 * Settings and integrations: the Hugging Face login, the engine's run-time settings (memory
 * budget, idle time-to-live, download concurrency, model folders), remote serving endpoints and the
 * backends' status.
 */
export function SettingsPanel(props: SettingsPanelProps): JSX.Element {
  const { source } = props;
  // Saving model folders changes what the backends count: refresh them.
  const [saves, setSaves] = React.useState(0);
  return (
    <div className="jp-ModelStudio-panel jp-ModelStudio-settings" data-testid="settings-panel">
      <HubLogin source={source} />
      <EngineSettings source={source} onSaved={() => setSaves(n => n + 1)} />
      <RemoteEndpoints source={source} />
      <BackendsStatus source={source} refresh={saves} />
    </div>
  );
}
