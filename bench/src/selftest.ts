// Self-test of the harness (not of Stave): runs the whole `make bench` flow, small, against the no-op
// server and against fake-stave.js (a TEST DOUBLE), and checks that what the harness reports is true —
// every ack counted, every acknowledged trace found exactly, failures and partial successes accounted,
// multi-round trace-ID rewriting consistent. Run after `tsc -b bench`: node bench/dist/selftest.js

import path from 'node:path';
import { runBench, markdown, type BenchOptions, type BenchResult } from './run';

const quiet = process.argv.includes('--verbose') ? (l: string) => process.stderr.write(l + '\n') : () => undefined;

function opts(over: Partial<BenchOptions>): BenchOptions {
  return {
    workload: 'project',
    readBackAll: false,
    traces: 600,
    concurrency: 4,
    batchSpans: 100,
    seed: 42,
    queries: 60,
    // A pool smaller than the run: 3 rounds with rewritten trace IDs.
    poolSpans: 3600,
    skipNoop: false,
    skipStave: false,
    staveBin: path.join(__dirname, 'fake-stave.js'),
    keepData: false,
    progress: false,
    log: quiet,
    ...over,
  };
}

const failures: string[] = [];
function check(name: string, ok: boolean, detail = ''): void {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}\n`);
  if (!ok) failures.push(name);
}

function checkExact(r: BenchResult, phase: 'queriesBeforeFlush' | 'queriesAfterFlush'): void {
  const q = r.stave![phase];
  check(
    `${phase}: every sampled trace exact`,
    q.exact === q.queries && q.queries > 0,
    `${q.exact}/${q.queries}, 404 ${q.notFound}, short ${q.short}, long ${q.long}, dup ${q.duplicateSpans}, errors ${JSON.stringify(q.errors)}`,
  );
}

async function main(): Promise<void> {
  // 1. Clean run.
  const clean = await runBench(opts({}));
  check('clean: stave run completed', !clean.staveError, clean.staveError ?? '');
  check('clean: 3 rounds planned', clean.workload.rounds === 3, `rounds ${clean.workload.rounds}`);
  check(
    'clean: no-op acknowledged every span',
    clean.noop!.ackedSpans === clean.workload.spans && clean.noop!.sentSpans === clean.workload.spans,
    `${clean.noop!.ackedSpans}/${clean.workload.spans}`,
  );
  const s = clean.stave!;
  check(
    'clean: fake acknowledged every span',
    s.load.ackedSpans === clean.workload.spans && Object.keys(s.load.errors).length === 0,
    JSON.stringify(s.load.errors),
  );
  const traceCount = s.load.ledger.exactTraces().length;
  check('clean: every trace distinct across rounds', traceCount === clean.workload.traces, `${traceCount} traces with acks, ${clean.workload.traces} sent`);
  checkExact(clean, 'queriesBeforeFlush');
  checkExact(clean, 'queriesAfterFlush');
  check('clean: flush answered 204', s.flush.status === 204, String(s.flush.status));
  check('clean: stored bytes measured', s.blocksBytes > 0 && Number.isFinite(s.bytesPerSpan), `${s.bytesPerSpan.toFixed(1)} B/span`);
  check('clean: RSS sampled', s.peakRssIngestBytes > 10e6 && s.hwmBytes > 10e6, `${(s.peakRssIngestBytes / 1e6).toFixed(0)} MB`);
  check('clean: ratio computed', clean.ratio !== undefined && clean.ratio > 0, String(clean.ratio));
  check('clean: stopped cleanly on SIGTERM', s.stop.code === 0 && !s.stop.killed, JSON.stringify(s.stop));
  check('clean: markdown has the table', /\| Stave ÷ no-op/.test(markdown(clean)));

  // 2. Failures and partial successes: accounted, and exactness still judged only on what was acked.
  process.env.FAKE_STAVE_FAIL_EVERY = '7';
  process.env.FAKE_STAVE_PARTIAL_EVERY = '5';
  const faulty = await runBench(opts({ skipNoop: true, seed: 43 }));
  delete process.env.FAKE_STAVE_FAIL_EVERY;
  delete process.env.FAKE_STAVE_PARTIAL_EVERY;
  const f = faulty.stave!;
  check('faults: stave run completed', !faulty.staveError, faulty.staveError ?? '');
  const failed = f.load.errors['HTTP 503'] ?? 0;
  check('faults: 503s counted', failed === Math.floor(f.load.requests / 7), `${failed} of ${f.load.requests}`);
  check(
    'faults: partial-success rejections counted',
    f.load.rejectedSpans > 0 && f.load.ledger.uncertainCount() > 0,
    `${f.load.rejectedSpans} spans, ${f.load.ledger.uncertainCount()} uncertain traces`,
  );
  check('faults: acked = sent − failed − rejected', f.load.ackedSpans < f.load.sentSpans && f.load.ackedSpans + f.load.rejectedSpans <= f.load.sentSpans);
  checkExact(faulty, 'queriesBeforeFlush');
  check('faults: no ratio without a baseline', faulty.ratio === undefined);

  // 3. The collector-shaped workload: every span shuffled over the run, rounds interleaved; every
  //    acknowledged trace read back exact.
  const coll = await runBench(opts({ skipNoop: true, workload: 'collector', readBackAll: true, seed: 44 }));
  const cs = coll.stave;
  check('collector: stave run completed', !coll.staveError && cs !== undefined, coll.staveError ?? '');
  if (cs) {
    check('collector: fake acknowledged every span', cs.load.ackedSpans === coll.workload.spans, `${cs.load.ackedSpans}/${coll.workload.spans}`);
    check(
      'collector: every acknowledged trace read back exact',
      cs.readBack !== undefined && cs.readBack.exact === cs.readBack.queries && cs.readBack.queries === coll.workload.traces,
      cs.readBack ? `${cs.readBack.exact}/${cs.readBack.queries} of ${coll.workload.traces}` : 'no read-back',
    );
  }

  // 4. Stave that never comes up: a clear error, not a hang.
  const broken = await runBench(opts({ skipNoop: true, staveBin: path.join(__dirname, 'does-not-exist.js') }));
  check(
    'broken: startup failure reported',
    Boolean(broken.staveError) && /exited during startup/.test(broken.staveError!),
    broken.staveError?.split('\n')[0] ?? 'no error',
  );

  process.stdout.write(failures.length ? `\n${failures.length} check(s) failed\n` : '\nall harness checks passed\n');
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
