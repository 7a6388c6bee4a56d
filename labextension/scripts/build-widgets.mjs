// Bundle one ES module per anywidget entry (React included) into src/model_studio/static/,
// plus one studio.css shared by all of them. Usage: node scripts/build-widgets.mjs [--dev]
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const outdir = path.resolve(root, '../src/model_studio/static');
const dev = process.argv.includes('--dev');
const entries = ['library', 'downloads', 'system', 'studio', 'chat', 'training', 'video', 'model'];

await mkdir(outdir, { recursive: true });
const started = Date.now();
await build({
  entryPoints: Object.fromEntries(
    entries.map(name => [name, path.join(root, 'src/widgets', `${name}.tsx`)])
  ),
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  jsx: 'transform',
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  // Without splitting every entry is self-contained: anywidget loads each _esm on its own.
  splitting: false,
  define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
  legalComments: 'none',
  logLevel: 'warning'
});

// One stylesheet for every widget: the lab's style files, concatenated in order.
const cssFiles = [
  'base.css',
  'uplot.css',
  'training.css',
  'video.css',
  'model.css',
  'settings.css',
  'shell.css',
  'conversations.css'
];
const css = await Promise.all(cssFiles.map(f => readFile(path.join(root, 'style', f), 'utf8')));
await writeFile(path.join(outdir, 'studio.css'), css.join('\n'));
console.log(
  `widgets: ${entries.map(e => e + '.js').join(', ')} + studio.css -> ${outdir} (${Date.now() - started} ms)`
);
