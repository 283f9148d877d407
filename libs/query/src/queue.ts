// The query-frontend's request queue, in the shape of Tempo's v1 frontend: one FIFO per tenant, bounded by
// `query_frontend.max_outstanding_per_tenant` (a job over it is refused with 429 `too many outstanding
// requests`), and jobs handed out round robin over the tenants that have work, so a tenant that floods the
// frontend delays another tenant by at most one job per hand-out.
//
// Queriers pull: each connected worker stream is a `WorkerConnection` with a number of slots (its
// `parallelism`); a free slot takes a batch of up to `query_frontend.max_batch_size` jobs of one tenant in
// one stream message, as Tempo's frontend batches them, and stays taken until the worker has answered every
// job of the batch. When a worker
// goes away (stream closed, querier killed), its in-flight jobs go back to the front of their tenant's queue
// and are retried on another querier, up to `query_frontend.max_retries` times; so is a job that failed
// with a 5xx. A caller that gives up (deadline, client gone) removes its queued jobs; answers that arrive
// for it later are dropped.

import { create } from '@bufbuild/protobuf';
import { FrontendMessageSchema, type FrontendMessage, type JobResult } from '@stave/proto';
import { Code, ConnectError, httpStatusOf } from '@stave/server';
import { Gauge, Histogram, Counter, type Registry } from 'prom-client';

/** What a job asks a querier to do: the `job` oneof of a FrontendMessage. */
export type JobRequest = FrontendMessage['job'];
/** A successful job's answer: the `outcome` oneof of a JobResult, minus the error case. */
export type JobAnswer = Exclude<JobResult['outcome'], { case: 'error' } | { case: undefined }>;

export const TOO_MANY_OUTSTANDING = 'too many outstanding requests';

export interface RequestQueueOptions {
  maxOutstandingPerTenant: number;
  maxRetries: number;
  /** `query_frontend.max_batch_size`: jobs of one tenant sent to a querier in one message (default 1). */
  maxBatchSize?: number;
  registry?: Registry;
}

/** Jobs handed to a worker together: its slot is free again once all are answered or gone. */
interface Batch {
  remaining: number;
}

interface Job {
  readonly id: string;
  readonly tenant: string;
  readonly request: JobRequest;
  readonly enqueuedAt: number;
  /** Times handed to a worker. */
  attempts: number;
  worker: WorkerConnection | undefined;
  /** The batch the job went out in, while it is in flight. */
  batch: Batch | undefined;
  done: boolean;
  resolve(a: JobAnswer): void;
  reject(e: ConnectError): void;
}

/** A querier's JobError status → the code the frontend answers with: the one code → status table, inverted. */
function codeForStatus(status: number): Code {
  for (const code of Object.values(Code)) if (typeof code === 'number' && httpStatusOf(code) === status) return code;
  return status >= 500 ? Code.Internal : Code.InvalidArgument;
}

/** One querier worker stream, as the queue sees it. */
export class WorkerConnection {
  readonly inFlight = new Map<string, Job>();
  /** Batches in flight: each holds one of `parallelism` slots. */
  batches = 0;
  closed = false;

  constructor(
    private readonly queue: RequestQueue,
    readonly querierId: string,
    readonly parallelism: number,
    /** Hands a batch of jobs to the stream; throws if the stream cannot take it (the jobs are then retried elsewhere). */
    readonly send: (jobs: FrontendMessage[]) => void,
    /** Ends the stream when the queue lets go of the worker first (the frontend is stopping). */
    readonly onClose: () => void = () => undefined,
  ) {}

  /** The worker's answer to one job (of a batch). Answers for unknown or abandoned jobs are ignored. */
  complete(result: JobResult): void {
    this.queue.complete(this, result);
  }

  /** The stream is gone: in-flight jobs are retried on other workers. Safe to call twice. */
  close(reason: string): void {
    this.queue.disconnect(this, reason);
  }
}

export class RequestQueue {
  private readonly queues = new Map<string, Job[]>();
  /** Tenants with queued jobs, in round-robin order; `cursor` is the next one to serve. */
  private readonly order: string[] = [];
  private cursor = 0;
  private readonly workers: WorkerConnection[] = [];
  private workerCursor = 0;
  private nextId = 0;
  private stopped = false;
  private readonly queueLength: Gauge<'user'> | undefined;
  private readonly discarded: Counter<'user'> | undefined;
  private readonly queueDuration: Histogram | undefined;
  private readonly retries: Histogram | undefined;

  constructor(private readonly opts: RequestQueueOptions) {
    const registers = opts.registry ? [opts.registry] : [];
    if (opts.registry) {
      // Tempo's v1 frontend metric names and labels (`user` is the tenant), so its dashboards work.
      this.queueLength = new Gauge({ name: 'tempo_query_frontend_queue_length', help: 'Number of queries in the queue.', labelNames: ['user'], registers });
      this.discarded = new Counter({
        name: 'tempo_query_frontend_discarded_requests_total',
        help: 'Total number of query requests discarded.',
        labelNames: ['user'],
        registers,
      });
      this.queueDuration = new Histogram({ name: 'tempo_query_frontend_queue_duration_seconds', help: 'Time spend by requests queued.', registers });
      this.retries = new Histogram({
        name: 'tempo_query_frontend_retries',
        help: 'Number of times a request is retried.',
        buckets: [0, 1, 2, 3, 4, 5],
        registers,
      });
      const workers = this.workers;
      new Gauge({
        name: 'tempo_query_frontend_connected_clients',
        help: 'Number of worker clients currently connected to the frontend.',
        registers,
        collect() {
          this.set(workers.length);
        },
      });
    }
  }

  /** Worker streams connected now. */
  connectedWorkers(): number {
    return this.workers.length;
  }

  /** Jobs waiting for a worker (one tenant's, or all). */
  length(tenant?: string): number {
    if (tenant !== undefined) return this.queues.get(tenant)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /**
   * Queues one job for `tenant` and resolves with a querier's answer. Rejects at once with 429 when the
   * tenant already has `max_outstanding_per_tenant` jobs waiting; rejects with the signal's reason when it
   * aborts first (the job leaves the queue).
   */
  submit(tenant: string, request: JobRequest, signal?: AbortSignal): Promise<JobAnswer> {
    if (this.stopped) return Promise.reject(new ConnectError('the query-frontend is shutting down', Code.Unavailable));
    if (signal?.aborted) return Promise.reject(ConnectError.from(signal.reason));
    const q = this.queues.get(tenant) ?? [];
    if (q.length >= this.opts.maxOutstandingPerTenant) {
      this.discarded?.inc({ user: tenant });
      return Promise.reject(new ConnectError(TOO_MANY_OUTSTANDING, Code.ResourceExhausted));
    }
    return new Promise<JobAnswer>((resolve, reject) => {
      const job: Job = {
        id: String(++this.nextId),
        tenant,
        request,
        enqueuedAt: performance.now(),
        attempts: 0,
        worker: undefined,
        batch: undefined,
        done: false,
        resolve: (a) => {
          cleanup();
          resolve(a);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => this.abandon(job, ConnectError.from(signal!.reason));
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.push(job, false);
      this.pump();
    });
  }

  /** A new worker stream with `parallelism` slots. */
  connect(querierId: string, parallelism: number, send: (jobs: FrontendMessage[]) => void, onClose?: () => void): WorkerConnection {
    const w = new WorkerConnection(this, querierId, Math.max(1, parallelism), send, onClose);
    if (this.stopped) {
      w.close('the query-frontend is shutting down');
      return w;
    }
    this.workers.push(w);
    this.pump();
    return w;
  }

  /** Refuses new jobs and fails every waiting and in-flight one with 503. */
  stop(): void {
    this.stopped = true;
    const err = new ConnectError('the query-frontend is shutting down', Code.Unavailable);
    for (const q of this.queues.values()) for (const j of q) this.finish(j, () => j.reject(err));
    this.queues.clear();
    this.order.length = 0;
    for (const w of [...this.workers]) {
      for (const j of w.inFlight.values()) this.finish(j, () => j.reject(err));
      this.disconnect(w, 'stopping');
    }
    this.updateLengths();
  }

  /** @internal WorkerConnection.complete */
  complete(w: WorkerConnection, result: JobResult): void {
    const job = w.inFlight.get(result.jobId);
    if (!job) return;
    w.inFlight.delete(result.jobId);
    this.release(w, job);
    const o = result.outcome;
    if (o.case === 'error') {
      const status = o.value.httpStatus;
      const err = new ConnectError(o.value.message, codeForStatus(status));
      // Tempo's retry middleware retries 5xx answers (a querier that lost an ingester may succeed on a
      // retry); 4xx are the request's fault and 429/503 only get worse when retried at once.
      if (status >= 500 && status !== 503 && status !== 504) this.retryOrFail(job, err);
      else this.finish(job, () => job.reject(err));
    } else if (o.case === undefined) {
      this.finish(job, () => job.reject(new ConnectError(`querier ${w.querierId} answered job ${result.jobId} with no outcome`, Code.Internal)));
    } else {
      this.finish(job, () => job.resolve(o));
    }
    this.pump();
  }

  /** @internal WorkerConnection.close */
  disconnect(w: WorkerConnection, reason: string): void {
    if (w.closed) return;
    w.closed = true;
    w.onClose();
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    const jobs = [...w.inFlight.values()];
    w.inFlight.clear();
    w.batches = 0;
    for (const j of jobs) {
      j.worker = undefined;
      j.batch = undefined;
      this.retryOrFail(j, new ConnectError(`querier ${w.querierId} went away during the job (${reason})`, Code.Unavailable));
    }
    this.pump();
  }

  /** The job is no longer in flight on `w`: its batch's slot frees once the batch's last job is. */
  private release(w: WorkerConnection, job: Job): void {
    job.worker = undefined;
    const b = job.batch;
    job.batch = undefined;
    if (b && --b.remaining === 0) w.batches--;
  }

  private retryOrFail(job: Job, err: ConnectError): void {
    if (job.done) return;
    if (job.attempts > this.opts.maxRetries || this.stopped) {
      const msg =
        this.opts.maxRetries > 0 ? `${err.rawMessage} (after ${job.attempts} attempts, query_frontend.max_retries ${this.opts.maxRetries})` : err.rawMessage;
      this.finish(job, () => job.reject(new ConnectError(msg, err.code)));
      return;
    }
    // Retried jobs go first: they were admitted already and have waited longest.
    this.push(job, true);
  }

  private abandon(job: Job, err: ConnectError): void {
    if (job.done) return;
    const q = this.queues.get(job.tenant);
    const i = q ? q.indexOf(job) : -1;
    if (q && i >= 0) {
      q.splice(i, 1);
      if (q.length === 0) this.dropTenant(job.tenant);
      this.updateLengths(job.tenant);
    }
    // An in-flight job keeps its worker slot until the worker answers: the querier is still busy with it.
    this.finish(job, () => job.reject(err));
  }

  private finish(job: Job, settle: () => void): void {
    if (job.done) return;
    job.done = true;
    if (job.attempts > 0) this.retries?.observe(job.attempts - 1);
    settle();
  }

  private push(job: Job, front: boolean): void {
    let q = this.queues.get(job.tenant);
    if (!q) {
      q = [];
      this.queues.set(job.tenant, q);
    }
    if (q.length === 0 && !this.order.includes(job.tenant)) this.order.push(job.tenant);
    if (front) q.unshift(job);
    else q.push(job);
    this.updateLengths(job.tenant);
  }

  private dropTenant(tenant: string): void {
    this.queues.delete(tenant);
    const i = this.order.indexOf(tenant);
    if (i < 0) return;
    this.order.splice(i, 1);
    if (i < this.cursor) this.cursor--;
    if (this.cursor >= this.order.length) this.cursor = 0;
  }

  /** The next tenant's next jobs (up to `max`), round robin over tenants with work. */
  private take(max: number): Job[] {
    while (this.order.length > 0) {
      if (this.cursor >= this.order.length) this.cursor = 0;
      const tenant = this.order[this.cursor]!;
      const q = this.queues.get(tenant);
      const jobs = q ? q.splice(0, max) : [];
      if (!q || q.length === 0) this.dropTenant(tenant);
      else this.cursor++;
      if (jobs.length > 0) {
        this.updateLengths(tenant);
        return jobs;
      }
    }
    return [];
  }

  /** A worker with a free slot, round robin so load spreads over queriers. */
  private freeWorker(): WorkerConnection | undefined {
    for (let n = 0; n < this.workers.length; n++) {
      const i = (this.workerCursor + n) % this.workers.length;
      const w = this.workers[i]!;
      if (w.batches < w.parallelism) {
        this.workerCursor = (i + 1) % this.workers.length;
        return w;
      }
    }
    return undefined;
  }

  /** Hands batches of queued jobs to free worker slots until either runs out. */
  private pump(): void {
    const max = Math.max(1, this.opts.maxBatchSize ?? 1);
    for (;;) {
      if (this.order.length === 0) return;
      const w = this.freeWorker();
      if (!w) return;
      const jobs = this.take(max);
      if (jobs.length === 0) return;
      const batch: Batch = { remaining: jobs.length };
      w.batches++;
      const now = performance.now();
      for (const job of jobs) {
        job.attempts++;
        job.worker = w;
        job.batch = batch;
        w.inFlight.set(job.id, job);
        this.queueDuration?.observe((now - job.enqueuedAt) / 1000);
      }
      try {
        w.send(jobs.map((job) => create(FrontendMessageSchema, { jobId: job.id, job: job.request })));
      } catch (err) {
        // The stream is gone: this worker's jobs, this one included, go to the others.
        this.disconnect(w, err instanceof Error ? err.message : String(err));
      }
    }
  }

  private updateLengths(tenant?: string): void {
    if (!this.queueLength) return;
    if (tenant !== undefined) this.queueLength.set({ user: tenant }, this.length(tenant));
    else this.queueLength.reset();
  }
}
