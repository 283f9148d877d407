// Mounts a status page (@stave/core's StatusPage: plain data in, plain data out, as the ring and memberlist
// pages of @stave/ring) on the HTTP router: the form of a POST is read here, bounded.

import type { StatusPage } from '@stave/core';
import type { HttpHandler } from './http-server';
import { readBody } from './http-server';

/** A POST form larger than this is refused (a status page's forms carry one field). */
const MAX_FORM_BYTES = 64 * 1024;

export function pageHandler(page: StatusPage): HttpHandler {
  return async (req, res, _params, url) => {
    const method = req.method ?? 'GET';
    const form = method === 'POST' ? new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString('utf8')) : new URLSearchParams();
    const out = await page({ method, accept: req.headers.accept ?? '', query: url.searchParams, form });
    const headers: Record<string, string | number> = {
      'content-type': out.contentType,
      'content-length': Buffer.byteLength(out.body),
      'cache-control': 'no-store',
    };
    if (out.location !== undefined) headers.location = out.location;
    res.writeHead(out.status, headers);
    res.end(out.body);
  };
}
