import * as React from 'react';

import type { DataSource } from '../api/source';
import type { SystemVersions } from '../api/types';
import { ErrorBanner } from './ErrorBanner';

/** A collapsible "Versions" section: OS, Python, CUDA, cuDNN, driver, llama.cpp, libraries. */
export function VersionsSection(props: { source: DataSource }): JSX.Element {
  const { source } = props;
  const [open, setOpen] = React.useState(false);
  const [versions, setVersions] = React.useState<SystemVersions | null>(null);
  const [error, setError] = React.useState<Error | null>(null);

  React.useEffect(() => {
    if (!open || versions) {
      return;
    }
    let live = true;
    source.versions().then(
      v => {
        if (live) {
          setVersions(v);
          setError(null);
        }
      },
      err => {
        if (live) {
          setError(err as Error);
        }
      }
    );
    return () => {
      live = false;
    };
  }, [open, versions, source]);

  return (
    <details
      className="jp-ModelStudio-section jp-ModelStudio-versions"
      data-testid="system-versions"
      onToggle={e => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary className="jp-ModelStudio-sectionTitle">Versions</summary>
      <ErrorBanner error={error} testId="system-versions-error" />
      {open && !versions && !error && <div className="jp-ModelStudio-empty">Reading versions…</div>}
      {versions && <VersionsTable versions={versions} />}
    </details>
  );
}

function yesNo(value: boolean | null | undefined): string {
  return value === null || value === undefined ? '' : value ? 'yes' : 'no';
}

function VersionsTable({ versions }: { versions: SystemVersions }): JSX.Element {
  const os = versions.os as Record<string, string | null>;
  const python = versions.python as Record<string, string | null>;
  const { torch, llama_cpp: llama } = versions;
  const built = (['cuda', 'metal', 'vulkan'] as const).filter(b => llama[b]);
  const rows: [string, string | null, string][] = [
    ['OS', os.distribution ?? `${os.system} ${os.release}`, os.machine ?? ''],
    ['Python', python.version, python.implementation ?? ''],
    [
      'CUDA (torch)',
      torch.cuda,
      torch.cuda_available === null ? '' : `GPU usable: ${yesNo(torch.cuda_available)}`
    ],
    ['cuDNN', torch.cudnn, ''],
    ['NVIDIA driver', versions.nvidia_driver, ''],
    [
      'llama.cpp',
      llama.version,
      llama.version
        ? `GPU offload: ${yesNo(llama.gpu_offload)}${built.length ? ` (${built.join(', ')})` : ''}`
        : ''
    ],
    ...Object.entries(versions.packages)
      .filter(([name]) => name !== 'llama_cpp')
      .map(([name, v]): [string, string | null, string] => [name, v, ''])
  ];
  return (
    <table className="jp-ModelStudio-versionsTable">
      <tbody>
        {rows.map(([name, value, note]) => (
          <tr key={name} data-testid={`version-${name}`}>
            <th scope="row">{name}</th>
            <td data-value={value ?? ''}>{value ?? 'not installed'}</td>
            <td className="jp-ModelStudio-muted">{note}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
