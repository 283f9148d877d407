// server.reserve_event_loop_cpu (on by default) on a real bin/stave -target=all: every thread but the main
// one ends up off the first CPU the process may use, read from /proc as the kernel applies it; the main
// thread keeps all of them. A WAL backlog past 7/8 of its budget lifts it (every thread on every CPU), and
// so does /flush until it is done, after which it is made again. With the key false, or in a process without
// an ingester, nothing is moved.

import { readdirSync } from 'node:fs';
import { allowedCpus } from '@stave/core';
import { configYaml, OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION } from './support/config';
import { otlpJson } from './support/explorer-trace';
import { poll } from './support/poll';
import { startStave, type StaveProcess } from './support/stave-process';

/** Each thread's CPUs, by thread ID (threads that end while being read are left out). */
function threadCpus(pid: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const cpus = allowedCpus(`/proc/${pid}/task/${tid}/status`);
    if (cpus) out.set(Number(tid), cpus);
  }
  return out;
}

const cpus = allowedCpus() ?? [];

async function started(args: string[], yaml?: string): Promise<StaveProcess> {
  const p = startStave({ args: ['-target=all', ...args], configYaml: yaml });
  await p.ready();
  return p;
}

/** Whether every thread of `pid` but the main one is on `want` (at least 3 of them, as a running Stave has). */
function othersOn(pid: number, want: number[]): Map<number, number[]> | undefined {
  const t = threadCpus(pid);
  const others = [...t].filter(([tid]) => tid !== pid);
  return others.length >= 3 && others.every(([, c]) => c.join() === want.join()) ? t : undefined;
}

/** Small enough that a few dozen requests of ~10 KB fill it. */
const BACKLOG_BYTES = 200_000;
const BUDGET_YAML = configYaml([], OTLP_HTTP_RECEIVER, UNLIMITED_INGESTION, [
  'ingester:',
  '  max_block_duration: 1h',
  '  max_live_traces_bytes: 0',
  `  max_wal_backlog_bytes: ${BACKLOG_BYTES}`,
]);

/** An OTLP/JSON request of one trace (number `n`) with 10 spans of ~1 KB each. */
const request = (n: number): string =>
  otlpJson(
    `e1${n.toString(16).padStart(30, '0')}`,
    Date.now(),
    Array.from({ length: 10 }, (_, i) => ({
      id: `${n.toString(16).padStart(8, '0')}${(i + 1).toString(16).padStart(8, '0')}`,
      service: 'cpu',
      name: 'op',
      kind: 2,
      startMs: 0,
      durationMs: 1,
      attributes: { pad: 'x'.repeat(1000) },
    })),
  );

describe('server.reserve_event_loop_cpu', () => {
  let p: StaveProcess | undefined;
  afterEach(async () => {
    await p?.stop();
    p?.cleanup();
    p = undefined;
  });

  it('by default keeps every thread but the event loop off the first CPU (with one CPU: says it reserves none)', async () => {
    p = await started([]);
    const pid = p.child.pid!;
    if (cpus.length < 2) {
      await poll('the log line', () => p!.logs.some((l) => l.msg === 'server.reserve_event_loop_cpu: no CPU reserved for the event loop'));
      return;
    }
    const threads = await poll('every other thread moved off the first CPU', () => othersOn(pid, cpus.slice(1)));
    expect(threads.get(pid)).toEqual(cpus);
    expect(p.logs.some((l) => l.msg === 'CPU reserved for the event loop' && l.cpu === cpus[0])).toBe(true);
  });

  it('is lifted when the WAL backlog nears its budget, and during /flush, then made again', async () => {
    expect(cpus.length).toBeGreaterThanOrEqual(2);
    p = await started([], BUDGET_YAML);
    const pid = p.child.pid!;
    const others = cpus.slice(1);
    await poll('every other thread moved off the first CPU', () => othersOn(pid, others));

    // /flush: lifted until every block is flushed, then reserved again (one taskset -a each way).
    const port = await p.receiverPort(/otlp.*http/);
    const push = (n: number) =>
      fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: request(n) });
    expect((await push(0)).status).toBe(200);
    expect((await fetch(await p.url('/flush'), { method: 'POST' })).status).toBe(204);
    const flushLift = await poll('the lift for /flush', () => p!.logs.find((l) => l.msg === 'event loop CPU reservation lifted: every thread on every CPU'));
    expect(String(flushLift.reason)).toContain('/flush');
    await poll('reserved again after the flush', () => p!.logs.some((l) => l.msg === 'CPU reserved for the event loop again'));
    await poll('every other thread off the first CPU again', () => othersOn(pid, others));

    // Pushes until one is refused. The budget's last eighth (25 KB) holds two pushes of ~10 KB, so one was
    // taken with the backlog past 7/8 before, and lifted it for 30 s, longer than this test waits.
    let status = 200;
    for (let n = 1; n < 200 && status === 200; n++) status = (await push(n)).status;
    expect(status).toBe(503);
    const lifts = () => p!.logs.filter((l) => l.msg === 'event loop CPU reservation lifted: every thread on every CPU');
    await poll('a second lift', () => lifts().length === 2);
    expect(String(lifts()[1]!.reason)).toContain('the WAL backlog is past 7/8 of ingester.max_wal_backlog_bytes');
    await poll('every thread on every CPU', () => othersOn(pid, cpus));
    expect(threadCpus(pid).get(pid)).toEqual(cpus);
  });

  it.each([
    ['with the key false', ['-server.reserve-event-loop-cpu=false']],
    ['in a process without an ingester (-target=compactor)', ['-target=compactor']],
  ])('moves nothing %s', async (_what, args) => {
    p = await started(args);
    const pid = p.child.pid!;
    const threads = threadCpus(pid);
    expect(threads.size).toBeGreaterThan(3);
    for (const c of threads.values()) expect(c).toEqual(cpus);
    expect(p.logs.some((l) => l.msg === 'CPU reserved for the event loop')).toBe(false);
  });
});
