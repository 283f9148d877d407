// The querier's frontend worker (`querier.frontend_worker`), as Tempo's: it resolves `frontend_address`
// (host:port, or dns+/dnssrv+ names, re-resolved every `dns_lookup_duration`), keeps one
// `stave.v1 Frontend.Process` stream open to every frontend found, and runs the jobs they send. Each stream
// declares a `parallelism`; with `match_max_concurrent` the streams split `querier.max_concurrent_queries`
// between them instead, as Tempo does. Every job also takes a slot of `max_concurrent_queries`, so the
// querier as a whole never runs more than that at once. A stream that breaks (frontend restarted or gone)
// is reopened with jittered exponential backoff; jobs it carried are retried by the frontend elsewhere.

import { create } from '@bufbuild/protobuf';
import { createClient, type Transport } from '@connectrpc/connect';
import { Frontend, JobResultSchema, WorkerMessageSchema, type FrontendBatch, type FrontendMessage, type JobResult, type WorkerMessage } from '@stave/proto';
import { BasicService, ConnectError, grpcTransport, httpStatusOf, type Logger } from '@stave/server';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AsyncChannel } from './channel';
import type { JobAnswer, JobRequest } from './queue';

export interface FrontendWorkerOptions {
  /** `querier.frontend_worker.frontend_address`: one entry in the ring's discovery forms. */
  frontendAddress: string;
  /**
   * This process's own frontend, used when `frontendAddress` is empty: in `all` and
   * `scalable-single-binary` the querier pulls from its own process's frontend over the same stream a
   * remote querier uses (its address, or a name that `transport` maps to an in-process transport). Absent
   * for `-target=querier`, which then runs no jobs.
   */
  selfAddress?: () => string;
  querierId: string;
  parallelism: number;
  maxConcurrent: number;
  matchMaxConcurrent: boolean;
  /** How often the address is resolved again (`dns_lookup_duration`). */
  resolveIntervalMs: number;
  /** Resolves the address to "host:port" entries (the ring's discovery). */
  resolve: (entry: string) => Promise<{ addresses: string[]; errors: string[] }>;
  /** Largest message either way on the stream (a job's answer can be a whole trace). */
  maxMessageBytes: number;
  /** A Connect transport to one frontend; undefined (or no function) means gRPC over HTTP/2 cleartext. */
  transport?: (address: string) => Transport | undefined;
  /** Runs one job; rejects with a ConnectError whose code becomes the JobError's HTTP status. */
  run: (job: JobRequest, signal: AbortSignal) => Promise<JobAnswer>;
  logger: Logger;
  registry?: Registry;
  /** Backoff between reconnects: from `minBackoffMs` doubling to `maxBackoffMs`, jittered. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A counting semaphore over `querier.max_concurrent_queries`. */
class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly size: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.size) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }
}

export class FrontendWorker extends BasicService {
  private readonly slots: Slots;
  private readonly streams = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private readonly jobs: Counter<'result'> | undefined;
  private readonly inFlight: Gauge | undefined;
  private readonly connected: Gauge | undefined;

  constructor(private readonly opts: FrontendWorkerOptions) {
    super('frontend-worker');
    this.slots = new Slots(opts.maxConcurrent);
    if (opts.registry) {
      const registers = [opts.registry];
      this.jobs = new Counter({ name: 'stave_querier_jobs_total', help: 'Jobs run for query-frontends, by result.', labelNames: ['result'], registers });
      this.inFlight = new Gauge({ name: 'stave_querier_jobs_in_flight', help: 'Jobs running now.', registers });
      this.connected = new Gauge({ name: 'stave_querier_frontend_streams', help: 'Frontend.Process streams open to query-frontends.', registers });
    }
  }

  protected override async starting(): Promise<void> {
    if (this.opts.frontendAddress === '' && !this.opts.selfAddress) {
      this.opts.logger.warn('querier.frontend_worker.frontend_address is empty: this querier connects to no query-frontend and runs no queries');
      return;
    }
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.resolveIntervalMs);
    this.timer.unref();
  }

  protected override async stopping(): Promise<void> {
    clearInterval(this.timer);
    for (const ac of this.streams.values()) ac.abort();
    this.streams.clear();
  }

  /** Opens streams to frontends that appeared and closes those to frontends no longer resolved. */
  private async refresh(): Promise<void> {
    let found: { addresses: string[]; errors: string[] };
    try {
      if (this.opts.frontendAddress !== '') found = await this.opts.resolve(this.opts.frontendAddress);
      else if (this.opts.selfAddress) found = { addresses: [this.opts.selfAddress()], errors: [] };
      else found = { addresses: [], errors: [] };
    } catch (err) {
      found = { addresses: [], errors: [String(err)] };
    }
    for (const e of found.errors) this.opts.logger.warn('query-frontend address not resolved', { frontend_address: this.opts.frontendAddress, err: e });
    // Keep the streams we have if resolution failed outright: a DNS hiccup must not drop every frontend.
    if (found.addresses.length === 0 && found.errors.length > 0) return;
    const want = new Set(found.addresses);
    for (const [addr, ac] of this.streams) {
      if (!want.has(addr)) {
        ac.abort();
        this.streams.delete(addr);
      }
    }
    const all = [...want];
    all.forEach((addr, i) => {
      if (this.streams.has(addr)) return;
      const ac = new AbortController();
      this.streams.set(addr, ac);
      void this.loop(addr, this.parallelismFor(i, all.length), ac.signal);
    });
  }

  /** Tempo's split: with match_max_concurrent, max_concurrent_queries spread over the frontends. */
  private parallelismFor(index: number, frontends: number): number {
    if (!this.opts.matchMaxConcurrent) return this.opts.parallelism;
    const base = Math.floor(this.opts.maxConcurrent / frontends);
    return Math.max(1, base + (index < this.opts.maxConcurrent % frontends ? 1 : 0));
  }

  private async loop(addr: string, parallelism: number, signal: AbortSignal): Promise<void> {
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 2000;
    let backoff = min;
    while (!signal.aborted) {
      const t0 = Date.now();
      try {
        await this.session(addr, parallelism, signal);
      } catch (err) {
        if (!signal.aborted) this.opts.logger.warn('query-frontend stream ended; reconnecting', { frontend: addr, err: String(err) });
      }
      if (signal.aborted) return;
      // A stream that lived a while was healthy: start the backoff over.
      if (Date.now() - t0 > 10 * max) backoff = min;
      await sleep(backoff / 2 + Math.random() * (backoff / 2), signal);
      backoff = Math.min(max, backoff * 2);
    }
  }

  private async session(addr: string, parallelism: number, outer: AbortSignal): Promise<void> {
    const max = this.opts.maxMessageBytes;
    // HTTP/2 pings find a frontend that vanished without closing the connection (a partition, a dead
    // machine): the stream then fails and is reopened, instead of waiting for jobs that never come.
    const transport =
      this.opts.transport?.(addr) ??
      grpcTransport({ baseUrl: `http://${addr}`, readMaxBytes: max, writeMaxBytes: max, pingIntervalMs: 10_000, pingTimeoutMs: 5_000 });
    const client = createClient(Frontend, transport);
    const ac = new AbortController();
    const stop = () => ac.abort();
    outer.addEventListener('abort', stop, { once: true });
    const out = new AsyncChannel<WorkerMessage>();
    out.push(create(WorkerMessageSchema, { payload: { case: 'hello', value: { querierId: this.opts.querierId, parallelism } } }));
    this.connected?.inc();
    try {
      for await (const batch of client.process(out, { signal: ac.signal })) void this.runBatch(batch, out, ac.signal);
    } finally {
      this.connected?.dec();
      outer.removeEventListener('abort', stop);
      ac.abort();
      out.close();
    }
  }

  /** Runs a batch's jobs concurrently (each taking a slot of max_concurrent_queries) and answers them in one message. */
  private async runBatch(batch: FrontendBatch, out: AsyncChannel<WorkerMessage>, signal: AbortSignal): Promise<void> {
    const results = await Promise.all(batch.jobs.map((msg) => this.runJob(msg, signal)));
    // The stream may have closed meanwhile: the frontend retries the jobs elsewhere, so the answers are dropped.
    if (!out.isClosed) out.push(create(WorkerMessageSchema, { payload: { case: 'results', value: { results } } }));
  }

  private async runJob(msg: FrontendMessage, signal: AbortSignal): Promise<JobResult> {
    await this.slots.acquire();
    this.inFlight?.inc();
    try {
      const answer = await this.opts.run(msg.job, signal);
      this.jobs?.inc({ result: 'success' });
      return create(JobResultSchema, { jobId: msg.jobId, outcome: answer });
    } catch (err) {
      const e = ConnectError.from(err);
      const status = httpStatusOf(e.code);
      this.jobs?.inc({ result: String(status) });
      return create(JobResultSchema, { jobId: msg.jobId, outcome: { case: 'error', value: { httpStatus: status, message: e.rawMessage } } });
    } finally {
      this.inFlight?.dec();
      this.slots.release();
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
