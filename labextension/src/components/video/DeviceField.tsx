import * as React from 'react';

import type { DataSource } from '../../api/source';
import type { VideoDevice } from '../../api/types';
import { deviceLabel } from './form';

const AUTO_HELP =
  'auto: the GPU with the most free memory now; with several GPUs a pipeline no single one holds ' +
  "without offload is split across them (diffusers device_map='balanced')";

/** The form's Device menu (`video.devices`): auto, each GPU with its free memory, the CPU.
 * Generations queue per device: one runs at a time on each. */
export function DeviceField(props: {
  source: DataSource;
  value: string;
  onChange: (e: React.ChangeEvent<HTMLSelectElement>) => void;
  /** Changes when free memory may have changed (generations started or ended). */
  refreshKey: number;
}): JSX.Element {
  const { source, value } = props;
  const [devices, setDevices] = React.useState<VideoDevice[]>([]);
  const [error, setError] = React.useState('');
  React.useEffect(() => {
    let live = true;
    source.videoDevices().then(
      list => live && (setDevices(list), setError('')),
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e))
    );
    return () => {
      live = false;
    };
  }, [source, props.refreshKey]);
  const shown = devices.some(d => d.device === value)
    ? devices
    : [...devices, { device: value || 'auto', name: '' } as VideoDevice];
  return (
    <label title={AUTO_HELP}>
      Device
      <select
        name="device"
        className="jp-ModelStudio-select"
        data-testid="video-device"
        value={value || 'auto'}
        onChange={props.onChange}
      >
        {shown.map(d => (
          <option key={d.device} value={d.device}>
            {deviceLabel(d)}
          </option>
        ))}
      </select>
      {error && (
        <span className="jms-video-hint" data-testid="video-device-error">
          {error}
        </span>
      )}
    </label>
  );
}
