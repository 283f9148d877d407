// A fleet of Stave processes on loopback for the chaos scenarios. Each member keeps its data directory
// across kills and restarts (restart in place), and the fleet records which exits were deliberate, so the
// invariants I4 (only deliberately killed processes exit) and I5 (SIGTERM stops a process cleanly within
// its grace period) are checked by the same bookkeeping every scenario uses.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { poll } from '../../support/poll';
import { startStave, type StaveProcess } from '../../support/stave-process';

const T0 = Date.now();
/** Start-up waits: a shared 2-core machine can take tens of seconds to start a process. */
const SLOW = { timeoutMs: 90_000, intervalMs: 100 };

/** A progress line on stderr with the time since the suite started (the chaos tier is slow to watch). */
export function note(msg: string): void {
  if (process.env.CHAOS_QUIET !== '1') process.stderr.write(`[chaos +${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}\n`);
}

/** The seed of this run: CHAOS_SEED when set (replay), else a fresh one. Printed either way. */
export function chaosSeed(suite: string): number {
  const env = process.env.CHAOS_SEED;
  const seed = env ? Number(env) >>> 0 : Math.floor(Math.random() * 2 ** 31);
  process.stderr.write(`[chaos] ${suite}: seed ${seed} (replay with CHAOS_SEED=${seed})\n`);
  return seed;
}

export interface RingShard {
  id: string;
  state: string;
  address: string;
  tokens: number[];
}

export interface Member {
  readonly name: string;
  readonly target: string;
  readonly dataDir: string;
  proc: StaveProcess;
  /** Set before a deliberate kill or stop; cleared on restart. */
  deliberate: boolean;
  /** Extra arguments computed at each (re)start (e.g. the gossip seed's current port). */
  readonly args: () => string[];
}

export class Fleet {
  readonly members = new Map<string, Member>();
  /** `name: exit` of every process that exited without being told to (I4). */
  readonly unexpectedExits: string[] = [];
  private readonly root = mkdtempSync(path.join(os.tmpdir(), 'stave-chaos-'));

  constructor(private readonly configYaml: string) {}

  get(name: string): Member {
    const m = this.members.get(name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Starts a member: `-target=<target>` with its own data directory under the fleet's root. */
  start(name: string, target: string, args: () => string[] = () => []): Member {
    const dataDir = path.join(this.root, name);
    const m: Member = { name, target, dataDir, args, deliberate: false, proc: undefined as unknown as StaveProcess };
    this.members.set(name, m);
    this.spawn(m);
    return m;
  }

  private spawn(m: Member): void {
    m.deliberate = false;
    rmSync(path.join(m.dataDir, 'stave.yaml'), { force: true });
    const proc = startStave({
      configYaml: this.configYaml,
      dataDir: ensureDir(m.dataDir),
      args: [`-target=${m.target}`, ...m.args()],
    });
    m.proc = proc;
    void proc.exited.then((r) => {
      if (!m.deliberate && m.proc === proc) this.unexpectedExits.push(`${m.name}: ${JSON.stringify(r)}\n${proc.stderrText().slice(-1500)}`);
    });
  }

  /** Kills a member with `signal` (deliberately) and waits for its exit. */
  async kill(
    name: string,
    signal: NodeJS.Signals = 'SIGKILL',
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const m = this.get(name);
    m.deliberate = true;
    return m.proc.stop(signal, timeoutMs);
  }

  /** Starts a stopped member again on the same data directory. */
  restart(name: string): Member {
    const m = this.get(name);
    if (m.proc.child.exitCode === null && m.proc.child.signalCode === null) throw new Error(`${name} is still running`);
    this.spawn(m);
    return m;
  }

  async ready(name: string, timeoutMs = 90_000): Promise<void> {
    const p = this.get(name).proc;
    const port = await poll(
      `${name} to log its http port`,
      () => {
        if (p.child.exitCode !== null) throw new Error(`${name} exited: ${p.stderrText().slice(-1500)}`);
        return p.logs.find((x) => x.msg === 'http server listening' && x.server === 'http')?.port as number | undefined;
      },
      SLOW,
    );
    const url = `http://127.0.0.1:${port}/ready`;
    await poll(`${name} /ready to answer 200`, async () => (await fetch(url)).status === 200, { timeoutMs, intervalMs: 100 });
  }

  async ring(name: string, page = '/ingester/ring'): Promise<RingShard[]> {
    const res = await fetch(await this.get(name).proc.url(page), { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { shards: RingShard[] }).shards;
  }

  /** Waits until `check` holds for the ingester ring as every member in `names` sees it. */
  async untilRing(what: string, names: string[], check: (shards: RingShard[]) => boolean, timeoutMs = 30_000): Promise<void> {
    for (const n of names) {
      let last: RingShard[] | undefined;
      await poll(
        `${what} on ${n}'s ring page`,
        async () => {
          last = await this.ring(n);
          return check(last);
        },
        { timeoutMs, intervalMs: 100 },
      ).catch((err: unknown) => {
        const view = (last ?? []).map((s) => `${s.id} ${s.state}`).join(', ');
        throw new Error(`${String(err)}; its last view: [${view}]; its last logs: ${this.lastLogs(n)}`);
      });
    }
  }

  /** The last lines a member logged, for a failure message. */
  lastLogs(name: string, n = 8): string {
    return this.get(name)
      .proc.logs.slice(-n)
      .map((l) => `${String(l.msg)}${l.member ? ` ${String(l.member)}` : ''}${l.err ? ` (${String(l.err)})` : ''}`)
      .join(' | ');
  }

  memberlistPort(name: string): Promise<number> {
    const p = this.get(name).proc;
    return poll(
      `${name}'s memberlist to listen`,
      () => {
        const l = p.logs.find((x) => x.msg === 'memberlist listening');
        return l ? Number(String(l.bind).split(':').pop()) : undefined;
      },
      SLOW,
    );
  }

  logPort(name: string, msg: string): Promise<number> {
    const p = this.get(name).proc;
    return poll(
      `${name} to log "${msg}"`,
      () => {
        if (p.child.exitCode !== null) throw new Error(`${name} exited: ${p.stderrText().slice(-1500)}`);
        const l = p.logs.find((x) => x.msg === msg);
        return l ? Number(l.port) : undefined;
      },
      SLOW,
    );
  }

  async metric(name: string, metric: string): Promise<number> {
    const text = await (await fetch(await this.get(name).proc.url('/metrics'))).text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.split(/[{ ]/)[0] === metric) sum += Number(line.split(' ').pop());
    return sum;
  }

  isRunning(name: string): boolean {
    const c = this.get(name).proc.child;
    return c.exitCode === null && c.signalCode === null;
  }

  running(): Member[] {
    return [...this.members.values()].filter((m) => m.proc.child.exitCode === null && m.proc.child.signalCode === null);
  }

  /**
   * I5: SIGTERM to every running member, in the order given (others after), each expected to exit 0
   * within `graceMs`. Returns the members that did not, with their exit.
   */
  async stopAll(order: string[] = [], graceMs = 20_000): Promise<string[]> {
    const names = [...order, ...[...this.members.keys()].filter((n) => !order.includes(n))];
    const bad: string[] = [];
    for (const n of names) {
      const m = this.get(n);
      if (m.proc.child.exitCode !== null || m.proc.child.signalCode !== null) continue;
      const r = await this.kill(n, 'SIGTERM', graceMs + 5000);
      if (r.code !== 0 || r.ms > graceMs) bad.push(`${n}: ${JSON.stringify(r)}`);
    }
    return bad;
  }

  cleanup(): void {
    for (const m of this.members.values()) {
      m.deliberate = true;
      if (m.proc.child.exitCode === null && m.proc.child.signalCode === null) m.proc.child.kill('SIGKILL');
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
