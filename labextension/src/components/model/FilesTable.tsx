import * as React from 'react';

import type { ModelPageData } from '../../api/types';
import { formatBytes } from '../format';
import { copyText } from './copy';

type PageFile = ModelPageData['files'][number];

function Sha(props: { sha: string | null | undefined }): JSX.Element {
  const [copied, setCopied] = React.useState(false);
  if (!props.sha) {
    return <span className="jp-ModelStudio-dim">–</span>;
  }
  const copy = async (): Promise<void> => {
    setCopied(await copyText(props.sha as string));
    window.setTimeout(() => setCopied(false), 1500);
  };
  return (
    <span className="jp-ModelStudio-sha" title={props.sha} data-sha256={props.sha}>
      <code>{props.sha.slice(0, 12)}</code>
      <button
        className="jp-ModelStudio-linkButton"
        title="Copy the sha256"
        onClick={() => void copy()}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </span>
  );
}

/** Every file of the revision: size, sha256 (LFS) with copy, and whether it is on this machine. */
export function FilesTable(props: { files: PageFile[]; bad?: Set<string> }): JSX.Element {
  if (props.files.length === 0) {
    return <div className="jp-ModelStudio-empty">No files known.</div>;
  }
  return (
    <table className="jp-ModelStudio-table" data-testid="model-files">
      <thead>
        <tr>
          <th>File</th>
          <th>Size</th>
          <th>sha256</th>
          <th>Here</th>
        </tr>
      </thead>
      <tbody>
        {props.files.map(f => {
          const bad = props.bad?.has(f.path);
          return (
            <tr key={f.path} data-path={f.path} data-local={f.local} data-bad={bad || undefined}>
              <td>
                <code>{f.path}</code>
                {f.quantization && <span className="jp-ModelStudio-tag">{f.quantization}</span>}
              </td>
              <td>{formatBytes(f.size)}</td>
              <td>
                <Sha sha={f.sha256} />
              </td>
              <td>
                {bad ? (
                  <span className="jp-ModelStudio-badge jp-ModelStudio-badge-bad">bad</span>
                ) : f.local ? (
                  <span className="jp-ModelStudio-badge jp-ModelStudio-badge-local">local</span>
                ) : null}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
