/**
 * A model card's Markdown, rendered by markdown-to-jsx into React elements. Raw HTML in the card
 * is not parsed (`disableParsingRawHTML`): it shows as text, so a `<script>` or an `onerror`
 * attribute in a README can neither run nor reach the DOM as markup. markdown-to-jsx also drops
 * `javascript:` and other unsafe URLs; links open in a new tab without an opener.
 */
import Markdown from 'markdown-to-jsx';
import * as React from 'react';

function SafeLink(props: {
  href?: string;
  title?: string;
  children?: React.ReactNode;
}): JSX.Element {
  return (
    <a href={props.href} title={props.title} target="_blank" rel="noopener noreferrer nofollow">
      {props.children}
    </a>
  );
}

/** Images stay links: a card's remote images would be fetched from third parties on open. */
function ImageLink(props: { src?: string; alt?: string; title?: string }): JSX.Element {
  return (
    <SafeLink href={props.src} title={props.title}>
      [image: {props.alt || props.src}]
    </SafeLink>
  );
}

const OPTIONS = {
  disableParsingRawHTML: true,
  forceBlock: true,
  overrides: { a: { component: SafeLink }, img: { component: ImageLink } }
};

export function CardView(props: { text: string | null }): JSX.Element {
  if (!props.text || !props.text.trim()) {
    return (
      <div className="jp-ModelStudio-empty" data-testid="model-card-empty">
        This model has no card.
      </div>
    );
  }
  return (
    <div className="jp-ModelStudio-markdown jp-ModelStudio-cardView" data-testid="model-card-view">
      <Markdown options={OPTIONS}>{props.text}</Markdown>
    </div>
  );
}
