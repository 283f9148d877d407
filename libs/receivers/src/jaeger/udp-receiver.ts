// Jaeger agent UDP: each datagram is one thrift `Agent.emitBatch` message — compact protocol on 6831,
// binary on 6832 (jaeger-client for Node and OTel's Jaeger exporter use binary; the Go, Java and Python
// clients use compact). UDP has no way to answer, so nothing here may throw at the sender: a malformed
// datagram is dropped and counted, a failed push is logged and counted, and a full queue drops and counts.
// Work is bounded: at most `queueSize` datagrams and `maxQueueBytes` bytes wait, and at most `workers`
// pushes run at once (the agent's own defaults: 1000 packets, 10 workers).

import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { decodeJaegerAgentEmitBatch, jaegerThriftBatchToOtlp } from '@stave/model';
import { BasicService, codeOf, Code, type Logger } from '@stave/server';
import type { ReceiverProtocol, TracePusher } from '../pusher';
import { countSpans, parseEndpoint, pushRequest } from './receiver-common';

export type JaegerUdpProtocol = 'compact' | 'binary';

export const JAEGER_COMPACT_DEFAULT_ENDPOINT = '0.0.0.0:6831';
export const JAEGER_BINARY_DEFAULT_ENDPOINT = '0.0.0.0:6832';

/** Why a datagram was dropped: the `reason` label of the drop counter (a closed set). */
export const UDP_DROP_MALFORMED = 'malformed';
export const UDP_DROP_QUEUE_FULL = 'queue_full';
export const UDP_DROP_PUSH_FAILED = 'push_failed';
export type UdpDropReason = typeof UDP_DROP_MALFORMED | typeof UDP_DROP_QUEUE_FULL | typeof UDP_DROP_PUSH_FAILED;

export const UDP_DROPPED_METRIC = 'stave_receiver_udp_packets_dropped_total';

export interface JaegerUdpReceiverOptions {
  protocol: JaegerUdpProtocol;
  pusher: TracePusher;
  logger: Logger;
  /** Where the drop counter is registered; several receivers may share one registry. */
  registry?: Registry;
  /** Default 0.0.0.0:6831 (compact) or 0.0.0.0:6832 (binary). */
  endpoint?: string;
  /** Datagrams waiting for a worker (default 1000). */
  queueSize?: number;
  /** Bytes waiting for a worker (default 16 MiB). */
  maxQueueBytes?: number;
  /** Pushes in flight at once (default 10). */
  workers?: number;
  /** SO_RCVBUF, when set. */
  socketBufferBytes?: number;
}

const dropCounters = new WeakMap<Registry, Counter<'receiver' | 'reason'>>();

function dropCounter(registry: Registry | undefined): Counter<'receiver' | 'reason'> {
  const make = (registers: Registry[]) =>
    new Counter({
      name: UDP_DROPPED_METRIC,
      help: 'UDP datagrams dropped by a Jaeger agent receiver, by receiver and reason (malformed, queue_full, push_failed).',
      labelNames: ['receiver', 'reason'] as const,
      registers,
    });
  if (!registry) return make([]);
  let c = dropCounters.get(registry);
  if (!c) {
    c = make([registry]);
    dropCounters.set(registry, c);
  }
  return c;
}

export class JaegerUdpReceiver extends BasicService {
  private socket: dgram.Socket | undefined;
  private readonly receiver: ReceiverProtocol;
  private readonly dropped: Counter<'receiver' | 'reason'>;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly queueSize: number;
  private readonly maxQueueBytes: number;
  private readonly workers: number;

  constructor(private readonly opts: JaegerUdpReceiverOptions) {
    super(opts.protocol === 'compact' ? 'jaeger-thrift-compact-receiver' : 'jaeger-thrift-binary-receiver');
    this.receiver = opts.protocol === 'compact' ? 'jaeger_thrift_compact' : 'jaeger_thrift_binary';
    this.dropped = dropCounter(opts.registry);
    this.queueSize = opts.queueSize ?? 1000;
    this.maxQueueBytes = opts.maxQueueBytes ?? 16 << 20;
    this.workers = Math.max(1, opts.workers ?? 10);
  }

  address(): AddressInfo {
    if (!this.socket) throw new Error(`${this.name} is not listening`);
    return this.socket.address();
  }

  protected override async starting(): Promise<void> {
    const { host, port } = parseEndpoint(
      this.opts.endpoint ?? (this.opts.protocol === 'compact' ? JAEGER_COMPACT_DEFAULT_ENDPOINT : JAEGER_BINARY_DEFAULT_ENDPOINT),
    );
    const socket = dgram.createSocket({
      type: host.includes(':') ? 'udp6' : 'udp4',
      ...(this.opts.socketBufferBytes ? { recvBufferSize: this.opts.socketBufferBytes } : {}),
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host || undefined, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // After bind, socket errors are logged: a receiver never takes the process down over one datagram.
    socket.on('error', (err) => this.opts.logger.error('udp socket error', { receiver: this.receiver, err }));
    socket.on('message', (msg) => this.enqueue(msg));
    const a = this.address();
    this.opts.logger.info('receiver listening', { receiver: this.receiver, address: `${a.address}:${a.port}`, port: a.port });
  }

  protected override async stopping(): Promise<void> {
    const socket = this.socket;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    // Datagrams already taken in are pushed before the receiver reports stopped.
    await this.idle();
  }

  /** Resolves once nothing is queued or in flight (tests; stopping). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drop(reason: UdpDropReason): void {
    this.dropped.inc({ receiver: this.receiver, reason });
  }

  private enqueue(msg: Buffer): void {
    if (this.queue.length >= this.queueSize || this.queuedBytes + msg.length > this.maxQueueBytes) {
      this.drop(UDP_DROP_QUEUE_FULL);
      return;
    }
    this.queue.push(msg);
    this.queuedBytes += msg.length;
    this.pump();
  }

  private pump(): void {
    while (this.active < this.workers && this.queue.length > 0) {
      const msg = this.queue.shift()!;
      this.queuedBytes -= msg.length;
      this.active++;
      this.process(msg)
        .catch((err: unknown) => {
          this.drop(UDP_DROP_PUSH_FAILED);
          this.opts.logger.error('datagram handler failed', { receiver: this.receiver, err });
        })
        .finally(() => {
          this.active--;
          this.pump();
          if (this.active === 0 && this.queue.length === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }

  private async process(msg: Buffer): Promise<void> {
    let otlp;
    try {
      otlp = jaegerThriftBatchToOtlp(decodeJaegerAgentEmitBatch(msg, this.opts.protocol));
    } catch (err) {
      this.drop(UDP_DROP_MALFORMED);
      this.opts.logger.debug('dropped malformed datagram', { receiver: this.receiver, bytes: msg.length, err });
      return;
    }
    if (countSpans(otlp) === 0) return;
    try {
      await pushRequest(this.opts.pusher, { orgID: undefined, protocol: this.receiver }, otlp, this.opts.logger);
    } catch (err) {
      this.drop(UDP_DROP_PUSH_FAILED);
      const code = codeOf(err);
      this.opts.logger.log(code === Code.ResourceExhausted || code === Code.InvalidArgument ? 'warn' : 'error', 'push failed', {
        receiver: this.receiver,
        code: Code[code],
        err,
      });
    }
  }
}
