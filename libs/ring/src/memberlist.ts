// Membership and gossip, in the shape of hashicorp/memberlist (which dskit's memberlist KV runs on):
//
// - Failure detection is SWIM: every probe interval one member (round robin over a shuffled list) gets a
//   UDP ping; no ack within the probe timeout → `indirect_checks` other members ping it for us; still no
//   ack → it is *suspect*, and that is gossiped. A suspect that does not refute (by gossiping itself alive
//   with a higher incarnation) within suspicion_mult × log10(n) × probe interval is declared *dead*.
// - Updates (alive/suspect/dead and the KV layer's deltas) ride as broadcasts, piggybacked on every UDP
//   packet we send and pushed to gossip_nodes random members every gossip_interval; each is sent
//   retransmit_factor × ⌈log10(n+1)⌉ times, and a newer broadcast about the same thing replaces an older one.
// - Every pull_push_interval a member exchanges its full state (members and KV) with one random member
//   over TCP. This is the anti-entropy that repairs anything a lost UDP packet missed. Unlike memberlist,
//   the partner may also be a member declared dead within gossip_to_dead_nodes_time, so a partition heals
//   on its own once packets flow again (memberlist needs a rejoin for that).
// - Sizes are bounded: a UDP packet never exceeds packetMaxBytes (updates too big for it go over TCP), a
//   TCP frame never exceeds streamMaxBytes, inbound TCP streams are capped, every stream has a deadline.
// - Anything that does not decode, carries another cluster label or fails its checksum is dropped and
//   counted; it never throws out of a socket handler and never touches state.

import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { nopLogger, type Logger } from '@stave/core';
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeMessage,
  envelopeOverhead,
  type Message,
  type NodeAddr,
  type NodeState,
  type NodeStateName,
  WIRE_LIMITS,
} from './memberlist-wire';

/** Test hook: return false to drop a packet or stream to/from `peer` ("host:port" as advertised). */
export type PacketFilter = (peer: string, direction: 'in' | 'out', transport: 'udp' | 'tcp') => boolean;

/** What the KV layer plugs into the gossip layer. */
export interface MemberlistDelegate {
  /** The full KV state for a push/pull exchange. */
  localState(join: boolean): Uint8Array;
  /** A peer's full KV state (already label-checked; may still be garbage: validate). */
  mergeRemoteState(state: Uint8Array, join: boolean): void;
  /** A broadcast KV update from a peer (may be garbage: validate). */
  notifyMsg(payload: Uint8Array): void;
}

export interface MemberlistOptions {
  nodeName: string;
  /** Address to bind UDP and TCP to ('0.0.0.0' for all IPv4, '::' for all). */
  bindAddr: string;
  /** UDP and TCP share this port; 0 picks a free one. */
  bindPort: number;
  /** Address peers reach us at. Default: bindAddr when it is specific, else the first non-internal IPv4. */
  advertiseAddr?: string;
  /** Used only with advertiseAddr (as in memberlist). */
  advertisePort?: number;
  clusterLabel?: string;
  clusterLabelVerificationDisabled?: boolean;
  /** memberlist's LAN defaults: 1s, 500ms, 3, 4. dskit fixes 5s/2s; Stave keeps them tunable for tests. */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  indirectChecks?: number;
  suspicionMult?: number;
  gossipIntervalMs?: number;
  gossipNodes?: number;
  gossipToDeadNodesTimeMs?: number;
  deadNodeReclaimTimeMs?: number;
  pushPullIntervalMs?: number;
  retransmitFactor?: number;
  streamTimeoutMs?: number;
  dialTimeoutMs?: number;
  /** Largest UDP packet we send (memberlist's UDPBufferSize): 1400 fits a typical MTU. */
  packetMaxBytes?: number;
  /** Largest TCP frame we send or accept. */
  streamMaxBytes?: number;
  maxInboundStreams?: number;
  /** Deflate TCP frames (memberlist.compression_enabled). Peers read both forms either way. */
  compressStreams?: boolean;
  /** Capacity of the broadcast queue; past it the most-sent broadcast is dropped (and counted). */
  broadcastQueueMax?: number;
  packetFilter?: PacketFilter;
  /** Called for every dropped packet or stream (metrics). */
  onDrop?: (reason: DropReason) => void;
  delegate: MemberlistDelegate;
  logger?: Logger;
  now?: () => number;
}

export interface MemberInfo {
  name: string;
  addr: string;
  port: number;
  incarnation: number;
  state: NodeStateName;
  /** When this member last changed state, ms since the epoch (by our clock). */
  stateChange: number;
}

/** Closed set of reasons a packet or stream was dropped: the `reason` label of the dropped metric. */
export const DROP_REASONS = ['malformed', 'label_mismatch', 'filtered', 'oversize', 'too_many_streams', 'stream_error', 'queue_full'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface MemberlistStats {
  packetsReceived: number;
  packetsSent: number;
  streamsReceived: number;
  streamsSent: number;
  dropped: Record<DropReason, number>;
}

interface NodeEntry extends MemberInfo {
  suspicionTimer?: NodeJS.Timeout;
}

/** Members we track at most (what one push/pull may carry): a flood of made-up members cannot grow memory. */
const MAX_MEMBERS = WIRE_LIMITS.nodesPerPushPull;

export function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Splits "host:port" / "[v6]:port"; `defaultPort` when the port is missing. Throws naming the input. */
export function splitHostPort(s: string, defaultPort?: number): { host: string; port: number } {
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new Error(`bad address "${s}": missing ]`);
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new Error(`bad address "${s}"`);
    portStr = rest === '' ? undefined : rest.slice(1);
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0 && s.indexOf(':') !== i) {
      host = s; // a bare IPv6 address
    } else if (i >= 0) {
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (host === '') throw new Error(`bad address "${s}": no host`);
  let port: number;
  if (portStr === undefined) {
    if (defaultPort === undefined) throw new Error(`bad address "${s}": no port`);
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portStr) || Number(portStr) > 65535 || Number(portStr) === 0) throw new Error(`bad address "${s}": port "${portStr}"`);
    port = Number(portStr);
  }
  return { host, port };
}

/** A transmit-limited broadcast queue (memberlist's TransmitLimitedQueue). */
class BroadcastQueue {
  private items: Array<{ key: string; msg: Buffer; transmits: number; id: number }> = [];
  private nextId = 0;
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly onDrop?: () => void,
  ) {}

  get length(): number {
    return this.items.length;
  }

  queue(key: string, msg: Buffer): void {
    this.items = this.items.filter((b) => b.key !== key);
    this.items.push({ key, msg, transmits: 0, id: this.nextId++ });
    if (this.items.length > this.max) {
      // Drop what has been sent most (then the oldest): it has had the most chances to spread.
      let worst = 0;
      for (let i = 1; i < this.items.length; i++) {
        const a = this.items[i]!;
        const b = this.items[worst]!;
        if (a.transmits > b.transmits || (a.transmits === b.transmits && a.id < b.id)) worst = i;
      }
      this.items.splice(worst, 1);
      this.dropped++;
      this.onDrop?.();
    }
  }

  /** Broadcasts that fit in `budget` bytes, fewest transmits (then newest) first. */
  take(budget: number, limit: number): Buffer[] {
    if (this.items.length === 0 || budget <= 0) return [];
    const order = [...this.items].sort((a, b) => a.transmits - b.transmits || b.id - a.id);
    const out: Buffer[] = [];
    let left = budget;
    for (const b of order) {
      if (out.length >= 64) break;
      if (b.msg.length > left) continue;
      out.push(b.msg);
      left -= b.msg.length;
      b.transmits++;
    }
    this.items = this.items.filter((b) => b.transmits < limit);
    return out;
  }

  has(key: string): boolean {
    return this.items.some((b) => b.key === key);
  }
}

export class Memberlist {
  private readonly o: Required<Omit<MemberlistOptions, 'packetFilter' | 'onDrop' | 'advertiseAddr' | 'advertisePort' | 'logger' | 'delegate' | 'now'>>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly nodes = new Map<string, NodeEntry>();
  private me!: NodeEntry;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly ackWaiters = new Map<number, (ok: boolean) => void>();
  private readonly broadcasts: BroadcastQueue;
  private probeOrder: string[] = [];
  private probing = false;
  private seq = 0;
  private inboundStreams = 0;
  private closed = false;
  private leaving = false;
  private readonly counters: MemberlistStats = {
    packetsReceived: 0,
    packetsSent: 0,
    streamsReceived: 0,
    streamsSent: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
  };

  constructor(private readonly opts: MemberlistOptions) {
    this.o = {
      nodeName: opts.nodeName,
      bindAddr: opts.bindAddr,
      bindPort: opts.bindPort,
      clusterLabel: opts.clusterLabel ?? '',
      clusterLabelVerificationDisabled: opts.clusterLabelVerificationDisabled ?? false,
      probeIntervalMs: opts.probeIntervalMs ?? 1000,
      probeTimeoutMs: opts.probeTimeoutMs ?? 500,
      indirectChecks: opts.indirectChecks ?? 3,
      suspicionMult: opts.suspicionMult ?? 4,
      gossipIntervalMs: opts.gossipIntervalMs ?? 200,
      gossipNodes: opts.gossipNodes ?? 3,
      gossipToDeadNodesTimeMs: opts.gossipToDeadNodesTimeMs ?? 30_000,
      deadNodeReclaimTimeMs: opts.deadNodeReclaimTimeMs ?? 0,
      pushPullIntervalMs: opts.pushPullIntervalMs ?? 30_000,
      retransmitFactor: opts.retransmitFactor ?? 4,
      streamTimeoutMs: opts.streamTimeoutMs ?? 10_000,
      dialTimeoutMs: opts.dialTimeoutMs ?? 2_000,
      packetMaxBytes: opts.packetMaxBytes ?? 1400,
      streamMaxBytes: opts.streamMaxBytes ?? 32 * 1024 * 1024,
      maxInboundStreams: opts.maxInboundStreams ?? 64,
      compressStreams: opts.compressStreams ?? false,
      broadcastQueueMax: opts.broadcastQueueMax ?? 4096,
    };
    if (this.o.nodeName === '' || Buffer.byteLength(this.o.nodeName) > WIRE_LIMITS.nameBytes)
      throw new Error(`memberlist: node name must be 1 to ${WIRE_LIMITS.nameBytes} bytes, got "${this.o.nodeName}"`);
    if (Buffer.byteLength(this.o.clusterLabel) > WIRE_LIMITS.labelBytes)
      throw new Error(`memberlist: cluster_label must be at most ${WIRE_LIMITS.labelBytes} bytes`);
    if (opts.advertiseAddr && Buffer.byteLength(opts.advertiseAddr) > WIRE_LIMITS.addrBytes)
      throw new Error(`memberlist: advertise_addr must be at most ${WIRE_LIMITS.addrBytes} bytes`);
    if (this.o.probeTimeoutMs >= this.o.probeIntervalMs)
      throw new Error(`memberlist: probe timeout (${this.o.probeTimeoutMs} ms) must be shorter than the probe interval (${this.o.probeIntervalMs} ms)`);
    this.log = (opts.logger ?? nopLogger).child({ component: 'memberlist' });
    this.now = opts.now ?? Date.now;
    this.broadcasts = new BroadcastQueue(this.o.broadcastQueueMax, () => opts.onDrop?.('queue_full'));
  }

  get name(): string {
    return this.o.nodeName;
  }

  /** Binds UDP and TCP on one port, and starts probing, gossip and push/pull. */
  async start(): Promise<void> {
    await this.bind();
    const advertise = this.advertised();
    this.me = { name: this.o.nodeName, addr: advertise.addr, port: advertise.port, incarnation: 0, state: 'alive', stateChange: this.now() };
    this.nodes.set(this.me.name, this.me);
    this.every(this.o.probeIntervalMs, () => void this.probeTick().catch((err: unknown) => this.log.warn('probe failed', { err: String(err) })));
    this.every(this.o.gossipIntervalMs, () => this.gossipTick());
    this.schedulePushPull();
    this.log.info('memberlist listening', {
      node: this.me.name,
      advertise: hostPort(this.me.addr, this.me.port),
      bind: hostPort(this.o.bindAddr, this.boundPort()),
    });
  }

  /** The address peers reach us at ("host:port"). */
  localAddress(): string {
    return hostPort(this.me.addr, this.me.port);
  }

  localNode(): NodeAddr {
    return { name: this.me.name, addr: this.me.addr, port: this.me.port };
  }

  members(): MemberInfo[] {
    return [...this.nodes.values()]
      .map(({ name, addr, port, incarnation, state, stateChange }) => ({ name, addr, port, incarnation, state, stateChange }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Members alive or suspect (memberlist's NumMembers counts the same). */
  numMembers(): number {
    let n = 0;
    for (const node of this.nodes.values()) if (node.state === 'alive' || node.state === 'suspect') n++;
    return n;
  }

  stats(): MemberlistStats {
    return { ...this.counters, dropped: { ...this.counters.dropped, queue_full: this.broadcasts.dropped } };
  }

  broadcastQueueLength(): number {
    return this.broadcasts.length;
  }

  /**
   * Gossips a KV update. One that fits a UDP packet is queued as a broadcast (replacing a queued one with
   * the same key); a larger one goes over TCP to gossip_nodes random members, who re-broadcast the change.
   */
  broadcastUser(key: string, payload: Uint8Array): void {
    if (this.closed) return;
    const msg = encodeMessage({ type: 'user', payload });
    if (msg.length + envelopeOverhead(this.o.clusterLabel) <= this.o.packetMaxBytes) {
      this.broadcasts.queue(`u:${key}`, msg);
      return;
    }
    const targets = this.randomNodes(this.o.gossipNodes, (n) => n.state === 'alive');
    for (const t of targets) void this.sendStream(t, [msg]).catch((err: unknown) => this.log.debug('reliable send failed', { to: t.name, err: String(err) }));
  }

  /** Pushes our full state to `addrs` ("host:port") and merges theirs. Resolves with how many answered. */
  async join(addrs: readonly string[]): Promise<{ joined: number; errors: string[] }> {
    let joined = 0;
    const errors: string[] = [];
    await Promise.all(
      addrs.map(async (a) => {
        try {
          const { host, port } = splitHostPort(a);
          if (host === this.me.addr && port === this.me.port) return; // ourselves
          await this.pushPull({ addr: host, port }, true);
          joined++;
        } catch (err) {
          errors.push(`${a}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    return { joined, errors };
  }

  /** A push/pull exchange with a random member now (also what the periodic timer does). */
  async pushPullRandom(): Promise<boolean> {
    const now = this.now();
    const [target] = this.randomNodes(
      1,
      (n) => n.state === 'alive' || n.state === 'suspect' || (n.state === 'dead' && now - n.stateChange < this.o.gossipToDeadNodesTimeMs),
    );
    if (!target) return false;
    try {
      await this.pushPull(target, false);
      return true;
    } catch (err) {
      this.log.debug('push/pull failed', { to: target.name, err: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /** Push/pull with up to `k` random alive members at once (shutdown uses it to hand over the last updates). */
  async pushPullMembers(k: number): Promise<number> {
    const targets = this.randomNodes(k, (n) => n.state === 'alive');
    const results = await Promise.allSettled(targets.map((t) => this.pushPull(t, false)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /**
   * Leaves: gossips that we left (a dead message from ourselves) straight to every alive member and then
   * through the broadcast queue. Waits up to `timeoutMs` for the queue to send it once.
   */
  async leave(timeoutMs: number): Promise<void> {
    if (this.closed || this.leaving || !this.me) return;
    this.leaving = true;
    this.me.incarnation++;
    const dead: Message = { type: 'dead', node: this.me.name, incarnation: this.me.incarnation, from: this.me.name };
    this.me.state = 'left';
    this.me.stateChange = this.now();
    const msg = encodeMessage(dead);
    this.broadcasts.queue(`n:${this.me.name}`, msg);
    for (const n of this.randomNodes(64, (x) => x.state === 'alive' || x.state === 'suspect')) this.sendPacket(n, [msg]);
    const deadline = this.now() + timeoutMs;
    for (let i = 0; i < 1000 && this.broadcasts.has(`n:${this.me.name}`) && this.numMembers() > 0 && this.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, Math.min(this.o.gossipIntervalMs, 50)));
    }
  }

  /** Closes sockets and timers at once, without telling anyone (a crash looks the same to peers). */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const n of this.nodes.values()) if (n.suspicionTimer) clearTimeout(n.suspicionTimer);
    for (const w of [...this.ackWaiters.values()]) w(false);
    this.ackWaiters.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  // ---- binding ----

  private boundPort(): number {
    const a = this.tcp?.address();
    return a && typeof a !== 'string' ? a.port : 0;
  }

  private async bind(): Promise<void> {
    const family = this.o.bindAddr.includes(':') ? 'udp6' : 'udp4';
    // UDP and TCP must share the port. With port 0 the TCP port the kernel picked may be taken for UDP:
    // try again, a bounded number of times.
    for (let attempt = 0; ; attempt++) {
      const tcp = net.createServer((conn) => this.handleConn(conn));
      tcp.on('error', (err) => this.log.warn('tcp server error', { err }));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.o.bindPort, this.o.bindAddr, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      const port = (tcp.address() as net.AddressInfo).port;
      const udp = dgram.createSocket({ type: family });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(port, this.o.bindAddr, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        await new Promise<void>((r) => tcp.close(() => r()));
        udp.close();
        if (this.o.bindPort === 0 && attempt < 10 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw err;
      }
      udp.on('error', (err) => this.log.warn('udp socket error', { err }));
      udp.on('message', (buf, rinfo) => this.handlePacket(buf, rinfo));
      this.tcp = tcp;
      this.udp = udp;
      return;
    }
  }

  private advertised(): { addr: string; port: number } {
    if (this.opts.advertiseAddr) return { addr: this.opts.advertiseAddr, port: this.opts.advertisePort || this.boundPort() };
    const bind = this.o.bindAddr;
    if (bind !== '0.0.0.0' && bind !== '::' && bind !== '') return { addr: bind, port: this.boundPort() };
    return { addr: firstPrivateAddress(), port: this.boundPort() };
  }

  // ---- timers ----

  private every(ms: number, f: () => void): void {
    const t = setInterval(() => {
      if (!this.closed) f();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private after(ms: number, f: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) f();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  private schedulePushPull(): void {
    // ±10% jitter so a fleet started together does not push/pull in lockstep.
    const ms = this.o.pushPullIntervalMs * (0.9 + Math.random() * 0.2);
    this.after(ms, () => {
      void this.pushPullRandom()
        .catch((err: unknown) => this.log.warn('push/pull failed', { err: String(err) }))
        .finally(() => {
          if (!this.closed) this.schedulePushPull();
        });
    });
  }

  // ---- UDP ----

  private labelOk(label: string): boolean {
    return this.o.clusterLabelVerificationDisabled || label === this.o.clusterLabel;
  }

  private drop(reason: DropReason, from: string, detail?: string): void {
    this.counters.dropped[reason]++;
    this.opts.onDrop?.(reason);
    this.log.debug('gossip message dropped', { reason, from, detail });
  }

  private handlePacket(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed || !this.me) return;
    const peer = hostPort(rinfo.address, rinfo.port);
    this.counters.packetsReceived++;
    if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'in', 'udp')) return this.drop('filtered', peer);
    let env;
    try {
      env = decodeEnvelope(buf, buf.length);
    } catch (err) {
      return this.drop('malformed', peer, err instanceof Error ? err.message : String(err));
    }
    if (!this.labelOk(env.label)) return this.drop('label_mismatch', peer, `label "${env.label}"`);
    for (const m of env.messages) {
      try {
        this.handleMessage(m, { addr: rinfo.address, port: rinfo.port });
      } catch (err) {
        this.drop('malformed', peer, err instanceof Error ? err.message : String(err));
      }
    }
  }

  private handleMessage(m: Message, from: { addr: string; port: number }): void {
    switch (m.type) {
      case 'ping':
        if (m.target !== this.me.name) return; // meant for a member that used to live at this address
        this.sendPacket(from, [encodeMessage({ type: 'ack', seq: m.seq })]);
        return;
      case 'indirect-ping': {
        const seq = this.nextSeq();
        const wait = this.waitAck(seq, this.o.probeTimeoutMs);
        this.sendPacket(m.target, [encodeMessage({ type: 'ping', seq, target: m.target.name, source: this.localNode() })]);
        void wait.then((ok) => {
          if (ok) this.sendPacket(m.source, [encodeMessage({ type: 'ack', seq: m.seq })]);
        });
        return;
      }
      case 'ack':
        this.ackWaiters.get(m.seq)?.(true);
        return;
      case 'alive':
        this.aliveNode(m.node, m.incarnation);
        return;
      case 'suspect':
        this.suspectNode(m.node, m.incarnation, m.from);
        return;
      case 'dead':
        this.deadNode(m.node, m.incarnation, m.from);
        return;
      case 'user':
        this.opts.delegate.notifyMsg(m.payload);
        return;
      case 'push-pull':
        return; // only over TCP
    }
  }

  /** Sends `primary` messages plus as many broadcasts as fit in one packet. */
  private sendPacket(to: { addr: string; port: number }, primary: Buffer[]): void {
    if (this.closed || !this.udp) return;
    const peer = hostPort(to.addr, to.port);
    if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'out', 'udp')) return;
    let used = envelopeOverhead(this.o.clusterLabel);
    for (const p of primary) used += p.length;
    const piggy = this.broadcasts.take(this.o.packetMaxBytes - used, this.retransmitLimit());
    const msgs = [...primary, ...piggy];
    if (msgs.length === 0) return;
    const env = encodeEnvelope(this.o.clusterLabel, msgs);
    try {
      this.udp.send(env, to.port, to.addr, (err) => {
        if (err) this.log.debug('udp send failed', { to: peer, err });
      });
      this.counters.packetsSent++;
    } catch (err) {
      this.log.debug('udp send failed', { to: peer, err: String(err) });
    }
  }

  private retransmitLimit(): number {
    return this.o.retransmitFactor * Math.max(1, Math.ceil(Math.log10(this.numMembers() + 1)));
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private waitAck(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const t = this.after(timeoutMs, () => done(false));
      const done = (ok: boolean) => {
        if (this.ackWaiters.get(seq) !== done) return;
        this.ackWaiters.delete(seq);
        clearTimeout(t);
        this.timers.delete(t);
        resolve(ok);
      };
      this.ackWaiters.set(seq, done);
      if (this.closed) done(false);
    });
  }

  // ---- failure detection ----

  private async probeTick(): Promise<void> {
    if (this.probing || this.leaving) return;
    const target = this.nextProbeTarget();
    if (!target) return;
    this.probing = true;
    try {
      await this.probe(target);
    } finally {
      this.probing = false;
    }
  }

  private nextProbeTarget(): NodeEntry | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.probeOrder.length > 0) {
        const n = this.nodes.get(this.probeOrder.pop()!);
        if (n && n !== this.me && (n.state === 'alive' || n.state === 'suspect')) return n;
      }
      this.probeOrder = shuffle([...this.nodes.keys()].filter((k) => k !== this.me.name));
    }
    return undefined;
  }

  private async probe(node: NodeEntry): Promise<void> {
    const incarnation = node.incarnation;
    const seq = this.nextSeq();
    const direct = this.waitAck(seq, this.o.probeTimeoutMs);
    this.sendPacket(node, [encodeMessage({ type: 'ping', seq, target: node.name, source: this.localNode() })]);
    if (await direct) return;
    if (this.closed) return;
    const helpers = this.randomNodes(this.o.indirectChecks, (n) => n.state === 'alive' && n.name !== node.name);
    if (helpers.length > 0) {
      const seq2 = this.nextSeq();
      const indirect = this.waitAck(seq2, Math.max(this.o.probeTimeoutMs, this.o.probeIntervalMs - this.o.probeTimeoutMs));
      const req = encodeMessage({ type: 'indirect-ping', seq: seq2, target: { name: node.name, addr: node.addr, port: node.port }, source: this.localNode() });
      for (const h of helpers) this.sendPacket(h, [req]);
      if (await indirect) return;
    }
    if (this.closed) return;
    this.log.debug('probe failed, suspecting member', { member: node.name });
    this.suspectNode(node.name, incarnation, this.me.name);
  }

  private suspicionTimeoutMs(): number {
    const n = Math.max(1, this.numMembers());
    return this.o.suspicionMult * Math.max(1, Math.log10(n)) * this.o.probeIntervalMs;
  }

  private broadcastNode(name: string, m: Message): void {
    this.broadcasts.queue(`n:${name}`, encodeMessage(m));
  }

  private refute(incarnation: number): void {
    this.me.incarnation = Math.max(this.me.incarnation, incarnation) + 1;
    this.log.debug('refuting a suspicion about us', { incarnation: this.me.incarnation });
    this.broadcastNode(this.me.name, { type: 'alive', node: this.localNode(), incarnation: this.me.incarnation });
  }

  private aliveNode(node: NodeAddr, incarnation: number): void {
    if (node.name === this.me.name) {
      if (this.leaving) return;
      const moved = node.addr !== this.me.addr || node.port !== this.me.port;
      if (incarnation > this.me.incarnation || (moved && incarnation >= this.me.incarnation)) this.refute(incarnation);
      return;
    }
    const st = this.nodes.get(node.name);
    if (!st) {
      if (this.nodes.size >= MAX_MEMBERS) {
        this.log.warn('member ignored: the member list is full', { member: node.name, max: MAX_MEMBERS });
        return;
      }
      this.nodes.set(node.name, { ...node, incarnation, state: 'alive', stateChange: this.now() });
      this.log.info('member joined', { member: node.name, addr: hostPort(node.addr, node.port) });
      this.broadcastNode(node.name, { type: 'alive', node, incarnation });
      return;
    }
    let updatesAddr = false;
    if (st.addr !== node.addr || st.port !== node.port) {
      const canReclaim = this.o.deadNodeReclaimTimeMs > 0 && this.now() - st.stateChange > this.o.deadNodeReclaimTimeMs;
      if (!(st.state === 'left' || (st.state === 'dead' && canReclaim))) {
        this.log.debug('conflicting address for member ignored', {
          member: node.name,
          known: hostPort(st.addr, st.port),
          claimed: hostPort(node.addr, node.port),
        });
        return;
      }
      updatesAddr = true;
    }
    if (!updatesAddr && incarnation <= st.incarnation) return;
    if (st.suspicionTimer) clearTimeout(st.suspicionTimer);
    st.suspicionTimer = undefined;
    if (st.state !== 'alive') {
      st.stateChange = this.now();
      this.log.info('member alive', { member: node.name, was: st.state });
    }
    st.addr = node.addr;
    st.port = node.port;
    st.incarnation = incarnation;
    st.state = 'alive';
    this.broadcastNode(node.name, { type: 'alive', node, incarnation });
  }

  private suspectNode(name: string, incarnation: number, from: string): void {
    const st = this.nodes.get(name);
    if (!st || incarnation < st.incarnation) return;
    if (st === this.me) {
      if (!this.leaving) this.refute(incarnation);
      return;
    }
    if (st.state !== 'alive') return;
    st.incarnation = incarnation;
    st.state = 'suspect';
    st.stateChange = this.now();
    this.log.debug('member suspect', { member: name, from });
    this.broadcastNode(name, { type: 'suspect', node: name, incarnation, from });
    st.suspicionTimer = this.after(this.suspicionTimeoutMs(), () => {
      st.suspicionTimer = undefined;
      if (st.state === 'suspect' && st.incarnation === incarnation && this.nodes.get(name) === st) this.deadNode(name, incarnation, this.me.name);
    });
  }

  private deadNode(name: string, incarnation: number, from: string): void {
    const st = this.nodes.get(name);
    if (!st || incarnation < st.incarnation) return;
    if (st.state === 'dead' || st.state === 'left') return;
    if (st === this.me) {
      if (!this.leaving) this.refute(incarnation);
      return;
    }
    if (st.suspicionTimer) clearTimeout(st.suspicionTimer);
    st.suspicionTimer = undefined;
    st.incarnation = incarnation;
    st.state = from === name ? 'left' : 'dead';
    st.stateChange = this.now();
    this.log.info(st.state === 'left' ? 'member left' : 'member dead', { member: name, from });
    this.broadcastNode(name, { type: 'dead', node: name, incarnation, from });
  }

  // ---- gossip ----

  private gossipTick(): void {
    const now = this.now();
    for (const [name, n] of this.nodes) {
      if (n !== this.me && (n.state === 'dead' || n.state === 'left') && now - n.stateChange > this.o.gossipToDeadNodesTimeMs) {
        this.nodes.delete(name);
      }
    }
    if (this.broadcasts.length === 0) return;
    const targets = this.randomNodes(
      this.o.gossipNodes,
      (n) => n.state === 'alive' || n.state === 'suspect' || (n.state === 'dead' && now - n.stateChange < this.o.gossipToDeadNodesTimeMs),
    );
    for (const t of targets) this.sendPacket(t, []);
  }

  private randomNodes(k: number, accept: (n: NodeEntry) => boolean): NodeEntry[] {
    const candidates = [...this.nodes.values()].filter((n) => n !== this.me && accept(n));
    return shuffle(candidates).slice(0, k);
  }

  // ---- TCP: push/pull and reliable user messages ----

  private nodeStates(): NodeState[] {
    return [...this.nodes.values()].map((n) => ({ name: n.name, addr: n.addr, port: n.port, incarnation: n.incarnation, state: n.state }));
  }

  private mergeRemoteNodes(nodes: readonly NodeState[]): void {
    for (const n of nodes) {
      switch (n.state) {
        case 'alive':
          this.aliveNode(n, n.incarnation);
          break;
        case 'left':
          this.deadNode(n.name, n.incarnation, n.name);
          break;
        default:
          // A peer's dead or suspect verdict makes the member suspect here: we check it ourselves.
          this.suspectNode(n.name, n.incarnation, this.me.name);
      }
    }
  }

  private pushPullMessage(join: boolean): Buffer {
    return encodeMessage({ type: 'push-pull', join, sender: this.localNode(), nodes: this.nodeStates(), userState: this.opts.delegate.localState(join) });
  }

  private async pushPull(to: { addr: string; port: number }, join: boolean): Promise<void> {
    const reply = await this.sendStream(to, [this.pushPullMessage(join)], true);
    const env = decodeEnvelope(reply!, this.o.streamMaxBytes);
    if (!this.labelOk(env.label)) throw new Error(`peer ${hostPort(to.addr, to.port)} has cluster label "${env.label}", we have "${this.o.clusterLabel}"`);
    const pp = env.messages.find((m) => m.type === 'push-pull');
    if (!pp || pp.type !== 'push-pull') throw new Error(`peer ${hostPort(to.addr, to.port)} answered push/pull without state`);
    this.mergeRemoteNodes(pp.nodes);
    this.opts.delegate.mergeRemoteState(pp.userState, join);
  }

  /** Sends one frame; with `wantReply`, reads one frame back. Bounded by the dial and stream timeouts. */
  private sendStream(to: { addr: string; port: number }, msgs: Buffer[], wantReply = false): Promise<Buffer | undefined> {
    const peer = hostPort(to.addr, to.port);
    if (this.closed) return Promise.reject(new Error('memberlist is shut down'));
    if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'out', 'tcp')) return Promise.reject(new Error(`dropped by packet filter: ${peer}`));
    const env = encodeEnvelope(this.o.clusterLabel, msgs, this.o.compressStreams);
    if (env.length > this.o.streamMaxBytes) return Promise.reject(new Error(`frame of ${env.length} bytes exceeds the ${this.o.streamMaxBytes}-byte limit`));
    this.counters.streamsSent++;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const sock = net.connect({ host: to.addr, port: to.port });
      this.sockets.add(sock);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | undefined, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.sockets.delete(sock);
        sock.destroy();
        if (err) reject(err);
        else resolve(value);
      };
      const deadline = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => finish(new Error(`${what} ${peer} timed out after ${ms} ms`)), ms);
        timer.unref();
      };
      deadline(this.o.dialTimeoutMs, 'connect to');
      sock.on('error', (err) => finish(err));
      sock.on('connect', () => {
        deadline(this.o.streamTimeoutMs, 'stream to');
        const len = Buffer.allocUnsafe(4);
        len.writeUInt32BE(env.length, 0);
        sock.write(len);
        sock.write(env);
        if (!wantReply) {
          sock.end(() => finish(undefined));
          return;
        }
        readFrame(sock, this.o.streamMaxBytes).then(
          (frame) => finish(undefined, frame),
          (err: Error) => finish(err),
        );
      });
    });
  }

  private handleConn(conn: net.Socket): void {
    const remote = hostPort(conn.remoteAddress ?? '?', conn.remotePort ?? 0);
    conn.on('error', () => undefined);
    if (this.closed || !this.me || this.inboundStreams >= this.o.maxInboundStreams) {
      this.drop('too_many_streams', remote);
      conn.destroy();
      return;
    }
    this.inboundStreams++;
    this.counters.streamsReceived++;
    this.sockets.add(conn);
    // An absolute deadline, not an idle timeout: a peer trickling a byte at a time cannot hold a stream.
    const deadline = setTimeout(() => conn.destroy(), this.o.streamTimeoutMs);
    deadline.unref();
    const done = () => {
      clearTimeout(deadline);
      this.inboundStreams--;
      this.sockets.delete(conn);
    };
    conn.once('close', done);
    readFrame(conn, this.o.streamMaxBytes).then(
      (frame) => {
        try {
          this.handleStreamFrame(conn, frame, remote);
        } catch (err) {
          this.drop('malformed', remote, err instanceof Error ? err.message : String(err));
          conn.destroy();
        }
      },
      (err: Error) => {
        this.drop(err.message.includes('limit') ? 'oversize' : 'stream_error', remote, err.message);
        conn.destroy();
      },
    );
  }

  private handleStreamFrame(conn: net.Socket, frame: Buffer, remote: string): void {
    if (this.closed) return void conn.destroy();
    let env;
    try {
      env = decodeEnvelope(frame, this.o.streamMaxBytes);
    } catch (err) {
      this.drop('malformed', remote, err instanceof Error ? err.message : String(err));
      return void conn.destroy();
    }
    if (!this.labelOk(env.label)) {
      this.drop('label_mismatch', remote, `label "${env.label}"`);
      return void conn.destroy();
    }
    let reply: Buffer | undefined;
    for (const m of env.messages) {
      try {
        if (m.type === 'push-pull') {
          const peer = hostPort(m.sender.addr, m.sender.port);
          if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'in', 'tcp')) {
            this.drop('filtered', peer);
            return void conn.destroy();
          }
          // Merge first, then answer: the reply then already carries our refutation of any stale verdict
          // about us in their state, which is what heals a partition in one round trip.
          this.mergeRemoteNodes(m.nodes);
          this.opts.delegate.mergeRemoteState(m.userState, m.join);
          reply = this.pushPullMessage(false);
        } else if (m.type === 'user') {
          this.opts.delegate.notifyMsg(m.payload);
        }
      } catch (err) {
        this.drop('malformed', remote, err instanceof Error ? err.message : String(err));
        return void conn.destroy();
      }
    }
    if (reply) {
      const env2 = encodeEnvelope(this.o.clusterLabel, [reply], this.o.compressStreams);
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(env2.length, 0);
      conn.write(len);
      conn.end(env2);
    } else {
      conn.end();
    }
  }
}

/** Reads one length-prefixed frame; rejects past `maxBytes` (naming the limit) or if the stream ends early. */
export function readFrame(sock: net.Socket, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    let want = -1;
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      sock.off('error', onErr);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (want < 0 && have >= 4) {
        const head = Buffer.concat(chunks);
        want = head.readUInt32BE(0);
        if (want > maxBytes) {
          cleanup();
          reject(new Error(`frame of ${want} bytes exceeds the ${maxBytes}-byte limit`));
          return;
        }
      }
      if (want >= 0 && have >= 4 + want) {
        cleanup();
        resolve(Buffer.concat(chunks).subarray(4, 4 + want));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`stream ended after ${have} bytes${want >= 0 ? ` of a ${want}-byte frame` : ''}`));
    };
    const onErr = (err: Error) => {
      cleanup();
      reject(err);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
    sock.once('error', onErr);
  });
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** The first non-internal IPv4 address of this host (what memberlist advertises when bound to 0.0.0.0). */
export function firstPrivateAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
