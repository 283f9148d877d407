#!/usr/bin/env node
// `make fleet`: Stave's microservices topology as separate processes on loopback, gossiping through
// memberlist, sharing one local backend: 1 distributor, 3 ingesters (RF 3), 1 query-frontend, 2 queriers,
// 1 compactor and 1 metrics-generator. Waits until the fleet works, prints where things are, and stops it
// cleanly on Ctrl-C or SIGTERM.
//
//   node scripts/fleet/dist/main.js [--dir=.tmp/fleet] [--free-ports | --base-port=N] [--ingesters=3]
//                                   [--queriers=2] [--replication-factor=3] [--ready-timeout=120] [--fresh]

import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Fleet, type FleetState } from './fleet';
import { RECEIVERS, type FleetOptions } from './topology';

// bin/stave, as a user runs it: its malloc and young-generation settings (docs/limits.md) apply to every member.
const STAVE_BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'stave');
/** Longer than server.graceful_shutdown_timeout (30 s): past it a member is killed. */
const STOP_GRACE_MS = 45_000;

const USAGE = `usage: make fleet [ARGS='...']   (or node scripts/fleet/dist/main.js ...)
  --dir=PATH               data, logs and the shared config (default .tmp/fleet)
  --free-ports             every port 0; the bound ports are printed and written to <dir>/fleet.json
  --base-port=N            ports N.. instead of Tempo's defaults (the API on N)
  --ingesters=N            ingesters (default 3)
  --queriers=N             queriers (default 2)
  --replication-factor=N   ingester ring replication factor (default 3, or the ingesters when fewer)
  --ready-timeout=SECONDS  how long to wait for the fleet to be ready (default 120)
  --fresh                  delete the data directory first
  --stave-arg=FLAG         a flag for every member, e.g. --stave-arg=-query-frontend.trace-by-id.query-shards=4
                           (repeatable; flags win over the shared config)
`;

function options(argv: string[]): (FleetOptions & { readyTimeoutMs: number; fresh: boolean }) | string {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string', default: '.tmp/fleet' },
      'free-ports': { type: 'boolean', default: false },
      'base-port': { type: 'string' },
      ingesters: { type: 'string', default: '3' },
      queriers: { type: 'string', default: '2' },
      'replication-factor': { type: 'string' },
      'ready-timeout': { type: 'string', default: '120' },
      fresh: { type: 'boolean', default: false },
      'stave-arg': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return USAGE;
  const int = (name: keyof typeof values, min: number, max: number): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name}=${String(values[name])}: want an integer from ${min} to ${max}`);
    return v;
  };
  if (values['free-ports'] && values['base-port'] !== undefined) throw new Error('--free-ports and --base-port exclude each other');
  const o = {
    dir: path.resolve(values.dir),
    ingesters: int('ingesters', 1, 50),
    queriers: int('queriers', 1, 50),
    replicationFactor: values['replication-factor'] === undefined ? Math.min(3, Number(values.ingesters)) : int('replication-factor', 1, 50),
    ports: values['free-ports']
      ? ({ kind: 'free' } as const)
      : values['base-port'] !== undefined
        ? ({ kind: 'base', base: int('base-port', 1, 65000) } as const)
        : ({ kind: 'tempo' } as const),
    readyTimeoutMs: int('ready-timeout', 1, 3600) * 1000,
    fresh: values.fresh,
    extraArgs: values['stave-arg'],
  };
  if (o.replicationFactor > o.ingesters) throw new Error(`--replication-factor=${o.replicationFactor} needs at least that many --ingesters (${o.ingesters})`);
  return o;
}

/** A path as typed from here when it lies below the working directory, absolute otherwise. */
function rel(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
}

function summary(s: FleetState, ingesters: number, rf: number): string {
  const at = (name: string) => `http://127.0.0.1:${s.members.find((m) => m.name === name)!.http}`;
  const out = [
    `Stave fleet ready: ${s.members.length} processes on 127.0.0.1 (${ingesters} ingesters, replication factor ${rf}), gossiping through memberlist.`,
    '',
    `  API (query-frontend)  ${s.api}      e.g. curl ${s.api}/api/traces/<trace-id>`,
    `  receivers (distributor):`,
    ...RECEIVERS.map((r) => `    ${r.label.padEnd(28)} 127.0.0.1:${s.receivers[r.name]}`),
    '',
    `  ${'member'.padEnd(18)} ${'pid'.padEnd(8)} ${'http'.padEnd(6)} ${'grpc'.padEnd(6)} ${'gossip'.padEnd(6)} log`,
    ...s.members.map(
      (m) =>
        `  ${m.name.padEnd(18)} ${String(m.pid).padEnd(8)} ${String(m.http).padEnd(6)} ${String(m.grpc).padEnd(6)} ${String(m.memberlist || '-').padEnd(6)} ${rel(m.log)}`,
    ),
    '',
    `  config ${rel(s.config)}; blocks (local backend) ${rel(path.join(s.dir, 'blocks'))}; each member's WAL under ${rel(s.dir)}/<member>/; ports in ${rel(path.join(s.dir, 'fleet.json'))}`,
    `  rings: ${at('distributor')}/ingester/ring  ${at('compactor')}/compactor/ring  ${at('metrics-generator')}/metrics-generator/ring`,
  ];
  out.push('', 'Ctrl-C (or SIGTERM) stops the fleet: SIGTERM to each member, ingesters last (they flush their blocks first).', '');
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof options>;
  try {
    o = options(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (typeof o === 'string') {
    process.stdout.write(o);
    return 0;
  }
  if (o.fresh) rmSync(o.dir, { recursive: true, force: true });
  const fleet = new Fleet(o, [STAVE_BIN]);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const stop = () =>
    fleet.stop(STOP_GRACE_MS, (name, r) =>
      say(`  stopped ${name.padEnd(18)} ${r.killed ? 'KILLED after grace' : r.code !== null ? `exit ${r.code}` : r.signal} in ${(r.ms / 1000).toFixed(1)} s`),
    );
  let wake!: () => void;
  const stopAsked = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (sig: NodeJS.Signals) => {
    if (fleet.stopRequested) {
      say(`${sig} again: killing every member`);
      fleet.kill();
      return;
    }
    say(`${sig}: stopping the fleet (${sig} again kills it)`);
    void stop();
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // If the launcher dies some other way, its members do not outlive it.
  process.on('exit', () => fleet.kill());

  say(`Starting the Stave fleet under ${rel(o.dir)} (logs in ${rel(path.join(o.dir, 'logs'))}/) ...`);
  try {
    const state = await fleet.start();
    say(summary(state, o.ingesters, o.replicationFactor));
  } catch (err) {
    const asked = fleet.stopRequested;
    if (!asked) say(`The fleet did not start: ${err instanceof Error ? err.message : String(err)}`);
    return (await stop()) && asked ? 0 : 1;
  }
  for (const m of fleet.members) {
    void m.exited.then((r) => {
      if (!fleet.stopRequested) say(`${m.spec.name} exited on its own (${r.code ?? r.signal}); see ${m.spec.log}`);
    });
  }
  await stopAsked;
  const clean = await stop();
  say(clean ? 'Fleet stopped.' : 'Fleet stopped; some member did not exit 0 (see its log).');
  return clean ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
