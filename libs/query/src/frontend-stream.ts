// The query-frontend's side of `stave.v1 Frontend.Process`: a querier opens the stream and says hello; from
// then on the frontend sends it batches of jobs from the request queue (at most `parallelism` batches in
// flight) and the querier answers each batch with one JobResult per job. When the stream ends for any reason — the querier stopped,
// was killed, or the connection broke — its in-flight jobs are retried on other queriers.

import { createRouterTransport, type HandlerContext, type Transport } from '@connectrpc/connect';
import { create } from '@bufbuild/protobuf';
import { Frontend, FrontendBatchSchema, type FrontendBatch, type WorkerMessage } from '@stave/proto';
import { Code, ConnectError, type Logger } from '@stave/server';
import { AsyncChannel } from './channel';
import type { RequestQueue } from './queue';

/** Upper bound on a worker's declared parallelism: a bad hello must not reserve unbounded slots. */
const MAX_PARALLELISM = 1024;

export function frontendProcessHandler(queue: RequestQueue, logger: Logger) {
  return async function* process(requests: AsyncIterable<WorkerMessage>, context: HandlerContext): AsyncGenerator<FrontendBatch> {
    const it = requests[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return;
    if (first.value.payload.case !== 'hello') {
      throw new ConnectError('the first message on a Frontend.Process stream must be a WorkerHello', Code.InvalidArgument);
    }
    const hello = first.value.payload.value;
    const querierId = hello.querierId || 'unknown';
    const parallelism = Math.min(MAX_PARALLELISM, Math.max(1, hello.parallelism));
    const out = new AsyncChannel<FrontendBatch>();
    // Stopping the queue closes `out`, which ends this stream, so a stopping frontend is not held open by
    // its queriers (they reconnect elsewhere or when it is back).
    const conn = queue.connect(
      querierId,
      parallelism,
      (jobs) => out.push(create(FrontendBatchSchema, { jobs })),
      () => out.close(),
    );
    logger.info('querier worker connected', { querier: querierId, parallelism });
    let reason = 'stream closed by the querier';
    const onAbort = () => {
      reason = 'connection lost';
      out.close();
    };
    context.signal.addEventListener('abort', onAbort, { once: true });
    // Results are read beside the job stream; the reader never rejects, and its end closes `out`.
    void (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          if (r.value.payload.case === 'results') for (const result of r.value.payload.value.results) conn.complete(result);
        }
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      } finally {
        out.close();
      }
    })();
    try {
      yield* out;
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      conn.close(reason);
      logger.info('querier worker disconnected', { querier: querierId, reason });
    }
  };
}

/**
 * The same Frontend service on an in-process transport, for a querier in the frontend's own process (`all`,
 * `scalable-single-binary`): the worker and the handler run the same stream code as across machines, and
 * only the sockets and HTTP/2 framing are left out (per job they cost more than the job itself does).
 */
export function inProcessFrontendTransport(queue: RequestQueue, logger: Logger): Transport {
  return createRouterTransport(({ service }) => service(Frontend, { process: frontendProcessHandler(queue, logger) }));
}
