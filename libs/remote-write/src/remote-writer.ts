// RemoteWriter: the SampleAppender the metrics-generator writes to. Per tenant, appends are encoded
// into remote write records, made durable in the tenant's on-disk queue (queue.ts) and sent to every
// configured endpoint by one sender each (sender.ts).
//
// Lifecycle: `starting` opens the queues that are on disk (what an earlier run had not sent is sent
// now); `append` works from then on; `stopping` writes what waits in memory, gives the senders up to
// the flush deadline to empty the queues, then stops them — what is left stays on disk for the next
// start. Memory is bounded per tenant (maxPendingBytes waiting for the disk, one batch per sender).

import { createHash } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BasicService, Logger, nopLogger, SINGLE_TENANT, validateTenantID } from '@stave/core';
import { Registry } from 'prom-client';
import { encodeChunks, type EncodedChunk } from './encode';
import { RemoteWriteMetrics } from './metrics';
import { DropReason, TenantQueue } from './queue';
import { EndpointSender, type EndpointTarget } from './sender';
import type { SampleAppender, Series } from './types';

/** One `remote_write` entry, as configured. */
export interface RemoteWriteEndpoint {
  readonly url: string;
  /** `remote_name` label and cursor name; derived from the URL when empty. */
  readonly name?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send exemplars (Prometheus' `send_exemplars`, default false). */
  readonly sendExemplars?: boolean;
  /** Deadline of one request (Prometheus' `remote_timeout`, default 30s). */
  readonly remoteTimeoutMs?: number;
}

export interface RemoteWriterOptions {
  /** `metrics_generator.storage.path`: each tenant's queue is `<path>/<tenant>/wal/`. */
  readonly path: string;
  readonly endpoints: readonly RemoteWriteEndpoint[];
  /** Add `X-Scope-OrgID: <tenant>` unless a header sets it (`remote_write_add_org_id_header`); never for the single tenant. */
  readonly addOrgIdHeader: boolean;
  /** How long `stop` waits for the queues to empty (`remote_write_flush_deadline`). */
  readonly flushDeadlineMs: number;
  /** Records whose newest sample is older are dropped (`storage.wal.max_wal_time`, default 4h). */
  readonly maxWalTimeMs?: number;
  /** On-disk bytes per tenant (default 256 MiB); past it the oldest segment is dropped and counted. */
  readonly maxQueueBytes?: number;
  /** Segment size (default 8 MiB, at most a quarter of maxQueueBytes). */
  readonly segmentBytes?: number;
  /** Bytes per tenant waiting in memory for the disk (default 32 MiB); past it appends are dropped and counted. */
  readonly maxPendingBytes?: number;
  /** Samples + exemplars per request (Prometheus' max_samples_per_send, default 2000). */
  readonly maxSamplesPerSend?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Extra headers for a tenant (Tempo's per-tenant `remote_write_headers` override); they win over configured ones. */
  readonly tenantHeaders?: (tenant: string) => Readonly<Record<string, string>> | undefined;
  readonly registry?: Registry;
  readonly logger?: Logger;
  readonly userAgent?: string;
  readonly now?: () => number;
}

const MiB = 1024 * 1024;
const DEFAULTS = {
  maxWalTimeMs: 4 * 60 * 60 * 1000,
  maxQueueBytes: 256 * MiB,
  segmentBytes: 8 * MiB,
  maxPendingBytes: 32 * MiB,
  maxSamplesPerSend: 2000,
  minBackoffMs: 30,
  maxBackoffMs: 5000,
  remoteTimeoutMs: 30_000,
};
/** Uncompressed bytes per request at most (besides maxSamplesPerSend); one record may exceed it alone. */
const MAX_BYTES_PER_SEND = 4 * MiB;
const ORG_ID_HEADER = 'X-Scope-OrgID';

interface Tenant {
  queue: TenantQueue | undefined;
  /** Chunks appended while the queue opens (bounded like the queue's memory). */
  early: EncodedChunk[];
  earlyBytes: number;
  opened: Promise<void>;
  readonly senders: EndpointSender[];
}

/** The stable name of an endpoint: its configured name (made file-safe), else a hash of its URL. */
export function endpointKey(e: RemoteWriteEndpoint): string {
  if (e.name) return e.name.replace(/[^A-Za-z0-9_.-]/g, '_');
  return createHash('sha256').update(e.url).digest('hex').slice(0, 6);
}

/** The headers one tenant's requests to `e` carry (besides the protocol's own). */
export function tenantHeaders(
  e: RemoteWriteEndpoint,
  tenant: string,
  addOrgIdHeader: boolean,
  overrides?: Readonly<Record<string, string>>,
): Record<string, string> {
  const headers: Record<string, string> = { ...e.headers, ...overrides };
  const hasOrgId = Object.keys(headers).some((k) => k.trim().toLowerCase() === ORG_ID_HEADER.toLowerCase());
  if (addOrgIdHeader && tenant !== SINGLE_TENANT && !hasOrgId) headers[ORG_ID_HEADER] = tenant;
  return headers;
}

export class RemoteWriter extends BasicService implements SampleAppender {
  readonly metrics: RemoteWriteMetrics;
  private readonly tenants = new Map<string, Tenant>();
  private readonly logger: Logger;
  private readonly o: Required<Omit<RemoteWriterOptions, 'tenantHeaders' | 'registry' | 'logger'>> & Pick<RemoteWriterOptions, 'tenantHeaders'>;
  private readonly keys: string[];
  private accepting = false;

  constructor(opts: RemoteWriterOptions) {
    super('remote-write');
    const maxQueueBytes = opts.maxQueueBytes ?? DEFAULTS.maxQueueBytes;
    this.o = Object.freeze({
      path: opts.path,
      endpoints: opts.endpoints,
      addOrgIdHeader: opts.addOrgIdHeader,
      flushDeadlineMs: opts.flushDeadlineMs,
      maxWalTimeMs: opts.maxWalTimeMs ?? DEFAULTS.maxWalTimeMs,
      maxQueueBytes,
      segmentBytes: Math.max(64 * 1024, Math.min(opts.segmentBytes ?? DEFAULTS.segmentBytes, Math.floor(maxQueueBytes / 4))),
      maxPendingBytes: opts.maxPendingBytes ?? DEFAULTS.maxPendingBytes,
      maxSamplesPerSend: opts.maxSamplesPerSend ?? DEFAULTS.maxSamplesPerSend,
      minBackoffMs: opts.minBackoffMs ?? DEFAULTS.minBackoffMs,
      maxBackoffMs: opts.maxBackoffMs ?? DEFAULTS.maxBackoffMs,
      tenantHeaders: opts.tenantHeaders,
      userAgent: opts.userAgent ?? 'Stave',
      now: opts.now ?? Date.now,
    });
    this.logger = opts.logger ?? nopLogger;
    this.metrics = new RemoteWriteMetrics(opts.registry ?? new Registry(), {
      queueBytes: () => [...this.tenants].flatMap(([tenant, t]) => (t.queue ? [{ tenant, bytes: t.queue.diskBytes }] : [])),
      pending: () => [...this.tenants.values()].flatMap((t) => t.senders.map((s) => s.pending())),
    });
    this.keys = [];
    const problems: string[] = [];
    for (const [i, e] of opts.endpoints.entries()) {
      let key = endpointKey(e);
      if (this.keys.includes(key)) key = `${key}-${i}`;
      this.keys.push(key);
      try {
        const u = new URL(e.url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`remote_write[${i}].url ${e.url}: only http and https are supported`);
      } catch {
        problems.push(`remote_write[${i}].url "${e.url}" is not a URL`);
      }
    }
    if (problems.length > 0) throw new Error(`metrics_generator.storage: ${problems.join('; ')}`);
  }

  protected override async starting(): Promise<void> {
    if (this.o.endpoints.length === 0) {
      this.logger.warn('metrics_generator.storage.remote_write lists no endpoint: generated metrics are not sent anywhere');
      this.accepting = true;
      return;
    }
    await mkdir(this.o.path, { recursive: true });
    // Resume every tenant that left records on disk.
    for (const name of await readdir(this.o.path)) {
      const isQueue = await stat(path.join(this.o.path, name, 'wal')).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isQueue || !validTenant(name)) continue;
      await this.tenant(name).opened;
    }
    this.accepting = true;
  }

  append(tenant: string, series: readonly Series[]): void {
    try {
      if (this.o.endpoints.length === 0) return;
      if (!this.accepting) {
        this.dropAll(tenant, DropReason.QueueFull, series);
        return;
      }
      if (!validTenant(tenant)) {
        this.logger.warn('remote write: append for an invalid tenant ID dropped', { tenant });
        return;
      }
      this.enqueue(tenant, encodeChunks(series, this.o.maxSamplesPerSend, this.sendsExemplars));
    } catch (err) {
      // Never throws into the generator: a bad series costs its own samples only.
      this.logger.error('remote write: append failed, samples dropped', { tenant, err: String(err) });
    }
  }

  /** Some endpoint has `send_exemplars`; when none has, exemplars are not encoded at all. */
  get sendsExemplars(): boolean {
    return this.o.endpoints.some((e) => e.sendExemplars === true);
  }

  private enqueue(tenant: string, chunks: readonly EncodedChunk[]): void {
    if (chunks.length === 0) return;
    const samples = chunks.reduce((n, c) => n + c.samples, 0);
    const exemplars = chunks.reduce((n, c) => n + c.exemplars, 0);
    this.metrics.samplesIn.inc({ tenant }, samples);
    if (exemplars > 0) this.metrics.exemplarsIn.inc({ tenant }, exemplars);
    const t = this.tenant(tenant);
    if (t.queue) {
      t.queue.enqueue(chunks);
      return;
    }
    for (const c of chunks) {
      if (t.earlyBytes + c.bytes.length > this.o.maxPendingBytes) {
        this.countDrop(tenant, DropReason.QueueFull, c.samples, c.exemplars);
        continue;
      }
      t.early.push(c);
      t.earlyBytes += c.bytes.length;
    }
  }

  /** Resolves when every tenant's queue is empty for every endpoint (tests and shutdown). */
  drained(): boolean {
    for (const t of this.tenants.values()) if (!t.queue || t.early.length > 0 || !t.queue.drained) return false;
    return true;
  }

  protected override async stopping(): Promise<void> {
    this.accepting = false;
    const tenants = [...this.tenants.values()];
    await Promise.allSettled(tenants.map((t) => t.opened));
    await Promise.allSettled(tenants.map((t) => t.queue?.flush() ?? Promise.resolve()));
    const deadline = Date.now() + this.o.flushDeadlineMs;
    while (!this.drained() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (!this.drained())
      this.logger.warn('remote write: flush deadline passed, unsent samples stay queued on disk for the next start', { deadline_ms: this.o.flushDeadlineMs });
    await Promise.allSettled(tenants.flatMap((t) => t.senders.map((s) => s.stop())));
    await Promise.allSettled(tenants.map((t) => t.queue?.close() ?? Promise.resolve()));
  }

  private tenant(tenant: string): Tenant {
    const t = this.tenants.get(tenant);
    if (t) return t;
    const state: Tenant = { queue: undefined, early: [], earlyBytes: 0, senders: [], opened: Promise.resolve() };
    this.tenants.set(tenant, state);
    state.opened = this.open(tenant, state);
    return state;
  }

  private async open(tenant: string, t: Tenant): Promise<void> {
    try {
      const queue = await TenantQueue.open({
        dir: path.join(this.o.path, tenant, 'wal'),
        endpoints: this.keys,
        segmentBytes: this.o.segmentBytes,
        maxBytes: this.o.maxQueueBytes,
        maxPendingBytes: this.o.maxPendingBytes,
        maxAgeMs: this.o.maxWalTimeMs,
        now: this.o.now,
        logger: this.logger,
        onDrop: (key, reason, samples, exemplars) => this.countDrop(tenant, reason, samples, exemplars, key),
      });
      t.queue = queue;
      const overrides = this.o.tenantHeaders?.(tenant);
      for (const [i, e] of this.o.endpoints.entries()) {
        const key = this.keys[i]!;
        const target: EndpointTarget = {
          key,
          name: e.name || key,
          url: e.url,
          headers: tenantHeaders(e, tenant, this.o.addOrgIdHeader, overrides),
          sendExemplars: e.sendExemplars ?? false,
          timeoutMs: e.remoteTimeoutMs ?? DEFAULTS.remoteTimeoutMs,
        };
        const sender = new EndpointSender({
          tenant,
          target,
          queue,
          metrics: this.metrics,
          logger: this.logger,
          maxSamplesPerSend: this.o.maxSamplesPerSend,
          maxBytesPerSend: MAX_BYTES_PER_SEND,
          minBackoffMs: this.o.minBackoffMs,
          maxBackoffMs: this.o.maxBackoffMs,
          userAgent: this.o.userAgent,
        });
        t.senders.push(sender);
        sender.start();
      }
      if (t.early.length > 0) queue.enqueue(t.early);
      t.early = [];
      t.earlyBytes = 0;
    } catch (err) {
      this.logger.error('remote write: could not open the tenant queue, its samples are dropped', { tenant, err: String(err) });
      for (const c of t.early) this.countDrop(tenant, DropReason.WriteFailed, c.samples, c.exemplars);
      t.early = [];
      this.tenants.delete(tenant);
    }
  }

  private countDrop(tenant: string, reason: DropReason, samples: number, exemplars: number, key?: string): void {
    const endpoints = key === undefined ? this.o.endpoints.map((e, i) => ({ e, key: this.keys[i]! })) : [{ e: this.o.endpoints[this.keys.indexOf(key)]!, key }];
    for (const { e, key: k } of endpoints) {
      if (!e) continue;
      const labels = { tenant, remote_name: e.name || k, url: e.url };
      if (samples > 0) this.metrics.samplesDropped.inc(labels, samples);
      if (exemplars > 0 && e.sendExemplars) this.metrics.exemplarsDropped.inc(labels, exemplars);
      if (samples > 0) this.metrics.droppedByReason.inc({ tenant, reason }, samples);
    }
  }

  private dropAll(tenant: string, reason: DropReason, series: readonly Series[]): void {
    let samples = 0;
    let exemplars = 0;
    for (const s of series) {
      samples += s.samples.length;
      exemplars += s.exemplars?.length ?? 0;
    }
    if (validTenant(tenant)) this.countDrop(tenant, reason, samples, exemplars);
  }
}

function validTenant(tenant: string): boolean {
  try {
    validateTenantID(tenant);
    return true;
  } catch {
    return false;
  }
}
