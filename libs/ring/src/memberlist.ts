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
//
// This file is the membership state (alive/suspect/dead/left and incarnations), gossip and push/pull. The
// pieces it stands on: memberlist-transport.ts (UDP and framed TCP on one port), failure-detector.ts
// (probes), broadcast-queue.ts, memberlist-addr.ts (addresses), memberlist-wire.ts (the bytes).

import type net from 'node:net';
import { nopLogger, type Logger } from '@stave/core';
import { BroadcastQueue } from './broadcast-queue';
import { FailureDetector, type FailureDetectorHost, type ProbeTarget } from './failure-detector';
import { firstPrivateAddress, hostPort, splitHostPort } from './memberlist-addr';
import { Transport, writeFrame, type Peer } from './memberlist-transport';
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
/** Members a direct send (a joiner's "alive", a leaver's last changes) goes to at most; gossip reaches the rest. */
const MAX_DIRECT_SENDS = 64;

export class Memberlist implements FailureDetectorHost {
  private readonly o: Required<Omit<MemberlistOptions, 'packetFilter' | 'onDrop' | 'advertiseAddr' | 'advertisePort' | 'logger' | 'delegate' | 'now'>>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly nodes = new Map<string, NodeEntry>();
  private me!: NodeEntry;
  private readonly transport: Transport;
  private readonly detector: FailureDetector;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly broadcasts: BroadcastQueue;
  private closed = false;
  /** Our own death is gossiped; suspicions about us are no longer refuted. */
  private leaving = false;
  /** streamsReceived is the transport's. */
  private readonly counters: Omit<MemberlistStats, 'streamsReceived'> = {
    packetsReceived: 0,
    packetsSent: 0,
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
    this.transport = new Transport(
      { ...this.o, logger: this.log },
      {
        accepting: () => !this.closed && this.me !== undefined,
        packet: (buf, from) => this.handlePacket(buf, from),
        stream: (conn, frame, remote) => this.handleStreamFrame(conn, frame, remote),
        dropStream: (reason, remote, detail) => this.drop(reason, remote, detail),
      },
    );
    this.detector = new FailureDetector(this, this.o, this.log);
  }

  get name(): string {
    return this.o.nodeName;
  }

  /** Binds UDP and TCP on one port, and starts probing, gossip and push/pull. */
  async start(): Promise<void> {
    await this.transport.bind();
    const advertise = this.advertised();
    this.me = { name: this.o.nodeName, addr: advertise.addr, port: advertise.port, incarnation: 0, state: 'alive', stateChange: this.now() };
    this.nodes.set(this.me.name, this.me);
    this.every(this.o.probeIntervalMs, () => void this.detector.tick().catch((err: unknown) => this.log.warn('probe failed', { err: String(err) })));
    this.every(this.o.gossipIntervalMs, () => this.gossipTick());
    this.schedulePushPull();
    this.log.info('memberlist listening', {
      node: this.me.name,
      advertise: hostPort(this.me.addr, this.me.port),
      bind: hostPort(this.o.bindAddr, this.transport.boundPort()),
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
    return { ...this.counters, streamsReceived: this.transport.streamsReceived, dropped: { ...this.counters.dropped, queue_full: this.broadcasts.dropped } };
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
    // The members we contacted gossip that we joined, but gossip reaches each member only with some
    // probability, and one that missed it would not send to us until its next push/pull: we tell every
    // member we just learnt of ourselves.
    if (joined > 0) this.sendToAll([encodeMessage({ type: 'alive', node: this.localNode(), incarnation: this.me.incarnation })]);
    return { joined, errors };
  }

  /** A push/pull exchange with a random member now (also what the periodic timer does). */
  async pushPullRandom(): Promise<boolean> {
    const now = this.now();
    const [target] = this.randomNodes(1, (n) => this.gossipsTo(n, now));
    if (!target) return false;
    try {
      await this.pushPull(target, false);
      return true;
    } catch (err) {
      this.log.debug('push/pull failed', { to: target.name, err: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /**
   * Sends KV updates over TCP to every member we gossip to (up to 64), in parallel: a leaver's last changes
   * (its ring entry going LEFT). Gossip alone spreads a change to each member only with some probability
   * (each member sends it retransmit_factor × ⌈log10(n+1)⌉ times, to random members), and so does one UDP
   * packet; a member that missed it would wait for a push/pull, up to pull_push_interval later. Resolves
   * with how many members took the frame.
   */
  async sendUserToAll(payloads: readonly Uint8Array[]): Promise<number> {
    if (this.closed || !this.me || payloads.length === 0) return 0;
    const msgs = payloads.map((p) => encodeMessage({ type: 'user', payload: p }));
    const now = this.now();
    const targets = this.randomNodes(MAX_DIRECT_SENDS, (x) => this.gossipsTo(x, now));
    const results = await Promise.allSettled(targets.map((t) => this.sendStream(t, msgs)));
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') this.log.debug('reliable send failed', { to: targets[i]!.name, err: String(r.reason) });
    }
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /** `msgs` to every member we gossip to (up to 64), as many to a packet as fit; larger ones are skipped. */
  private sendToAll(msgs: readonly Buffer[]): void {
    if (this.closed || !this.me) return;
    const room = this.o.packetMaxBytes - envelopeOverhead(this.o.clusterLabel);
    const packets: Buffer[][] = [];
    let cur: Buffer[] = [];
    let used = 0;
    for (const msg of msgs) {
      if (msg.length > room) continue;
      if (used + msg.length > room) {
        packets.push(cur);
        cur = [];
        used = 0;
      }
      cur.push(msg);
      used += msg.length;
    }
    if (cur.length > 0) packets.push(cur);
    // As gossip does, members declared dead recently are sent to as well: our verdict may be wrong.
    const now = this.now();
    for (const n of this.randomNodes(MAX_DIRECT_SENDS, (x) => this.gossipsTo(x, now))) {
      for (const p of packets) this.sendPacket(n, p);
    }
  }

  /** Push/pull with up to `k` random alive members at once (shutdown uses it to hand over the last updates). */
  async pushPullMembers(k: number): Promise<number> {
    const targets = this.randomNodes(k, (n) => n.state === 'alive');
    const results = await Promise.allSettled(targets.map((t) => this.pushPull(t, false)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /**
   * Leaves: gossips that we left (a dead message from ourselves) straight to every member we gossip to and
   * then through the broadcast queue. Waits up to `timeoutMs` for the queue to send it once.
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
    this.sendToAll([msg]);
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
    this.detector.shutdown();
    await this.transport.shutdown();
  }

  // ---- addresses ----

  private advertised(): { addr: string; port: number } {
    if (this.opts.advertiseAddr) return { addr: this.opts.advertiseAddr, port: this.opts.advertisePort || this.transport.boundPort() };
    const bind = this.o.bindAddr;
    if (bind !== '0.0.0.0' && bind !== '::' && bind !== '') return { addr: bind, port: this.transport.boundPort() };
    return { addr: firstPrivateAddress(), port: this.transport.boundPort() };
  }

  // ---- timers ----

  private every(ms: number, f: () => void): void {
    const t = setInterval(() => {
      if (!this.closed) f();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** A timer cleared on shutdown (also the failure detector's). */
  after(ms: number, f: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) f();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
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

  private handlePacket(buf: Buffer, from: Peer): void {
    if (this.closed || !this.me) return;
    const peer = hostPort(from.addr, from.port);
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
        this.handleMessage(m, from);
      } catch (err) {
        this.drop('malformed', peer, err instanceof Error ? err.message : String(err));
      }
    }
  }

  private handleMessage(m: Message, from: Peer): void {
    switch (m.type) {
      case 'ping':
        if (m.target !== this.me.name) return; // meant for a member that used to live at this address
        this.sendPacket(from, [encodeMessage({ type: 'ack', seq: m.seq })]);
        return;
      case 'indirect-ping':
        this.detector.indirectPing(m);
        return;
      case 'ack':
        this.detector.ack(m.seq);
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
  sendPacket(to: Peer, primary: Buffer[]): void {
    if (this.closed) return;
    const peer = hostPort(to.addr, to.port);
    if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'out', 'udp')) return;
    let used = envelopeOverhead(this.o.clusterLabel);
    for (const p of primary) used += p.length;
    const piggy = this.broadcasts.take(this.o.packetMaxBytes - used, this.retransmitLimit());
    const msgs = [...primary, ...piggy];
    if (msgs.length === 0) return;
    if (this.transport.sendPacket(to, encodeEnvelope(this.o.clusterLabel, msgs))) this.counters.packetsSent++;
  }

  private retransmitLimit(): number {
    return this.o.retransmitFactor * Math.max(1, Math.ceil(Math.log10(this.numMembers() + 1)));
  }

  // ---- membership state (what the failure detector and gossip tell us) ----

  isClosed(): boolean {
    return this.closed;
  }

  isLeaving(): boolean {
    return this.leaving;
  }

  shuffledOthers(): string[] {
    return shuffle([...this.nodes.keys()].filter((k) => k !== this.me.name));
  }

  probeable(name: string): ProbeTarget | undefined {
    const n = this.nodes.get(name);
    return n && n !== this.me && (n.state === 'alive' || n.state === 'suspect') ? n : undefined;
  }

  helpers(k: number, exclude: string): Peer[] {
    return this.randomNodes(k, (n) => n.state === 'alive' && n.name !== exclude);
  }

  suspect(name: string, incarnation: number): void {
    this.suspectNode(name, incarnation, this.me.name);
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
    st.suspicionTimer = this.after(this.detector.suspicionTimeoutMs(this.numMembers()), () => {
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
    for (const t of this.randomNodes(this.o.gossipNodes, (n) => this.gossipsTo(n, now))) this.sendPacket(t, []);
  }

  /** Whom gossip and push/pull go to: members alive or suspect, and those declared dead within gossip_to_dead_nodes_time. */
  private gossipsTo(n: NodeEntry, now: number): boolean {
    return n.state === 'alive' || n.state === 'suspect' || (n.state === 'dead' && now - n.stateChange < this.o.gossipToDeadNodesTimeMs);
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

  private async pushPull(to: Peer, join: boolean): Promise<void> {
    const reply = await this.sendStream(to, [this.pushPullMessage(join)], true);
    const env = decodeEnvelope(reply!, this.o.streamMaxBytes);
    if (!this.labelOk(env.label)) throw new Error(`peer ${hostPort(to.addr, to.port)} has cluster label "${env.label}", we have "${this.o.clusterLabel}"`);
    const pp = env.messages.find((m) => m.type === 'push-pull');
    if (!pp || pp.type !== 'push-pull') throw new Error(`peer ${hostPort(to.addr, to.port)} answered push/pull without state`);
    this.mergeRemoteNodes(pp.nodes);
    this.opts.delegate.mergeRemoteState(pp.userState, join);
  }

  /** Sends one frame; with `wantReply`, reads one frame back. Bounded by the dial and stream timeouts. */
  private sendStream(to: Peer, msgs: Buffer[], wantReply = false): Promise<Buffer | undefined> {
    const peer = hostPort(to.addr, to.port);
    if (this.closed) return Promise.reject(new Error('memberlist is shut down'));
    if (this.opts.packetFilter && !this.opts.packetFilter(peer, 'out', 'tcp')) return Promise.reject(new Error(`dropped by packet filter: ${peer}`));
    const env = encodeEnvelope(this.o.clusterLabel, msgs, this.o.compressStreams);
    if (env.length > this.o.streamMaxBytes) return Promise.reject(new Error(`frame of ${env.length} bytes exceeds the ${this.o.streamMaxBytes}-byte limit`));
    this.counters.streamsSent++;
    return this.transport.sendStream(to, env, wantReply);
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
    if (reply) writeFrame(conn, encodeEnvelope(this.o.clusterLabel, [reply], this.o.compressStreams));
    conn.end();
  }
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
