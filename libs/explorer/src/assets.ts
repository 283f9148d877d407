// Serves the explorer's built pages (libs/explorer/dist/ui, written by `make build`) at `/`: index.html is
// revalidated on every load (`no-cache`, ETag) so a new build shows at once; the bundles carry a content
// hash in their names and are cached for a year (`immutable`). Files are read once, at mount, with a gzip
// copy of each, so a request costs no disk read. Only the public HTTP API is used by the pages; the API
// prefix (`http_api_prefix`) is written into index.html so they find it.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type http from 'node:http';
import { sendText, type Router } from '@stave/server';

/** Where `make build` writes the pages (scripts/build-ui.mjs). */
export const DEFAULT_UI_DIR = path.join(__dirname, 'ui');

/** The path the hashed bundles are served under; index.html names them relative to `/`. */
export const ASSETS_PATH = '/explorer/assets';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

interface Asset {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  contentType: string;
  cacheControl: string;
}

function asset(body: Buffer, name: string, cacheControl: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, gzip: gzipSync(body), etag, contentType: CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream', cacheControl };
}

function send(req: http.IncomingMessage, res: http.ServerResponse, a: Asset): void {
  const headers: Record<string, string | number> = { 'content-type': a.contentType, 'cache-control': a.cacheControl, etag: a.etag, vary: 'Accept-Encoding' };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const body = gzip ? a.gzip : a.body;
  if (gzip) headers['content-encoding'] = 'gzip';
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

export interface ExplorerOptions {
  /** The built pages; DEFAULT_UI_DIR unless a test or package moves them. */
  dir?: string;
  /** `http_api_prefix`: the pages call `<prefix>/api/...`. */
  apiPrefix: string;
}

/**
 * Mounts the pages on `router`: `GET /` and `GET /explorer/assets/<file>`. When the pages were not built
 * (running from sources), `/` says how to build them instead of answering 404.
 */
export function mountExplorer(router: Router, opts: ExplorerOptions): void {
  const dir = opts.dir ?? DEFAULT_UI_DIR;
  const indexFile = path.join(dir, 'index.html');
  if (!existsSync(indexFile)) {
    router.handle('GET', '/', (_req, res) => sendText(res, 404, `the explorer pages are not built (${indexFile} is missing): run make build\n`));
    return;
  }
  const prefix = opts.apiPrefix.replace(/\/$/, '');
  const html = readFileSync(indexFile, 'utf8').replace('__STAVE_API_PREFIX__', prefix.replace(/[&"<>]/g, ''));
  const index = asset(Buffer.from(html), 'index.html', 'no-cache');
  const assets = new Map<string, Asset>();
  const assetsDir = path.join(dir, 'assets');
  for (const name of existsSync(assetsDir) ? readdirSync(assetsDir) : []) {
    assets.set(name, asset(readFileSync(path.join(assetsDir, name)), name, 'public, max-age=31536000, immutable'));
  }
  router.handle('GET', '/', (req, res) => send(req, res, index));
  router.handle('GET', `${ASSETS_PATH}/:file`, (req, res, params) => {
    const a = assets.get(params.file!);
    if (!a) return sendText(res, 404, `no explorer asset named "${params.file}"\n`);
    send(req, res, a);
  });
}
