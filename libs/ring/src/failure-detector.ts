// SWIM failure detection (memberlist's probe loop): every probe interval one member — round robin over a
// shuffled list — gets a UDP ping; no ack within the probe timeout → `indirectChecks` other members ping it
// for us; still no ack → it is *suspect* (the membership state in memberlist.ts gossips that and declares
// it dead when nobody refutes within suspicionTimeoutMs). This file owns the probe order, the sequence
// numbers and the acks awaited; it sends through, and learns members from, its host.

import type { Logger } from '@stave/core';
import { encodeMessage, type NodeAddr } from './memberlist-wire';
import type { Peer } from './memberlist-transport';

/** A member as the detector sees it. */
export interface ProbeTarget extends NodeAddr {
  incarnation: number;
}

/** What the detector needs of the member list it watches. */
export interface FailureDetectorHost {
  isClosed(): boolean;
  isLeaving(): boolean;
  localNode(): NodeAddr;
  /** The other members' names, in random order (dead ones too: they are skipped when their turn comes). */
  shuffledOthers(): string[];
  /** The member if it is worth probing (alive or suspect, not us). */
  probeable(name: string): ProbeTarget | undefined;
  /** Up to `k` random alive members other than us and `exclude`. */
  helpers(k: number, exclude: string): Peer[];
  sendPacket(to: Peer, msgs: Buffer[]): void;
  suspect(name: string, incarnation: number): void;
  /** A timer the host clears on shutdown. */
  after(ms: number, f: () => void): NodeJS.Timeout;
  cancel(t: NodeJS.Timeout): void;
}

export interface FailureDetectorOptions {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  indirectChecks: number;
  suspicionMult: number;
}

export class FailureDetector {
  private probeOrder: string[] = [];
  private probing = false;
  private seq = 0;
  private readonly ackWaiters = new Map<number, (ok: boolean) => void>();

  constructor(
    private readonly host: FailureDetectorHost,
    private readonly o: FailureDetectorOptions,
    private readonly log: Logger,
  ) {}

  /** One probe interval: probe the next member unless a probe is still running. */
  async tick(): Promise<void> {
    if (this.probing || this.host.isLeaving()) return;
    const target = this.nextTarget();
    if (!target) return;
    this.probing = true;
    try {
      await this.probe(target);
    } finally {
      this.probing = false;
    }
  }

  /** How long a suspect has to refute before it is declared dead: suspicion_mult × log10(n) × probe interval. */
  suspicionTimeoutMs(members: number): number {
    const n = Math.max(1, members);
    return this.o.suspicionMult * Math.max(1, Math.log10(n)) * this.o.probeIntervalMs;
  }

  /** An ack arrived. */
  ack(seq: number): void {
    this.ackWaiters.get(seq)?.(true);
  }

  /** A member asks us to ping `target` for it; we ack to `source` if the target answers in time. */
  indirectPing(m: { seq: number; target: NodeAddr; source: NodeAddr }): void {
    const seq = this.nextSeq();
    const wait = this.waitAck(seq, this.o.probeTimeoutMs);
    this.host.sendPacket(m.target, [encodeMessage({ type: 'ping', seq, target: m.target.name, source: this.host.localNode() })]);
    void wait.then((ok) => {
      if (ok) this.host.sendPacket(m.source, [encodeMessage({ type: 'ack', seq: m.seq })]);
    });
  }

  /** Every awaited ack resolves as missed (shutdown). */
  shutdown(): void {
    for (const w of [...this.ackWaiters.values()]) w(false);
    this.ackWaiters.clear();
  }

  private nextTarget(): ProbeTarget | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.probeOrder.length > 0) {
        const n = this.host.probeable(this.probeOrder.pop()!);
        if (n) return n;
      }
      this.probeOrder = this.host.shuffledOthers();
    }
    return undefined;
  }

  private async probe(node: ProbeTarget): Promise<void> {
    const incarnation = node.incarnation;
    const seq = this.nextSeq();
    const direct = this.waitAck(seq, this.o.probeTimeoutMs);
    this.host.sendPacket(node, [encodeMessage({ type: 'ping', seq, target: node.name, source: this.host.localNode() })]);
    if (await direct) return;
    if (this.host.isClosed()) return;
    const helpers = this.host.helpers(this.o.indirectChecks, node.name);
    if (helpers.length > 0) {
      const seq2 = this.nextSeq();
      const indirect = this.waitAck(seq2, Math.max(this.o.probeTimeoutMs, this.o.probeIntervalMs - this.o.probeTimeoutMs));
      const req = encodeMessage({
        type: 'indirect-ping',
        seq: seq2,
        target: { name: node.name, addr: node.addr, port: node.port },
        source: this.host.localNode(),
      });
      for (const h of helpers) this.host.sendPacket(h, [req]);
      if (await indirect) return;
    }
    if (this.host.isClosed()) return;
    this.log.debug('probe failed, suspecting member', { member: node.name });
    this.host.suspect(node.name, incarnation);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private waitAck(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const t = this.host.after(timeoutMs, () => done(false));
      const done = (ok: boolean) => {
        if (this.ackWaiters.get(seq) !== done) return;
        this.ackWaiters.delete(seq);
        this.host.cancel(t);
        resolve(ok);
      };
      this.ackWaiters.set(seq, done);
      if (this.host.isClosed()) done(false);
    });
  }
}
