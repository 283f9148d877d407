// Sends one tenant's queue to one remote write endpoint: one request in flight, records in queue order,
// each request retried byte for byte until it is acknowledged (2xx) or refused for good (4xx other than
// 429). Recoverable failures (5xx, 429, connection errors, timeouts) back off exponentially; the queue
// keeps taking appends meanwhile, within its bounds.

import type { Logger } from '@stave/core';
import { backoffDelay, retryAfterMs, sleep } from './backoff';
import { compress, withoutExemplars } from './encode';
import type { RemoteWriteMetrics } from './metrics';
import { DropReason, type Batch, type TenantQueue } from './queue';

/** One resolved remote write endpoint (url, headers and behaviour for one tenant). */
export interface EndpointTarget {
  /** The cursor name: stable across restarts for the same endpoint. */
  readonly key: string;
  /** The `remote_name` label: the configured name, else the key. */
  readonly name: string;
  readonly url: string;
  /** Every header to send besides the protocol's own (configured, per-tenant, X-Scope-OrgID). */
  readonly headers: Readonly<Record<string, string>>;
  readonly sendExemplars: boolean;
  readonly timeoutMs: number;
}

export interface SenderOptions {
  readonly tenant: string;
  readonly target: EndpointTarget;
  readonly queue: TenantQueue;
  readonly metrics: RemoteWriteMetrics;
  readonly logger: Logger;
  readonly maxSamplesPerSend: number;
  readonly maxBytesPerSend: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly userAgent: string;
}

export interface PendingSamples {
  readonly labels: { tenant: string; remote_name: string; url: string };
  readonly samples: number;
  readonly exemplars: number;
}

/** What a request's attempt came to. */
type Outcome = { kind: 'ok' } | { kind: 'retry'; status?: number; retryAfterMs?: number; error: string } | { kind: 'rejected'; status: number; error: string };

/** The answer to one attempt, decided by status code as remote write 1.0 says. */
export function classify(status: number): 'ok' | 'retry' | 'rejected' {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 429 || status >= 500) return 'retry';
  return 'rejected';
}

export class EndpointSender {
  private readonly labels: { tenant: string; remote_name: string; url: string };
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly o: SenderOptions) {
    this.labels = { tenant: o.tenant, remote_name: o.target.name, url: o.target.url };
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Stops at once: the request in flight is abandoned (its records stay queued for the next start). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let batch: Batch | undefined;
      try {
        batch = await this.o.queue.nextBatch(this.o.target.key, { maxSamples: this.o.maxSamplesPerSend, maxBytes: this.o.maxBytesPerSend });
      } catch (err) {
        // A segment deleted under the read (the byte cap dropped it): read again from the new position.
        this.o.logger.debug('remote write: queue read failed, retrying', { err: String(err) });
        await sleep(this.o.minBackoffMs, signal);
        continue;
      }
      if (!batch) {
        await this.o.queue.waitForData(signal);
        continue;
      }
      try {
        await this.send(batch, signal);
      } catch (err) {
        // Only the local disk can fail here (cursor writes); keep going, the next ack retries it.
        this.o.logger.error('remote write: could not record progress', { err: String(err) });
        await sleep(this.o.maxBackoffMs, signal);
      }
    }
  }

  private async send(batch: Batch, signal: AbortSignal): Promise<void> {
    const { target, queue, metrics } = this.o;
    await queue.beforeSend(target.key, batch);
    const body = this.body(batch);
    const exemplars = target.sendExemplars ? batch.exemplars : 0;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return;
      const outcome = await this.attempt(body, signal);
      if (signal.aborted) return;
      if (outcome.kind === 'ok') {
        metrics.samplesSent.inc(this.labels, batch.samples);
        if (exemplars > 0) metrics.exemplarsSent.inc(this.labels, exemplars);
        metrics.highestSent.set(this.labels, batch.newestMs / 1000);
        break;
      }
      if (outcome.kind === 'rejected') {
        this.o.logger.warn('remote write: request refused, its samples are dropped', {
          tenant: this.o.tenant,
          url: target.url,
          status: outcome.status,
          samples: batch.samples,
          error: outcome.error,
        });
        metrics.samplesFailed.inc(this.labels, batch.samples);
        if (exemplars > 0) metrics.exemplarsFailed.inc(this.labels, exemplars);
        metrics.droppedByReason.inc({ tenant: this.o.tenant, reason: DropReason.Rejected }, batch.samples);
        break;
      }
      metrics.samplesRetried.inc(this.labels, batch.samples);
      if (exemplars > 0) metrics.exemplarsRetried.inc(this.labels, exemplars);
      const delay = outcome.retryAfterMs ?? backoffDelay(attempt, { minMs: this.o.minBackoffMs, maxMs: this.o.maxBackoffMs });
      if (attempt === 0 || attempt % 20 === 0) {
        this.o.logger.warn('remote write: request failed, retrying', {
          tenant: this.o.tenant,
          url: target.url,
          status: outcome.status,
          error: outcome.error,
          attempt: attempt + 1,
          retry_in_ms: delay,
        });
      }
      await sleep(delay, signal);
    }
    await queue.ack(target.key, batch);
  }

  private body(batch: Batch): Uint8Array {
    const parts = batch.records.map((r) => (r.exemplars > 0 && !this.o.target.sendExemplars ? withoutExemplars(r.bytes) : r.bytes));
    return compress(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  private async attempt(body: Uint8Array, stop: AbortSignal): Promise<Outcome> {
    const { target, metrics } = this.o;
    const end = metrics.batchDuration.startTimer(this.labels);
    metrics.bytesSent.inc(this.labels, body.length);
    // One controller per attempt, unhooked from `stop` when the attempt ends: AbortSignal.any() left a
    // listener on `stop` per attempt, so a long outage's retries piled them up (MaxListenersExceededWarning).
    const ac = new AbortController();
    const onStop = (): void => ac.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => ac.abort(new Error(`remote_timeout (${target.timeoutMs} ms) passed`)), target.timeoutMs);
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: {
          ...target.headers,
          'Content-Encoding': 'snappy',
          'Content-Type': 'application/x-protobuf',
          'User-Agent': this.o.userAgent,
          'X-Prometheus-Remote-Write-Version': '0.1.0',
        },
        body,
        signal: ac.signal,
      });
      const text = await readPrefix(res, 512);
      const kind = classify(res.status);
      if (kind === 'ok') return { kind };
      if (kind === 'rejected') return { kind, status: res.status, error: text };
      const after = res.status === 429 ? retryAfterMs(res.headers.get('retry-after'), Date.now(), this.o.maxBackoffMs) : undefined;
      return { kind, status: res.status, retryAfterMs: after, error: text };
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      return { kind: 'retry', error: `${err instanceof Error ? err.message : String(err)}${cause}` };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      end();
    }
  }

  /** What this endpoint has yet to send, with its metric labels (read when metrics are collected). */
  pending(): PendingSamples {
    const p = this.o.queue.pendingFor(this.o.target.key);
    return { labels: this.labels, samples: p.samples, exemplars: this.o.target.sendExemplars ? p.exemplars : 0 };
  }
}

/** The first `max` bytes of a response body as text (for the log); the rest is discarded unread. */
async function readPrefix(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let got = 0;
  try {
    while (got < max) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.length;
    }
  } catch {
    // A body cut short says nothing more than its status.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(parts).subarray(0, max).toString('utf8').trim();
}
