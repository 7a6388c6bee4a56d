import * as React from 'react';

import type { ModelPageData } from '../../api/types';

/** Licence and gating: whether this user may download, and where to accept the terms. */
export function GatingBox(props: { page: ModelPageData }): JSX.Element {
  const { gating, metadata, model } = props.page;
  const licence = metadata.license_name || model.license || metadata.license;
  return (
    <div
      className={`jp-ModelStudio-gating${gating.gated && !gating.access ? ' jp-mod-warn' : ''}`}
      data-testid="model-gating"
      data-gated={String(gating.gated)}
      data-access={String(gating.access)}
    >
      <span>
        Licence: <strong>{licence ?? 'not stated'}</strong>
        {metadata.license_link && (
          <>
            {' '}
            (
            <a href={metadata.license_link} target="_blank" rel="noopener noreferrer">
              terms
            </a>
            )
          </>
        )}
      </span>
      {gating.gated ? (
        <span>
          {' · '}Gated ({gating.gated === 'manual' ? 'approved by the authors' : 'automatic'}):{' '}
          {gating.access === true
            ? 'you have access.'
            : gating.access === false
              ? 'you have no access yet.'
              : 'access unknown.'}{' '}
          {gating.terms_url && gating.access !== true && (
            <a
              href={gating.terms_url}
              target="_blank"
              rel="noopener noreferrer"
              data-testid="model-terms-link"
            >
              Accept the terms on the Hub
            </a>
          )}
          {gating.access !== true && ', then log in (Settings) with a token.'}
        </span>
      ) : null}
    </div>
  );
}
