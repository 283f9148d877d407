import { create } from '@bufbuild/protobuf';
import { JobResultSchema, TraceByIDResponseSchema, type FrontendMessage } from '@stave/proto';
import { traceByIDRequest } from '@stave/ingester';
import { Code, ConnectError } from '@stave/server';
import { Registry } from 'prom-client';
import { RequestQueue, TOO_MANY_OUTSTANDING, type JobRequest } from './queue';

const job = (tenant: string): JobRequest => ({ case: 'traceById', value: traceByIDRequest({ tenant, traceId: new Uint8Array(16) }) });
const answer = (jobId: string) => create(JobResultSchema, { jobId, outcome: { case: 'traceById', value: create(TraceByIDResponseSchema, {}) } });
const failure = (jobId: string, httpStatus: number) =>
  create(JobResultSchema, { jobId, outcome: { case: 'error', value: { httpStatus, message: `failed ${httpStatus}` } } });
const tenantOf = (m: FrontendMessage) => (m.job.case === 'traceById' ? m.job.value.tenant : '?');

async function codeOf(p: Promise<unknown>): Promise<Code | 'resolved'> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe('RequestQueue', () => {
  it('hands jobs out round robin over the tenants that have work', () => {
    const sent: FrontendMessage[] = [];
    const q2 = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    for (let i = 0; i < 6; i++) void q2.submit('flood', job('flood')).catch(() => undefined);
    void q2.submit('b', job('b')).catch(() => undefined);
    void q2.submit('c', job('c')).catch(() => undefined);
    void q2.submit('b', job('b')).catch(() => undefined);
    const w2 = q2.connect('q1', 1, (jobs) => sent.push(...jobs));
    for (let i = 0; i < 9; i++) w2.complete(answer(sent[sent.length - 1]!.jobId));
    expect(sent.map(tenantOf)).toEqual(['flood', 'b', 'c', 'flood', 'b', 'flood', 'flood', 'flood', 'flood']);
    expect(q2.length()).toBe(0);
  });

  it('refuses a tenant over max_outstanding_per_tenant with 429 while other tenants are admitted', async () => {
    const registry = new Registry();
    const q = new RequestQueue({ maxOutstandingPerTenant: 3, maxRetries: 0, registry });
    for (let i = 0; i < 3; i++) void q.submit('a', job('a')).catch(() => undefined);
    const over = q.submit('a', job('a'));
    await expect(over).rejects.toThrow(TOO_MANY_OUTSTANDING);
    expect(await codeOf(over)).toBe(Code.ResourceExhausted);
    const other = q.submit('b', job('b'));
    const sent: FrontendMessage[] = [];
    const w = q.connect('q1', 10, (jobs) => sent.push(...jobs));
    expect(sent).toHaveLength(4);
    const forB = sent.find((m) => tenantOf(m) === 'b')!;
    w.complete(answer(forB.jobId));
    expect(await codeOf(other)).toBe('resolved');
    const text = await registry.metrics();
    expect(text).toContain('tempo_query_frontend_discarded_requests_total{user="a"} 1');
    expect(text).toContain('tempo_query_frontend_connected_clients 1');
  });

  it('never gives a worker more jobs than its parallelism', () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    for (let i = 0; i < 10; i++) void q.submit('a', job('a')).catch(() => undefined);
    const sent: FrontendMessage[] = [];
    const w = q.connect('q1', 3, (jobs) => sent.push(...jobs));
    expect(sent).toHaveLength(3);
    expect(q.length('a')).toBe(7);
    w.complete(answer(sent[0]!.jobId));
    expect(sent).toHaveLength(4);
  });

  it('retries the jobs of a worker that goes away on another worker, up to max_retries', async () => {
    const registry = new Registry();
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 1, registry });
    const p = q.submit('a', job('a'));
    const toFirst: FrontendMessage[] = [];
    const first = q.connect('q1', 1, (jobs) => toFirst.push(...jobs));
    expect(toFirst).toHaveLength(1);
    first.close('killed');
    const toSecond: FrontendMessage[] = [];
    const second = q.connect('q2', 1, (jobs) => toSecond.push(...jobs));
    expect(toSecond).toHaveLength(1);
    // The answer of the lost worker, arriving late, is ignored; the retry's answer counts.
    first.complete(answer(toFirst[0]!.jobId));
    second.complete(answer(toSecond[0]!.jobId));
    expect(await codeOf(p)).toBe('resolved');
    expect(await registry.metrics()).toMatch(/tempo_query_frontend_retries_bucket\{le="1"\} 1/);

    const lost = q.submit('a', job('a'));
    const toThird: FrontendMessage[] = [];
    const third = q.connect('q3', 1, (jobs) => toThird.push(...jobs));
    second.close('killed');
    expect(toThird).toHaveLength(1);
    third.close('killed');
    // Handed to q2, retried on q3, lost twice: over max_retries 1 it fails with 503 naming why.
    await expect(lost).rejects.toThrow(/went away during the job/);
    expect(await codeOf(lost)).toBe(Code.Unavailable);
  });

  it('retries a 5xx answer but passes 4xx and overload answers through', async () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 2 });
    const sent: FrontendMessage[] = [];
    const w = q.connect('q1', 1, (jobs) => sent.push(...jobs));
    const p = q.submit('a', job('a'));
    w.complete(failure(sent[0]!.jobId, 500));
    expect(sent).toHaveLength(2);
    w.complete(answer(sent[1]!.jobId));
    expect(await codeOf(p)).toBe('resolved');
    for (const [status, code] of [
      [400, Code.InvalidArgument],
      [429, Code.ResourceExhausted],
      [503, Code.Unavailable],
    ] as const) {
      const r = q.submit('a', job('a'));
      w.complete(failure(sent[sent.length - 1]!.jobId, status));
      expect(await codeOf(r)).toBe(code);
    }
  });

  it('takes a job off the queue when its caller gives up', async () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 0 });
    const ac = new AbortController();
    const p = q.submit('a', job('a'), ac.signal);
    expect(q.length('a')).toBe(1);
    ac.abort(new ConnectError('deadline', Code.DeadlineExceeded));
    expect(await codeOf(p)).toBe(Code.DeadlineExceeded);
    expect(q.length('a')).toBe(0);
    const sent: FrontendMessage[] = [];
    q.connect('q1', 1, (jobs) => sent.push(...jobs));
    expect(sent).toHaveLength(0);
  });

  it('moves jobs on when handing one to a stream fails', async () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 1 });
    const broken = q.connect('q1', 1, () => {
      throw new Error('stream closed');
    });
    const p = q.submit('a', job('a'));
    expect(broken.closed).toBe(true);
    const sent: FrontendMessage[] = [];
    const w = q.connect('q2', 1, (jobs) => sent.push(...jobs));
    w.complete(answer(sent[0]!.jobId));
    expect(await codeOf(p)).toBe('resolved');
  });

  it('fails waiting and in-flight jobs with 503 when stopped', async () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 3 });
    q.connect('q1', 1, () => undefined);
    const inFlight = q.submit('a', job('a'));
    const waiting = q.submit('a', job('a'));
    q.stop();
    expect(await codeOf(inFlight)).toBe(Code.Unavailable);
    expect(await codeOf(waiting)).toBe(Code.Unavailable);
    expect(await codeOf(q.submit('a', job('a')))).toBe(Code.Unavailable);
  });

  it('sends up to max_batch_size jobs of one tenant in one message, and frees the slot once the whole batch is answered', async () => {
    const q = new RequestQueue({ maxOutstandingPerTenant: 100, maxRetries: 1, maxBatchSize: 3 });
    const done: Array<Promise<Code | 'resolved'>> = [];
    for (let i = 0; i < 4; i++) done.push(codeOf(q.submit('a', job('a'))));
    done.push(codeOf(q.submit('b', job('b'))));
    const batches: FrontendMessage[][] = [];
    const w = q.connect('q1', 1, (jobs) => batches.push(jobs));
    // One slot, one batch: three of a's jobs, none of b's.
    expect(batches.map((b) => b.map(tenantOf))).toEqual([['a', 'a', 'a']]);
    w.complete(answer(batches[0]![0]!.jobId));
    w.complete(answer(batches[0]![1]!.jobId));
    expect(batches).toHaveLength(1);
    w.complete(answer(batches[0]![2]!.jobId));
    // Round robin over tenants: b's job next, then a's last one.
    expect(batches.map((b) => b.map(tenantOf))).toEqual([['a', 'a', 'a'], ['b']]);
    w.complete(answer(batches[1]![0]!.jobId));
    expect(batches[2]!.map(tenantOf)).toEqual(['a']);
    // The worker dies holding that batch: its job is retried whole on the next worker.
    w.close('killed');
    const retried: FrontendMessage[][] = [];
    const w2 = q.connect('q2', 1, (jobs) => retried.push(jobs));
    expect(retried).toHaveLength(1);
    w2.complete(answer(retried[0]![0]!.jobId));
    expect(await Promise.all(done)).toEqual(['resolved', 'resolved', 'resolved', 'resolved', 'resolved']);
  });
});
