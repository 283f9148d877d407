// Builds the explorer pages (libs/explorer/ui) into libs/explorer/dist/ui with esbuild: one minified ES
// module bundle and one stylesheet, named by content hash, and index.html naming them. Prints the bundle
// size (raw and gzip) and writes it to dist/ui/bundle-size.json. Run by `make build`.
// esbuild: the fastest maintained bundler on npm, one dependency with a prebuilt binary; Preact: React's
// API in 4 kB gzip.

import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: path.join(root, 'ui', 'main.tsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const names = { js: '', css: '' };
const sizes = [];
for (const file of Object.keys(result.metafile.outputs)) {
  const base = path.basename(file);
  if (base.endsWith('.map')) continue;
  if (base.endsWith('.js')) names.js = base;
  if (base.endsWith('.css')) names.css = base;
  const bytes = readFileSync(path.resolve(file));
  sizes.push({ file: base, bytes: bytes.length, gzipBytes: gzipSync(bytes).length });
}
if (!names.js) throw new Error('esbuild wrote no JavaScript bundle');

const html = readFileSync(path.join(root, 'ui', 'index.html'), 'utf8')
  .replace('__APP_JS__', `explorer/assets/${names.js}`)
  .replace('__APP_CSS__', names.css ? `explorer/assets/${names.css}` : '');
writeFileSync(path.join(out, 'index.html'), html);

const total = sizes.reduce((a, s) => ({ bytes: a.bytes + s.bytes, gzipBytes: a.gzipBytes + s.gzipBytes }), { bytes: 0, gzipBytes: 0 });
writeFileSync(path.join(out, 'bundle-size.json'), JSON.stringify({ files: sizes, total }, null, 2) + '\n');
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`explorer bundle: ${sizes.map((s) => `${s.file} ${kb(s.bytes)} (${kb(s.gzipBytes)} gzip)`).join(', ')}`);
