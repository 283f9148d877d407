// memberlist's transport: UDP datagrams and TCP streams on one port. A stream carries one length-prefixed
// frame each way (4-byte big-endian length, then the envelope). Everything is bounded: a frame past
// streamMaxBytes is refused (naming the limit), inbound streams are capped at maxInboundStreams, a dial has
// dialTimeoutMs and a stream streamTimeoutMs — an absolute deadline, so a peer trickling a byte at a time
// cannot hold a stream. What the bytes mean is the caller's (memberlist.ts): this file moves them.

import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '@stave/core';
import { hostPort } from './memberlist-addr';

export interface Peer {
  addr: string;
  port: number;
}

export interface TransportOptions {
  /** Address to bind UDP and TCP to ('0.0.0.0' for all IPv4, '::' for all). */
  bindAddr: string;
  /** UDP and TCP share this port; 0 picks a free one. */
  bindPort: number;
  streamTimeoutMs: number;
  dialTimeoutMs: number;
  streamMaxBytes: number;
  maxInboundStreams: number;
  logger: Logger;
}

/** The reasons the transport gives up on an inbound stream (a subset of memberlist's DROP_REASONS). */
export type StreamDropReason = 'too_many_streams' | 'oversize' | 'stream_error' | 'malformed';

/** What the transport hands up. */
export interface TransportHandler {
  /** false: inbound streams are refused (not started yet, or shut down). */
  accepting(): boolean;
  packet(buf: Buffer, from: Peer): void;
  /** One inbound frame; the handler answers (writeFrame) and ends or destroys `conn`. A throw drops the stream as malformed. */
  stream(conn: net.Socket, frame: Buffer, remote: string): void;
  dropStream(reason: StreamDropReason, remote: string, detail?: string): void;
}

export class Transport {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private inboundStreams = 0;
  /** Inbound streams accepted. */
  streamsReceived = 0;

  constructor(
    private readonly o: TransportOptions,
    private readonly handler: TransportHandler,
  ) {}

  /** The port bound (TCP and UDP), 0 before `bind`. */
  boundPort(): number {
    const a = this.tcp?.address();
    return a && typeof a !== 'string' ? a.port : 0;
  }

  async bind(): Promise<void> {
    const family = this.o.bindAddr.includes(':') ? 'udp6' : 'udp4';
    // UDP and TCP must share the port. With port 0 the TCP port the kernel picked may be taken for UDP:
    // try again, a bounded number of times.
    for (let attempt = 0; ; attempt++) {
      const tcp = net.createServer((conn) => this.handleConn(conn));
      tcp.on('error', (err) => this.o.logger.warn('tcp server error', { err }));
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
      udp.on('error', (err) => this.o.logger.warn('udp socket error', { err }));
      udp.on('message', (buf, rinfo) => this.handler.packet(buf, { addr: rinfo.address, port: rinfo.port }));
      this.tcp = tcp;
      this.udp = udp;
      return;
    }
  }

  /** Sends one datagram (best effort: a failure is logged at debug). false when nothing was handed to the socket. */
  sendPacket(to: Peer, packet: Buffer): boolean {
    if (!this.udp) return false;
    const peer = hostPort(to.addr, to.port);
    try {
      this.udp.send(packet, to.port, to.addr, (err) => {
        if (err) this.o.logger.debug('udp send failed', { to: peer, err });
      });
      return true;
    } catch (err) {
      this.o.logger.debug('udp send failed', { to: peer, err: String(err) });
      return false;
    }
  }

  /** Sends one frame; with `wantReply`, reads one frame back. Bounded by the dial and stream timeouts. */
  sendStream(to: Peer, frame: Buffer, wantReply: boolean): Promise<Buffer | undefined> {
    const peer = hostPort(to.addr, to.port);
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
        writeFrame(sock, frame);
        if (!wantReply) {
          sock.end(() => finish(undefined));
          return;
        }
        readFrame(sock, this.o.streamMaxBytes).then(
          (reply) => finish(undefined, reply),
          (err: Error) => finish(err),
        );
      });
    });
  }

  private handleConn(conn: net.Socket): void {
    const remote = hostPort(conn.remoteAddress ?? '?', conn.remotePort ?? 0);
    conn.on('error', () => undefined);
    if (!this.handler.accepting() || this.inboundStreams >= this.o.maxInboundStreams) {
      this.handler.dropStream('too_many_streams', remote);
      conn.destroy();
      return;
    }
    this.inboundStreams++;
    this.streamsReceived++;
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
          this.handler.stream(conn, frame, remote);
        } catch (err) {
          this.handler.dropStream('malformed', remote, err instanceof Error ? err.message : String(err));
          conn.destroy();
        }
      },
      (err: Error) => {
        this.handler.dropStream(err.message.includes('limit') ? 'oversize' : 'stream_error', remote, err.message);
        conn.destroy();
      },
    );
  }

  /** Closes every stream and both sockets at once. */
  async shutdown(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }
}

/** Writes one length-prefixed frame. */
export function writeFrame(sock: net.Socket, frame: Buffer): void {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(frame.length, 0);
  sock.write(len);
  sock.write(frame);
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
