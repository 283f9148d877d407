// The frontend worker and the Frontend.Process stream over a real Connect server on loopback: jobs flow,
// a frontend restart is survived by reconnecting, slow jobs are hedged onto another querier, and a querier
// that goes away mid-job has its job retried elsewhere.

import { create } from '@bufbuild/protobuf';
import { Frontend, TraceByIDResponseSchema, TraceSchema } from '@stave/proto';
import { traceByIDRequest } from '@stave/ingester';
import { ConnectServer, nopLogger } from '@stave/server';
import { frontendProcessHandler } from './frontend-stream';
import { RequestQueue, type JobAnswer, type JobRequest } from './queue';
import { FrontendWorker } from './worker';

const job: JobRequest = { case: 'traceById', value: traceByIDRequest({ tenant: 't', traceId: new Uint8Array(16) }) };
const found = (name: string): JobAnswer => ({
  case: 'traceById',
  value: create(TraceByIDResponseSchema, { trace: create(TraceSchema, { resourceSpans: [{ scopeSpans: [{ spans: [{ name }] }] }] }) }),
});
const spanName = (a: JobAnswer) => (a.case === 'traceById' ? a.value.trace?.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name : undefined);

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function frontendServer(queue: RequestQueue, port = 0): Promise<ConnectServer> {
  const s = new ConnectServer({ name: 'grpc', address: '127.0.0.1', port, maxRecvBytes: 1 << 20, maxSendBytes: 1 << 20, logger: nopLogger });
  s.register((r) => r.service(Frontend, { process: frontendProcessHandler(queue, nopLogger) }));
  await s.start();
  return s;
}

/** As the query-frontend module stops: the queue first (ending the workers' streams), then the server. */
async function stopFrontend(queue: RequestQueue, server: ConnectServer): Promise<void> {
  queue.stop();
  await server.stop();
}

function worker(addr: string, id: string, run: (j: JobRequest, signal: AbortSignal) => Promise<JobAnswer>): FrontendWorker {
  return new FrontendWorker({
    frontendAddress: addr,
    querierId: id,
    parallelism: 2,
    maxConcurrent: 2,
    matchMaxConcurrent: true,
    resolveIntervalMs: 60_000,
    resolve: (entry) => Promise.resolve({ addresses: [entry], errors: [] }),
    maxMessageBytes: 1 << 20,
    run,
    logger: nopLogger,
    minBackoffMs: 20,
    maxBackoffMs: 200,
  });
}

describe('FrontendWorker over Frontend.Process', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('runs jobs, and reconnects when the frontend restarts', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 10, maxRetries: 0 });
    let server = await frontendServer(queue);
    const port = server.address().port;
    const w = worker(`127.0.0.1:${port}`, 'q1', () => Promise.resolve(found('a')));
    await w.start();
    cleanup.push(() => w.stop());
    await until('the worker to connect', () => queue.connectedWorkers() === 1);
    expect(spanName(await queue.submit('t', job))).toBe('a');

    // A restart: the old server goes away with the stream still open.
    const stopping = server.stop();
    server.destroySessions();
    await stopping;
    await until('the frontend to see the worker go', () => queue.connectedWorkers() === 0);
    server = await frontendServer(queue, port);
    cleanup.push(() => stopFrontend(queue, server));
    await until('the worker to reconnect', () => queue.connectedWorkers() === 1);
    expect(spanName(await queue.submit('t', job))).toBe('a');
  });

  it('runs a batch of jobs concurrently, bounded by max_concurrent_queries, and answers every job of it', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0, maxBatchSize: 5 });
    const server = await frontendServer(queue);
    cleanup.push(() => stopFrontend(queue, server));
    let running = 0;
    let peak = 0;
    const w = worker(`127.0.0.1:${server.address().port}`, 'q1', async (j) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      return found(j.case === 'traceById' ? j.value.tenant : '?');
    });
    await w.start();
    cleanup.push(() => w.stop());
    await until('the worker to connect', () => queue.connectedWorkers() === 1);
    const tenants = Array.from({ length: 12 }, (_, i) => `t${i % 3}`);
    const answers = await Promise.all(
      tenants.map((t) => queue.submit(t, { case: 'traceById', value: traceByIDRequest({ tenant: t, traceId: new Uint8Array(16) }) })),
    );
    expect(answers.map(spanName)).toEqual(tenants);
    // Two batches in flight (parallelism 2) of up to five jobs, but never more than max_concurrent_queries (2) running.
    expect(peak).toBe(2);
  });

  it("lets a stopping frontend close: stopping the queue ends the workers' streams", async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 10, maxRetries: 0 });
    const server = await frontendServer(queue);
    const w = worker(`127.0.0.1:${server.address().port}`, 'q1', () => Promise.resolve(found('a')));
    await w.start();
    cleanup.push(() => w.stop());
    await until('the worker to connect', () => queue.connectedWorkers() === 1);
    queue.stop();
    // Graceful close waits for open streams: it finishes only because the queue ended them.
    await server.stop();
  });

  it('retries on another querier the job of a querier that goes away mid-job', async () => {
    const queue = new RequestQueue({ maxOutstandingPerTenant: 10, maxRetries: 2 });
    const server = await frontendServer(queue);
    cleanup.push(() => stopFrontend(queue, server));
    const addr = `127.0.0.1:${server.address().port}`;
    let started = 0;
    // This querier takes the job and never answers; it is then stopped (its stream closes).
    const stuck = worker(addr, 'stuck', () => {
      started++;
      return new Promise<JobAnswer>(() => undefined);
    });
    await stuck.start();
    await until('the stuck worker to connect', () => queue.connectedWorkers() === 1);
    const answer = queue.submit('t', job);
    await until('the job to start on the stuck querier', () => started === 1);
    const healthy = worker(addr, 'healthy', () => Promise.resolve(found('retried')));
    await healthy.start();
    cleanup.push(() => healthy.stop());
    await stuck.stop();
    expect(spanName(await answer)).toBe('retried');
  });
});
