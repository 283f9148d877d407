// A Google Cloud Storage JSON-API test double, on loopback, for testing Stave's GCS backend with the real
// @google-cloud/storage client (no GCS emulator exists in the registries we can reach). It implements
// what that client sends for Stave's operations, with GCS's documented behaviour:
//
//   GET    /storage/v1/b/<b>/o/<name>               object resource (JSON), 404 when missing
//   GET    /storage/v1/b/<b>/o/<name>?alt=media     content; `Range: bytes=a-b | a- | -n` → 206 with
//                                                  Content-Range, 416 when the range starts past the end;
//                                                  x-goog-hash (crc32c, md5) on every read
//   GET    /storage/v1/b/<b>/o?prefix&delimiter&maxResults&pageToken
//                                                  lexicographic listing; `prefixes` for the delimiter;
//                                                  items + prefixes count toward maxResults (≤ 1000)
//   DELETE /storage/v1/b/<b>/o/<name>               204, 404 when missing
//   POST   /upload/storage/v1/b/<b>/o?uploadType=media|multipart|resumable
//   PUT    <resumable session URI>                  Content-Range `bytes a-b/N|*` chunks (308 + Range until
//                                                  the last), `bytes */N|*` status queries; X-Goog-Hash
//                                                  checked on the final chunk
//   DELETE <resumable session URI>                  cancels the session (499)
//
// Content lives in files under a temporary directory (never whole in memory, except multipart bodies,
// which are small), an object becomes visible only when its upload completes, and an overwrite swaps it
// whole. Faults (`fail`) and stalls (`stall`) can be injected per request kind for retry and hedging tests.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

export type RequestKind = 'metadata' | 'media' | 'list' | 'delete' | 'upload' | 'chunk';

interface StoredObject {
  readonly name: string;
  readonly file: string;
  readonly size: number;
  readonly md5: string;
  readonly crc32c: string;
  readonly generation: string;
  readonly updated: string;
  readonly contentType: string;
  readonly cacheControl?: string;
  readonly metadata?: Record<string, string>;
}

interface Session {
  readonly bucket: string;
  readonly name: string;
  readonly file: string;
  readonly meta: Record<string, unknown>;
  received: number;
  hasher: Hashes;
  done?: StoredObject;
}

class Hashes {
  private readonly md5 = createHash('md5');
  private crc = 0;
  update(b: Buffer): void {
    this.md5.update(b);
    this.crc = crc32c(b, this.crc);
  }
  digest(): { md5: string; crc32c: string } {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(this.crc >>> 0);
    return { md5: this.md5.digest('base64'), crc32c: c.toString('base64') };
  }
}

// CRC32C (Castagnoli), as GCS computes it for x-goog-hash and the object's crc32c field.
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function crc32c(buf: Uint8Array, prev = 0): number {
  let c = ~prev;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason = 'invalid',
  ) {
    super(message);
  }
}

interface Fault {
  readonly kind: RequestKind;
  remaining: number;
  readonly status: number;
}

export interface GcsTestServerOptions {
  /** Buckets that exist. */
  readonly buckets: readonly string[];
  /** Listen on this port (to restart on the same address); 0 picks a free one. */
  readonly port?: number;
}

export class GcsTestServer {
  readonly dir: string;
  private server: http.Server | undefined;
  private readonly buckets = new Map<string, Map<string, StoredObject>>();
  private readonly sessions = new Map<string, Session>();
  private readonly faults: Fault[] = [];
  private readonly stalls: Fault[] = [];
  /** Requests served, by kind. */
  readonly counts: Record<RequestKind, number> = { metadata: 0, media: 0, list: 0, delete: 0, upload: 0, chunk: 0 };
  port = 0;

  private constructor(opts: GcsTestServerOptions) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'stave-gcs-double-'));
    for (const b of opts.buckets) this.buckets.set(b, new Map());
    this.port = opts.port ?? 0;
  }

  static async start(opts: GcsTestServerOptions): Promise<GcsTestServer> {
    const s = new GcsTestServer(opts);
    await s.listen();
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `times` requests of `kind` fail with `status` (a JSON error body, as GCS sends). */
  fail(kind: RequestKind, times: number, status = 503): void {
    this.faults.push({ kind, remaining: times, status });
  }

  /** The next `times` requests of `kind` never answer (until the client gives up and closes). */
  stall(kind: RequestKind, times: number): void {
    this.stalls.push({ kind, remaining: times, status: 0 });
  }

  /** Stops listening (in-flight connections are cut); the stored objects stay for `listen()`. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Listens again, on the same port once one was assigned. */
  async listen(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops and removes every stored byte. */
  async stop(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private take(list: Fault[], kind: RequestKind): Fault | undefined {
    const f = list.find((x) => x.kind === kind && x.remaining > 0);
    if (f) f.remaining--;
    return f;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      const route = this.route(req.method ?? 'GET', url);
      if (!route) throw new HttpError(404, `no route for ${req.method} ${url.pathname}`, 'notFound');
      this.counts[route.kind]++;
      const fault = this.take(this.faults, route.kind);
      if (fault) {
        req.resume();
        throw new HttpError(fault.status, `injected fault (${fault.status})`, 'backendError');
      }
      if (this.take(this.stalls, route.kind)) {
        req.resume();
        return; // never answered; the socket is cut by the client or by close()
      }
      await route.run(req, res);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, String(err), 'backendError');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      req.resume();
      const body = JSON.stringify({ error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: 'global', reason: e.reason }] } });
      res.writeHead(e.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  }

  private route(method: string, url: URL): { kind: RequestKind; run: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> } | undefined {
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const q = url.searchParams;
    // /storage/v1/b/<bucket>/o[/<object>]  (and /download/storage/v1/... for media)
    const json = parts[0] === 'storage' && parts[1] === 'v1' && parts[2] === 'b' && parts[4] === 'o';
    const dl = parts[0] === 'download' && parts[1] === 'storage' && parts[2] === 'v1' && parts[3] === 'b' && parts[5] === 'o';
    const up = parts[0] === 'upload' && parts[1] === 'storage' && parts[2] === 'v1' && parts[3] === 'b' && parts[5] === 'o';
    if (json || dl) {
      const bucket = decodeURIComponent(parts[json ? 3 : 4]!);
      const rest = parts.slice(json ? 5 : 6);
      if (rest.length === 0) {
        if (method === 'GET' && json) return { kind: 'list', run: async (_req, res) => this.list(bucket, q, res) };
        return undefined;
      }
      const name = decodeURIComponent(rest.join('/'));
      if (method === 'GET' && (q.get('alt') === 'media' || dl)) return { kind: 'media', run: async (req, res) => this.media(bucket, name, req, res) };
      if (method === 'GET') return { kind: 'metadata', run: async (_req, res) => this.sendJson(res, 200, this.resource(bucket, this.object(bucket, name))) };
      if (method === 'DELETE') return { kind: 'delete', run: async (_req, res) => this.remove(bucket, name, res) };
      return undefined;
    }
    if (up) {
      const bucket = decodeURIComponent(parts[4]!);
      const type = q.get('uploadType');
      const id = q.get('upload_id');
      if (method === 'PUT' && type === 'resumable' && id) return { kind: 'chunk', run: async (req, res) => this.chunk(id, req, res) };
      if (method === 'DELETE' && type === 'resumable' && id) return { kind: 'chunk', run: async (_req, res) => this.cancel(id, res) };
      if (method === 'POST' && type === 'media') return { kind: 'upload', run: async (req, res) => this.mediaUpload(bucket, q, req, res) };
      if (method === 'POST' && type === 'multipart') return { kind: 'upload', run: async (req, res) => this.multipartUpload(bucket, q, req, res) };
      if (method === 'POST' && type === 'resumable') return { kind: 'upload', run: async (req, res) => this.startSession(bucket, q, req, res) };
    }
    return undefined;
  }

  private bucket(name: string): Map<string, StoredObject> {
    const b = this.buckets.get(name);
    if (!b) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return b;
  }

  private object(bucket: string, name: string): StoredObject {
    const o = this.bucket(bucket).get(name);
    if (!o) throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
    return o;
  }

  private resource(bucket: string, o: StoredObject): Record<string, unknown> {
    return {
      kind: 'storage#object',
      id: `${bucket}/${o.name}/${o.generation}`,
      selfLink: `${this.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}`,
      mediaLink: `${this.endpoint}/download/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket,
      generation: o.generation,
      metageneration: '1',
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(o.size),
      md5Hash: o.md5,
      crc32c: o.crc32c,
      etag: `${o.generation}`,
      timeCreated: o.updated,
      updated: o.updated,
      ...(o.cacheControl ? { cacheControl: o.cacheControl } : {}),
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  }

  private sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private list(bucket: string, q: URLSearchParams, res: http.ServerResponse): void {
    const objects = this.bucket(bucket);
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const max = Math.min(1000, Math.max(1, Number(q.get('maxResults') ?? 1000)));
    const token = q.get('pageToken');
    const after = token ? (JSON.parse(Buffer.from(token, 'base64url').toString()) as { after: string; folder: boolean }) : undefined;
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const items: Record<string, unknown>[] = [];
    const prefixes: string[] = [];
    let last: { after: string; folder: boolean } | undefined;
    let more = false;
    for (const n of names) {
      if (after && (n <= after.after || (after.folder && n.startsWith(after.after)))) continue;
      const rest = n.slice(prefix.length);
      const i = delimiter ? rest.indexOf(delimiter) : -1;
      if (i >= 0) {
        const p = prefix + rest.slice(0, i + delimiter.length);
        if (last?.folder && last.after === p) continue;
        if (items.length + prefixes.length >= max) {
          more = true;
          break;
        }
        prefixes.push(p);
        last = { after: p, folder: true };
      } else {
        if (items.length + prefixes.length >= max) {
          more = true;
          break;
        }
        items.push(this.resource(bucket, objects.get(n)!));
        last = { after: n, folder: false };
      }
    }
    this.sendJson(res, 200, {
      kind: 'storage#objects',
      ...(items.length > 0 ? { items } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(more && last ? { nextPageToken: Buffer.from(JSON.stringify(last)).toString('base64url') } : {}),
    });
  }

  private async media(bucket: string, name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const o = this.object(bucket, name);
    const headers: http.OutgoingHttpHeaders = {
      'content-type': o.contentType,
      'accept-ranges': 'bytes',
      'x-goog-generation': o.generation,
      'x-goog-metageneration': '1',
      'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(o.size),
    };
    const range = req.headers.range;
    let start = 0;
    let end = o.size - 1;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (!m || (m[1] === '' && m[2] === '')) throw new HttpError(400, `invalid Range header ${JSON.stringify(range)}`);
      if (m[1] === '') {
        start = Math.max(0, o.size - Number(m[2]));
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? o.size - 1 : Math.min(Number(m[2]), o.size - 1);
        if (m[2] !== '' && Number(m[2]) < start) throw new HttpError(400, `invalid Range header ${JSON.stringify(range)}`);
      }
      if (start >= o.size && o.size > 0) {
        res.setHeader('content-range', `bytes */${o.size}`);
        throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
      }
      if (o.size > 0) {
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
      }
    }
    const length = Math.max(0, end - start + 1);
    headers['content-length'] = length;
    res.writeHead(status, headers);
    if (length === 0) {
      res.end();
      return;
    }
    await pipeline(createReadStream(o.file, { start, end }), res).catch(() => res.destroy());
  }

  private async remove(bucket: string, name: string, res: http.ServerResponse): Promise<void> {
    const o = this.object(bucket, name);
    this.bucket(bucket).delete(name);
    await rm(o.file, { force: true });
    res.writeHead(204);
    res.end();
  }

  private newFile(): string {
    return path.join(this.dir, `${randomBytes(10).toString('hex')}.bin`);
  }

  /** Makes an uploaded file the object's content: atomic, and the replaced content goes. */
  private async commit(bucket: string, name: string, file: string, hashes: Hashes, meta: Record<string, unknown>, claimed?: string): Promise<StoredObject> {
    const objects = this.bucket(bucket);
    const { md5, crc32c: crc } = hashes.digest();
    if (claimed) {
      for (const pair of claimed.split(',')) {
        const [k, v] = [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()];
        if ((k === 'crc32c' && v !== crc) || (k === 'md5' && v !== md5)) {
          await rm(file, { force: true });
          throw new HttpError(400, `Provided ${k} "${v}" doesn't match calculated ${k} "${k === 'crc32c' ? crc : md5}".`);
        }
      }
    }
    const size = (await stat(file)).size;
    const o: StoredObject = {
      name,
      file,
      size,
      md5,
      crc32c: crc,
      generation: String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
      updated: new Date().toISOString(),
      contentType: typeof meta.contentType === 'string' ? meta.contentType : 'application/octet-stream',
      ...(typeof meta.cacheControl === 'string' ? { cacheControl: meta.cacheControl } : {}),
      ...(meta.metadata && typeof meta.metadata === 'object' ? { metadata: meta.metadata as Record<string, string> } : {}),
    };
    const old = objects.get(name);
    objects.set(name, o);
    if (old) await rm(old.file, { force: true });
    return o;
  }

  private async receive(req: AsyncIterable<Buffer>, file: string, hashes: Hashes, skip = 0): Promise<number> {
    let n = 0;
    const out = createWriteStream(file, { flags: 'a' });
    await pipeline(
      req,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          let c = chunk;
          if (skip > 0) {
            const drop = Math.min(skip, c.length);
            skip -= drop;
            c = c.subarray(drop);
          }
          if (c.length === 0) continue;
          hashes.update(c);
          n += c.length;
          yield c;
        }
      },
      out,
    );
    return n;
  }

  private async mediaUpload(bucket: string, q: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.bucket(bucket);
    const name = q.get('name');
    if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
    const file = this.newFile();
    const hashes = new Hashes();
    try {
      await this.receive(req, file, hashes);
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    const o = await this.commit(bucket, name, file, hashes, { contentType: req.headers['content-type'] }, req.headers['x-goog-hash'] as string | undefined);
    this.sendJson(res, 200, this.resource(bucket, o));
  }

  private async multipartUpload(bucket: string, q: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.bucket(bucket);
    const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
    if (!boundary) throw new HttpError(400, 'multipart upload without a boundary');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const parts = splitMultipart(body, boundary);
    if (parts.length !== 2) throw new HttpError(400, `multipart upload must have 2 parts, got ${parts.length}`);
    const meta = JSON.parse(parts[0]!.body.toString('utf8')) as Record<string, unknown>;
    const name = (meta.name as string | undefined) ?? q.get('name');
    if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
    const file = this.newFile();
    const hashes = new Hashes();
    await this.receive(
      (async function* () {
        yield parts[1]!.body;
      })(),
      file,
      hashes,
    );
    const o = await this.commit(
      bucket,
      name,
      file,
      hashes,
      { ...meta, contentType: meta.contentType ?? parts[1]!.headers['content-type'] },
      req.headers['x-goog-hash'] as string | undefined,
    );
    this.sendJson(res, 200, this.resource(bucket, o));
  }

  private async startSession(bucket: string, q: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.bucket(bucket);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const meta = (text.trim() === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const name = (meta.name as string | undefined) ?? q.get('name');
    if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
    const id = randomBytes(12).toString('hex');
    this.sessions.set(id, { bucket, name, file: this.newFile(), meta, received: 0, hasher: new Hashes() });
    res.writeHead(200, {
      location: `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`,
      'content-length': 0,
    });
    res.end();
  }

  private async chunk(id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) throw new HttpError(404, 'No such upload session', 'notFound');
    const cr = (req.headers['content-range'] ?? '').trim();
    const incomplete = (): void => {
      res.writeHead(308, s.received > 0 ? { range: `bytes=0-${s.received - 1}`, 'content-length': 0 } : { 'content-length': 0 });
      res.end();
    };
    if (s.done) {
      req.resume();
      this.sendJson(res, 200, this.resource(s.bucket, s.done));
      return;
    }
    // Status query: `bytes */N` or `bytes */*`.
    const query = /^bytes \*\/(\d+|\*)$/.exec(cr);
    if (query) {
      req.resume();
      if (query[1] !== '*' && Number(query[1]) === s.received) return this.finish(s, req, res);
      return incomplete();
    }
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(cr);
    if (!m) throw new HttpError(400, `invalid Content-Range ${JSON.stringify(cr)}`);
    const first = Number(m[1]);
    if (first > s.received) throw new HttpError(400, `chunk starts at ${first} but only ${s.received} bytes were received`);
    const skip = s.received - first; // a resent overlap is ignored, as GCS does
    s.received += await this.receive(req, s.file, s.hasher, skip);
    if (m[2] !== '*' && Number(m[2]) + 1 !== s.received) throw new HttpError(400, `chunk ends at ${m[2]} but ${s.received} bytes were received`);
    if (m[3] !== '*') {
      const total = Number(m[3]);
      if (s.received > total) throw new HttpError(400, `received ${s.received} bytes, more than the declared ${total}`);
      if (s.received === total) return this.finish(s, req, res);
    }
    incomplete();
  }

  /** Cancelling a session: GCS answers 499 and forgets what it received. */
  private async cancel(id: string, res: http.ServerResponse): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) throw new HttpError(404, 'No such upload session', 'notFound');
    this.sessions.delete(id);
    if (!s.done) await rm(s.file, { force: true });
    res.writeHead(499, { 'content-length': 0 });
    res.end();
  }

  private async finish(s: Session, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    s.done = await this.commit(s.bucket, s.name, s.file, s.hasher, s.meta, req.headers['x-goog-hash'] as string | undefined);
    this.sendJson(res, 200, this.resource(s.bucket, s.done));
  }
}

function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; body: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const out: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    let start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    let part = body.subarray(start, next);
    if (part.subarray(part.length - 2).toString() === '\r\n') part = part.subarray(0, part.length - 2);
    const sep = part.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, Math.max(0, sep)).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    out.push({ headers, body: sep < 0 ? Buffer.alloc(0) : part.subarray(sep + 4) });
    pos = next;
  }
  return out;
}
