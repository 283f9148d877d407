// Starts the members of the fleet in the order their addresses are needed (the gossip seed, then the
// frontend the queriers connect to, then the rest at once), waits until the fleet works as a whole, and
// stops it: the writers and readers first, then the ingesters, which flush their blocks before they leave.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Member, type Exit } from './member';
import { memberArgs, members, RECEIVERS, sharedConfig, type FleetOptions, type MemberSpec } from './topology';

/** What `<dir>/fleet.json` holds once the fleet is ready (tests and scripts read it). */
export interface FleetState {
  launcherPid: number;
  dir: string;
  config: string;
  /** The frontend's HTTP API (Tempo's), e.g. http://127.0.0.1:3200. */
  api: string;
  /** Receiver name (otlp_grpc, otlp_http, jaeger_grpc, ...) → port, all on the distributor. */
  receivers: Record<string, number>;
  members: Array<{ name: string; target: string; pid: number; http: number; grpc: number; memberlist: number; dataDir: string; log: string }>;
}

export class Fleet {
  readonly members: Member[] = [];
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly opts: FleetOptions & { readyTimeoutMs: number },
    private readonly stave: string[],
  ) {}

  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  async start(): Promise<FleetState> {
    const o = this.opts;
    mkdirSync(o.dir, { recursive: true });
    rmSync(path.join(o.dir, 'fleet.json'), { force: true });
    const specs = members(o);
    const config = path.join(o.dir, 'stave.yaml');
    writeFileSync(config, sharedConfig(o, specs.length));

    const spawnMember = (spec: MemberSpec, seed: number, frontendGrpc: number): Member => {
      const m = new Member(spec, this.stave, memberArgs(spec, config, seed, frontendGrpc, o.extraArgs));
      this.members.push(m);
      return m;
    };
    const byName = (name: string) => specs.find((s) => s.name === name)!;
    const seedMember = spawnMember(byName('ingester-0'), 0, 0);
    const seed = await this.until(`${seedMember.spec.name} to listen for gossip`, () => seedMember.ports.get('memberlist'));
    const frontend = spawnMember(byName('query-frontend'), seed, 0);
    const frontendGrpc = await this.until('the query-frontend to listen for queriers', () => frontend.ports.get('grpc'));
    for (const spec of specs) if (spec !== seedMember.spec && spec !== frontend.spec) spawnMember(spec, seed, frontendGrpc);

    for (const m of this.members) await this.until(`${m.spec.name} to answer /ready 200`, async () => (await this.get(m, '/ready'))?.status === 200);
    const distributor = this.member('distributor');
    // Every member that writes to or reads from the ingesters sees all of them ACTIVE (gossip reaches each on its own).
    for (const m of this.members.filter((x) => x.spec.target === 'distributor' || x.spec.target === 'querier')) {
      await this.until(`${o.ingesters} ACTIVE ingesters in ${m.spec.name}'s ring`, async () => {
        const r = await this.get(m, '/ingester/ring', 'application/json');
        if (r?.status !== 200) return false;
        const ring = JSON.parse(r.body) as { shards: Array<{ state: string }> };
        return ring.shards.filter((s) => s.state === 'ACTIVE').length === o.ingesters;
      });
    }
    await this.until(`${o.queriers} queriers connected to the query-frontend`, async () => {
      const r = await this.get(frontend, '/metrics');
      const line = r?.body.split('\n').find((l) => l.startsWith('tempo_query_frontend_connected_clients '));
      return line !== undefined && Number(line.split(' ')[1]) === o.queriers;
    });
    await this.until("the distributor's receivers to listen", () => RECEIVERS.every((r) => distributor.ports.has(r.name)));

    const state: FleetState = {
      launcherPid: process.pid,
      dir: o.dir,
      config,
      api: `http://127.0.0.1:${frontend.ports.get('http')}`,
      receivers: Object.fromEntries(RECEIVERS.map((r) => [r.name, distributor.ports.get(r.name)!])),
      members: [...this.members]
        .sort((a, b) => specs.indexOf(a.spec) - specs.indexOf(b.spec))
        .map((m) => ({
          name: m.spec.name,
          target: m.spec.target,
          pid: m.pid,
          http: m.ports.get('http') ?? 0,
          grpc: m.ports.get('grpc') ?? 0,
          memberlist: m.ports.get('memberlist') ?? 0,
          dataDir: m.spec.dataDir,
          log: m.spec.log,
        })),
    };
    writeFileSync(path.join(o.dir, 'fleet.json'), JSON.stringify(state, null, 2) + '\n');
    return state;
  }

  /**
   * Stops every member with SIGTERM: the distributor, frontend, queriers, compactor and generator first (no
   * new writes or reads), then the ingesters, which go LEAVING, flush (ingester.flush_all_on_shutdown) and
   * leave the ring. Safe to call twice. Resolves true when every member exited 0.
   */
  stop(graceMs: number, report: (name: string, r: Exit & { ms: number; killed: boolean }) => void): Promise<boolean> {
    this.stopping ??= (async () => {
      let clean = true;
      const phase = async (ms: Member[]) =>
        Promise.all(
          ms.map(async (m) => {
            const r = await m.stop(graceMs);
            report(m.spec.name, r);
            if (r.code !== 0) clean = false;
          }),
        );
      await phase(this.members.filter((m) => m.spec.target !== 'ingester'));
      await phase(this.members.filter((m) => m.spec.target === 'ingester'));
      return clean;
    })();
    return this.stopping;
  }

  /** Ends every member at once (a second Ctrl-C). */
  kill(): void {
    for (const m of this.members) m.signal('SIGKILL');
  }

  private member(name: string): Member {
    return this.members.find((m) => m.spec.name === name)!;
  }

  private async get(m: Member, pathname: string, accept?: string): Promise<{ status: number; body: string } | undefined> {
    const port = m.ports.get('http');
    if (port === undefined) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(5_000) });
      return { status: res.status, body: await res.text() };
    } catch {
      return undefined;
    }
  }

  /** Polls `check` every 200 ms until it yields a value; fails when a member exits, a stop is asked, or after the timeout. */
  private async until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (;;) {
      if (this.stopping) throw new Error(`stopped while waiting for ${what}`);
      const dead = this.members.find((m) => !m.running);
      if (dead) throw new Error(`${dead.spec.name} exited while waiting for ${what} (see ${dead.spec.log})`);
      const v = await check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${this.opts.readyTimeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
