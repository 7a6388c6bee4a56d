/**
 * A small, safe Markdown renderer for chat answers: it builds React elements (never HTML
 * strings), so model output cannot inject markup. Supports headings, paragraphs, bold, italic,
 * inline code, fenced code blocks (with a language label and a Copy button), bullet and numbered
 * lists, block quotes and horizontal rules; an unterminated fence (mid-stream) renders as code.
 */
import * as React from 'react';

type Block =
  | { kind: 'code'; lang: string; text: string }
  | { kind: 'heading'; level: number; text: string }
  | { kind: 'list'; ordered: boolean; items: string[] }
  | { kind: 'quote'; text: string }
  | { kind: 'rule' }
  | { kind: 'para'; text: string };

export function parseBlocks(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)\s*([\w+#.-]*)/.exec(line);
    if (fence) {
      const body: string[] = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end)
      blocks.push({ kind: 'code', lang: fence[2] ?? '', text: body.join('\n') });
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      blocks.push({ kind: 'heading', level: heading[1].length, text: heading[2] });
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      blocks.push({ kind: 'rule' });
      i += 1;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items: string[] = [];
      while (i < lines.length && (item.test(lines[i]) || /^\s{2,}\S/.test(lines[i]))) {
        if (item.test(lines[i])) {
          items.push(lines[i].replace(item, ''));
        } else {
          items[items.length - 1] += ' ' + lines[i].trim();
        }
        i += 1;
      }
      blocks.push({ kind: 'list', ordered, items });
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        body.push(lines[i].replace(/^\s*>\s?/, ''));
        i += 1;
      }
      blocks.push({ kind: 'quote', text: body.join('\n') });
      continue;
    }
    const body: string[] = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^\s*(```|~~~)/.test(lines[i]) &&
      !/^#{1,6}\s/.test(lines[i]) &&
      !item.test(lines[i])
    ) {
      body.push(lines[i]);
      i += 1;
    }
    blocks.push({ kind: 'para', text: body.join('\n') });
  }
  return blocks;
}

/** Inline spans: `code`, **bold**, *italic* / _italic_; everything else is text. */
export function renderInline(text: string, keyPrefix = 'i'): React.ReactNode[] {
  const out: React.ReactNode[] = [];
  const pattern =
    /(`+)([^`]+?)\1|\*\*([^*]+?)\*\*|__([^_]+?)__|\*([^*\s][^*]*?)\*|\b_([^_\s][^_]*?)_\b/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let k = 0;
  while ((m = pattern.exec(text))) {
    if (m.index > last) {
      out.push(text.slice(last, m.index));
    }
    const key = `${keyPrefix}-${k++}`;
    if (m[2] !== undefined) {
      out.push(<code key={key}>{m[2]}</code>);
    } else if (m[3] !== undefined || m[4] !== undefined) {
      out.push(<strong key={key}>{renderInline(m[3] ?? m[4], key)}</strong>);
    } else {
      out.push(<em key={key}>{renderInline(m[5] ?? m[6], key)}</em>);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) {
    out.push(text.slice(last));
  }
  return out;
}

function CodeBlock(props: { lang: string; text: string }): JSX.Element {
  const [copied, setCopied] = React.useState(false);
  const copy = (): void => {
    navigator.clipboard?.writeText(props.text).then(
      () => {
        setCopied(true);
        window.setTimeout(() => setCopied(false), 1500);
      },
      () => undefined
    );
  };
  return (
    <div className="jp-ModelStudio-codeBlock" data-testid="chat-code-block">
      <div className="jp-ModelStudio-codeHead">
        <span>{props.lang || 'code'}</span>
        <button className="jp-ModelStudio-linkButton" onClick={copy} title="Copy code">
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre>
        <code data-lang={props.lang}>{props.text}</code>
      </pre>
    </div>
  );
}

export function ChatMarkdown(props: { text: string; testId?: string }): JSX.Element {
  const blocks = React.useMemo(() => parseBlocks(props.text), [props.text]);
  return (
    <div className="jp-ModelStudio-markdown" data-testid={props.testId}>
      {blocks.map((b, i) => {
        const key = `b${i}`;
        switch (b.kind) {
          case 'code':
            return <CodeBlock key={key} lang={b.lang} text={b.text} />;
          case 'heading': {
            const Tag = `h${Math.min(6, b.level + 2)}` as 'h3';
            return <Tag key={key}>{renderInline(b.text, key)}</Tag>;
          }
          case 'list': {
            const items = b.items.map((item, j) => (
              <li key={j}>{renderInline(item, `${key}-${j}`)}</li>
            ));
            return b.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
          }
          case 'quote':
            return <blockquote key={key}>{renderInline(b.text, key)}</blockquote>;
          case 'rule':
            return <hr key={key} />;
          default:
            return <p key={key}>{renderInline(b.text, key)}</p>;
        }
      })}
    </div>
  );
}
