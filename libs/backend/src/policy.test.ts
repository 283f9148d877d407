// RequestPolicy: which failures are retried, how long it waits, what a deadline does, how hedging
// behaves — against a scripted fake request, with recorded sleeps instead of real waits.

import { Code, ConnectError, codeOf } from '@stave/core';
import { Registry } from 'prom-client';
import { BackendMetrics } from './metrics';
import { RequestPolicy, type RequestPolicyOptions } from './policy';

function policy(over: Partial<RequestPolicyOptions> = {}) {
  const registry = new Registry();
  const sleeps: number[] = [];
  const p = new RequestPolicy({
    backend: 'fake',
    metrics: new BackendMetrics(registry),
    timeoutMs: 0,
    maxRetries: 3,
    minBackoffMs: 100,
    maxBackoffMs: 1000,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...over,
  });
  const sample = async (line: string): Promise<number> => {
    const l = (await registry.metrics()).split('\n').find((x) => x.startsWith(line + ' '));
    return l ? Number(l.split(' ')[1]) : 0;
  };
  return { p, sleeps, sample };
}

/** A request that fails with the given codes in turn, then answers `ok`. */
function scripted(codes: Code[]) {
  let calls = 0;
  const fn = async (): Promise<string> => {
    const c = codes[calls++];
    if (c !== undefined) throw new ConnectError(`fake failure ${calls}`, c);
    return 'ok';
  };
  return { fn, calls: () => calls };
}

describe('RequestPolicy retries', () => {
  const retried: [string, Code][] = [
    ['unavailable (5xx, connection refused)', Code.Unavailable],
    ['throttled (429, SlowDown)', Code.ResourceExhausted],
    ['timed out', Code.DeadlineExceeded],
  ];
  it.each(retried)('retries %s', async (_name, c) => {
    const { p, sleeps } = policy();
    const s = scripted([c, c]);
    await expect(p.run('read', 'k', s.fn)).resolves.toBe('ok');
    expect(s.calls()).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  const final: [string, Code][] = [
    ['not found', Code.NotFound],
    ['out of range', Code.OutOfRange],
    ['permission denied', Code.PermissionDenied],
    ['invalid argument', Code.InvalidArgument],
    ['unknown', Code.Unknown],
    ['aborted (a racing commit)', Code.Aborted],
  ];
  it.each(final)('does not retry %s', async (_name, c) => {
    const { p, sleeps, sample } = policy();
    const s = scripted([c]);
    expect(codeOf(await p.run('read', 'k', s.fn).catch((e: unknown) => e))).toBe(c);
    expect(s.calls()).toBe(1);
    expect(sleeps).toEqual([]);
    expect(await sample('stave_backend_retries_total{operation="read"}')).toBe(0);
  });

  it('gives up after max_retries, keeping the code and naming the attempts', async () => {
    const { p } = policy({ maxRetries: 2 });
    const s = scripted([Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable]);
    const err = await p.run('write', 'bucket/k', s.fn).catch((e: unknown) => e as ConnectError);
    expect(codeOf(err)).toBe(Code.Unavailable);
    expect((err as Error).message).toMatch(/fake failure 3 \(gave up after 3 attempts over \d+ ms\)/);
    expect(s.calls()).toBe(3);
  });

  it('backs off exponentially up to max_period, jittered between half and all of each step', async () => {
    const lo = policy({ random: () => 0, maxRetries: 6 });
    const hi = policy({ random: () => 0.999999, maxRetries: 6 });
    const codes = Array.from({ length: 6 }, () => Code.Unavailable);
    await lo.p.run('read', 'k', scripted(codes).fn);
    await hi.p.run('read', 'k', scripted(codes).fn);
    expect(lo.sleeps).toEqual([50, 100, 200, 400, 500, 500]);
    expect(hi.sleeps).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('does not retry a request marked unrepeatable', async () => {
    const { p } = policy();
    const s = scripted([Code.Unavailable]);
    expect(codeOf(await p.run('write', 'k', s.fn, { retry: false }).catch((e: unknown) => e))).toBe(Code.Unavailable);
    expect(s.calls()).toBe(1);
  });

  it('records every attempt with its status', async () => {
    const { p, sample } = policy();
    await p.run('stat', 'k', scripted([Code.Unavailable, Code.ResourceExhausted]).fn);
    expect(await sample('tempodb_backend_request_duration_seconds_count{operation="stat",status_code="503"}')).toBe(1);
    expect(await sample('tempodb_backend_request_duration_seconds_count{operation="stat",status_code="429"}')).toBe(1);
    expect(await sample('tempodb_backend_request_duration_seconds_count{operation="stat",status_code="200"}')).toBe(1);
    expect(await sample('stave_backend_retries_total{operation="stat"}')).toBe(2);
  });
});

/** A request that never answers until its signal aborts, recording that it was aborted. */
function hanging(log: { aborted: number }) {
  return (signal: AbortSignal) =>
    new Promise<string>((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        log.aborted++;
        reject(new Error('aborted by signal'));
      });
    });
}

describe('RequestPolicy deadlines', () => {
  it('aborts an attempt at its deadline with DeadlineExceeded, and retries it', async () => {
    const { p, sample } = policy({ timeoutMs: 30, maxRetries: 1 });
    const log = { aborted: 0 };
    let calls = 0;
    const res = await p.run('read', 'k', (signal) => (++calls === 1 ? hanging(log)(signal) : Promise.resolve('second')));
    expect(res).toBe('second');
    expect(log.aborted).toBe(1);
    expect(await sample('tempodb_backend_request_duration_seconds_count{operation="read",status_code="504"}')).toBe(1);
  });

  it('does not wait for an SDK that ignores the signal', async () => {
    const { p } = policy({ timeoutMs: 30, maxRetries: 0 });
    const err = (await p.run('read', 'k', () => new Promise<string>(() => undefined)).catch((e: unknown) => e)) as Error;
    expect(codeOf(err)).toBe(Code.DeadlineExceeded);
    expect(err.message).toMatch(/fake: read k timed out after 30 ms/);
  });

  it('leaves a whole streamed upload without a deadline when asked', async () => {
    const { p } = policy({ timeoutMs: 10 });
    let fired = false;
    const res = await p.run(
      'write',
      'k',
      (signal) =>
        new Promise<string>((resolve) => {
          signal.addEventListener('abort', () => (fired = true));
          setTimeout(() => resolve('done'), 50);
        }),
      { timeout: false },
    );
    expect(res).toBe('done');
    expect(fired).toBe(false);
  });
});

describe('RequestPolicy hedging', () => {
  it('sends a second request after hedge_requests_at and takes the first answer, aborting the slow one', async () => {
    const { p, sample } = policy({ hedgeAtMs: 20, hedgeUpTo: 2 });
    const log = { aborted: 0 };
    let calls = 0;
    const res = await p.run('read_range', 'k', (signal) => (++calls === 1 ? hanging(log)(signal) : Promise.resolve('hedge')), { hedge: true });
    expect(res).toBe('hedge');
    expect(calls).toBe(2);
    expect(log.aborted).toBe(1);
    expect(await sample('tempodb_backend_hedged_roundtrips_total')).toBe(1);
  });

  it('sends no hedge when the first request answers in time', async () => {
    const { p, sample } = policy({ hedgeAtMs: 1000, hedgeUpTo: 3 });
    let calls = 0;
    await p.run('read', 'k', async () => (++calls, 'fast'), { hedge: true });
    expect(calls).toBe(1);
    expect(await sample('tempodb_backend_hedged_roundtrips_total')).toBe(0);
  });

  it('sends at most hedge_requests_up_to requests in flight', async () => {
    const { p } = policy({ hedgeAtMs: 5, hedgeUpTo: 3, timeoutMs: 100, maxRetries: 0 });
    const log = { aborted: 0 };
    let calls = 0;
    const err = await p.run('read', 'k', (signal) => (++calls, hanging(log)(signal)), { hedge: true }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.DeadlineExceeded);
    expect(calls).toBe(3);
  });

  it('settles at once on a final answer (NotFound) instead of waiting for hedges', async () => {
    const { p } = policy({ hedgeAtMs: 5, hedgeUpTo: 2 });
    const log = { aborted: 0 };
    let calls = 0;
    const err = await p
      .run('read', 'k', (signal) => (++calls === 1 ? hanging(log)(signal) : Promise.reject(new ConnectError('gone', Code.NotFound))), { hedge: true })
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.NotFound);
    expect(log.aborted).toBe(1);
  });

  it('does not hedge writes (run without hedge)', async () => {
    const { p } = policy({ hedgeAtMs: 1, hedgeUpTo: 3, timeoutMs: 50, maxRetries: 0 });
    let calls = 0;
    await p.run('write', 'k', (signal) => (++calls, hanging({ aborted: 0 })(signal))).catch(() => undefined);
    expect(calls).toBe(1);
  });
});
