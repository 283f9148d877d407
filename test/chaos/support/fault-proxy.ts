// A TCP fault proxy on loopback, placed between two components (or in front of the object store) so a
// scenario can break the link without touching either side:
//
//   pass       bytes flow both ways (with `latencyMs` added to every chunk, each direction, and with
//              `slow` a seeded share of the answers' chunks held back longer: a slow store)
//   refuse     the listening socket is closed: new connections get ECONNREFUSED; open ones are reset
//   blackhole  connections are accepted and held, nothing is forwarded or answered (a hung peer)
//   reset      connections are accepted and reset at once (ECONNRESET on the client)
//
// The proxy keeps its port across `refuse` and back, so the peer's configuration never changes. Every
// socket it opened is tracked and destroyed on `close()`, so a test leaves no handle behind.

import net from 'node:net';

export type FaultMode = 'pass' | 'refuse' | 'blackhole' | 'reset';

export interface FaultProxyStats {
  /** Connections accepted while passing. */
  passed: number;
  /** Connections held (blackhole) or reset (reset mode, or `resetAll`). */
  held: number;
  reset: number;
  /** Chunks held back by `slow`. */
  slowed: number;
}

export class FaultProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private modeNow: FaultMode = 'pass';
  private listenPort = 0;
  /** Milliseconds added to every chunk in either direction while passing. */
  latencyMs = 0;
  /** While passing: each chunk from the target is held `ms` more with probability `chance` (`draw` in [0, 1)). */
  slow: { chance: number; ms: number; draw: () => number } | undefined;
  readonly stats: FaultProxyStats = { passed: 0, held: 0, reset: 0, slowed: 0 };

  /** `target` may be set later (`retarget`): a component's port is often known only after it starts. */
  constructor(
    private target: { host: string; port: number } | undefined,
    readonly name = 'proxy',
  ) {}

  get port(): number {
    return this.listenPort;
  }

  get mode(): FaultMode {
    return this.modeNow;
  }

  retarget(port: number, host = '127.0.0.1'): void {
    this.target = { host, port };
  }

  /** Listens on `port` (0: a free one; afterwards the same port is reused). */
  async start(port = this.listenPort): Promise<number> {
    if (this.server) return this.listenPort;
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.listenPort = (server.address() as net.AddressInfo).port;
    return this.listenPort;
  }

  /** Switches the fault. Going to `refuse` closes the listener and resets open connections. */
  async set(mode: FaultMode, opts: { latencyMs?: number; slow?: FaultProxy['slow'] | null } = {}): Promise<void> {
    if (opts.latencyMs !== undefined) this.latencyMs = opts.latencyMs;
    if (opts.slow !== undefined) this.slow = opts.slow ?? undefined;
    this.modeNow = mode;
    if (mode === 'refuse') {
      // Reset first: a server's close() waits for its open connections (keep-alive ones never end).
      this.resetAll();
      await this.stopListening();
    } else {
      if (mode !== 'pass') this.resetAll();
      await this.start();
    }
  }

  /** Resets every open connection (a network blip). */
  resetAll(): void {
    for (const s of this.sockets) {
      this.stats.reset++;
      s.resetAndDestroy();
    }
    this.sockets.clear();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await this.stopListening();
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Connections accepted between the reset and close() are reset too, so the close completes.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.resetAll();
    await closed;
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.modeNow === 'reset' || !this.target) {
      this.stats.reset++;
      client.resetAndDestroy();
      return;
    }
    if (this.modeNow === 'blackhole') {
      this.stats.held++;
      client.pause();
      return;
    }
    this.stats.passed++;
    const upstream = net.connect(this.target);
    this.track(upstream);
    const pipe = (from: net.Socket, to: net.Socket, answers: boolean): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.modeNow === 'blackhole') return;
        const slowed = answers && this.slow !== undefined && this.slow.draw() < this.slow.chance;
        if (slowed) this.stats.slowed++;
        const delay = this.latencyMs + (slowed ? this.slow!.ms : 0);
        if (delay <= 0) {
          to.write(chunk);
          return;
        }
        // Order is kept: a held chunk holds the ones after it on the same connection.
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, delay);
      });
      from.on('end', () => to.end());
      from.on('close', () => {
        if (!to.destroyed) to.destroy();
      });
    };
    pipe(client, upstream, false);
    pipe(upstream, client, true);
    upstream.on('error', () => client.resetAndDestroy());
    client.on('error', () => upstream.resetAndDestroy());
  }
}
