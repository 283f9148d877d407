// The gossip wire format. One envelope per UDP packet or TCP frame:
//
//   u16 magic 0x5356 ("SV") · u8 version · u8 label length · label · u8 message count ·
//   messages (u8 type · u32 length · body) · u32 CRC-32 of everything before it
//
// Version 2 is the same with everything after the label deflated (memberlist.compression_enabled; used for
// TCP frames, where push/pull states are large). Inflating is capped at the frame limit: a small frame
// cannot expand into a large allocation. Every member decodes both versions.
//
// The cluster label keeps two clusters that can reach each other from merging; the CRC drops line noise
// and most garbage before any body is parsed; every body is parsed with bounds (wire.ts) and must be
// consumed exactly. A TCP frame is the same envelope behind a u32 length, read only up to the frame limit.

import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { Reader, WireError, Writer } from './wire';

export const MAGIC = 0x5356;
export const PROTOCOL_VERSION = 1;
const COMPRESSED_VERSION = 2;

export const WIRE_LIMITS = {
  nameBytes: 512,
  addrBytes: 253,
  labelBytes: 255,
  messagesPerEnvelope: 255,
  nodesPerPushPull: 10_000,
} as const;

export type NodeStateName = 'alive' | 'suspect' | 'dead' | 'left';
const NODE_STATES: readonly NodeStateName[] = ['alive', 'suspect', 'dead', 'left'];

export interface NodeAddr {
  name: string;
  addr: string;
  port: number;
}

export interface NodeState extends NodeAddr {
  incarnation: number;
  state: NodeStateName;
}

export type Message =
  | { type: 'ping'; seq: number; target: string; source: NodeAddr }
  | { type: 'indirect-ping'; seq: number; target: NodeAddr; source: NodeAddr }
  | { type: 'ack'; seq: number }
  | { type: 'alive'; node: NodeAddr; incarnation: number }
  | { type: 'suspect'; node: string; incarnation: number; from: string }
  | { type: 'dead'; node: string; incarnation: number; from: string }
  | { type: 'user'; payload: Uint8Array }
  | { type: 'push-pull'; join: boolean; sender: NodeAddr; nodes: NodeState[]; userState: Uint8Array };

const TYPE_CODE: Record<Message['type'], number> = {
  ping: 1,
  'indirect-ping': 2,
  ack: 3,
  alive: 4,
  suspect: 5,
  dead: 6,
  user: 7,
  'push-pull': 8,
};

function writeAddr(w: Writer, a: NodeAddr): void {
  w.str(a.name).str(a.addr).u16(a.port);
}

function readAddr(r: Reader): NodeAddr {
  const name = r.str(WIRE_LIMITS.nameBytes, 'node name');
  if (name === '') throw new WireError('empty node name');
  const addr = r.str(WIRE_LIMITS.addrBytes, 'node address');
  const port = r.u16('node port');
  if (addr === '' || port === 0) throw new WireError(`node ${name}: no address`);
  return { name, addr, port };
}

/** One message, framed (type, length, body): broadcasts are encoded once and copied into many packets. */
export function encodeMessage(m: Message): Buffer {
  const w = new Writer(64);
  w.u8(TYPE_CODE[m.type]).u32(0);
  switch (m.type) {
    case 'ping':
      w.u32(m.seq).str(m.target);
      writeAddr(w, m.source);
      break;
    case 'indirect-ping':
      w.u32(m.seq);
      writeAddr(w, m.target);
      writeAddr(w, m.source);
      break;
    case 'ack':
      w.u32(m.seq);
      break;
    case 'alive':
      writeAddr(w, m.node);
      w.u32(m.incarnation);
      break;
    case 'suspect':
    case 'dead':
      w.str(m.node).u32(m.incarnation).str(m.from);
      break;
    case 'user':
      w.bytes(m.payload);
      break;
    case 'push-pull':
      w.u8(m.join ? 1 : 0);
      writeAddr(w, m.sender);
      w.u32(m.nodes.length);
      for (const n of m.nodes) {
        writeAddr(w, n);
        w.u32(n.incarnation).u8(NODE_STATES.indexOf(n.state));
      }
      w.bytes(m.userState);
      break;
  }
  const out = w.finish();
  out.writeUInt32BE(out.length - 5, 1);
  return out;
}

function decodeBody(type: number, r: Reader, maxUserBytes: number): Message {
  switch (type) {
    case 1: {
      const seq = r.u32();
      const target = r.str(WIRE_LIMITS.nameBytes, 'ping target');
      return { type: 'ping', seq, target, source: readAddr(r) };
    }
    case 2: {
      const seq = r.u32();
      const target = readAddr(r);
      return { type: 'indirect-ping', seq, target, source: readAddr(r) };
    }
    case 3:
      return { type: 'ack', seq: r.u32() };
    case 4: {
      const node = readAddr(r);
      return { type: 'alive', node, incarnation: r.u32('incarnation') };
    }
    case 5:
    case 6: {
      const node = r.str(WIRE_LIMITS.nameBytes, 'node name');
      const incarnation = r.u32('incarnation');
      const from = r.str(WIRE_LIMITS.nameBytes, 'from');
      if (node === '' || from === '') throw new WireError('empty node name');
      return { type: type === 5 ? 'suspect' : 'dead', node, incarnation, from };
    }
    case 7:
      return { type: 'user', payload: r.bytes(maxUserBytes, 'user payload') };
    case 8: {
      const joinByte = r.u8('join flag');
      if (joinByte > 1) throw new WireError(`push-pull: bad join flag ${joinByte}`);
      const sender = readAddr(r);
      const n = r.count(WIRE_LIMITS.nodesPerPushPull, 'push-pull node count');
      const nodes: NodeState[] = [];
      for (let i = 0; i < n; i++) {
        const a = readAddr(r);
        const incarnation = r.u32('incarnation');
        const s = r.u8('node state');
        const state = NODE_STATES[s];
        if (state === undefined) throw new WireError(`push-pull: node ${a.name}: unknown state ${s}`);
        nodes.push({ ...a, incarnation, state });
      }
      const userState = r.bytes(maxUserBytes, 'push-pull user state');
      return { type: 'push-pull', join: joinByte === 1, sender, nodes, userState };
    }
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}

/** Wraps framed messages into an envelope; `compress` deflates them (version 2). */
export function encodeEnvelope(label: string, messages: readonly Uint8Array[], compress = false): Buffer {
  if (messages.length > WIRE_LIMITS.messagesPerEnvelope)
    throw new WireError(`${messages.length} messages in one envelope (max ${WIRE_LIMITS.messagesPerEnvelope})`);
  const labelBytes = Buffer.from(label, 'utf8');
  if (labelBytes.length > WIRE_LIMITS.labelBytes) throw new WireError(`cluster label of ${labelBytes.length} bytes (max ${WIRE_LIMITS.labelBytes})`);
  const body = new Writer(1 + messages.reduce((s, m) => s + m.length, 0)).u8(messages.length);
  for (const m of messages) body.raw(m);
  const payload = compress ? deflateRawSync(body.finish()) : body.finish();
  const w = new Writer(envelopeOverhead(label) + payload.length);
  w.u16(MAGIC)
    .u8(compress ? COMPRESSED_VERSION : PROTOCOL_VERSION)
    .u8(labelBytes.length)
    .raw(labelBytes)
    .raw(payload);
  const head = w.finish();
  w.u32(crc32(head));
  return w.finish();
}

/** Bytes an envelope adds around its messages. */
export function envelopeOverhead(label: string): number {
  return 2 + 1 + 1 + Buffer.byteLength(label, 'utf8') + 1 + 4;
}

export interface Envelope {
  label: string;
  messages: Message[];
}

/**
 * Decodes an envelope; throws WireError on anything malformed (the caller drops the packet and counts it).
 * `maxUserBytes` bounds user payloads and, for a compressed envelope, the inflated size.
 */
export function decodeEnvelope(buf: Uint8Array, maxUserBytes: number): Envelope {
  if (buf.length < 9) throw new WireError(`envelope of ${buf.length} bytes is too short`);
  const end = buf.length - 4;
  const want = ((buf[end]! << 24) | (buf[end + 1]! << 16) | (buf[end + 2]! << 8) | buf[end + 3]!) >>> 0;
  const r = new Reader(buf, 0, end);
  if (r.u16('magic') !== MAGIC) throw new WireError('bad magic');
  const version = r.u8('version');
  if (version !== PROTOCOL_VERSION && version !== COMPRESSED_VERSION) throw new WireError(`unknown protocol version ${version}`);
  const labelLen = r.u8('label length');
  if (r.remaining < labelLen) throw new WireError('truncated label');
  if (crc32(buf.subarray(0, end)) !== want) throw new WireError('checksum mismatch');
  const label = Buffer.from(buf.subarray(r.offset, r.offset + labelLen)).toString('utf8');
  let bytes: Uint8Array = buf;
  let start = r.offset + labelLen;
  let stop = end;
  if (version === COMPRESSED_VERSION) {
    try {
      bytes = inflateRawSync(buf.subarray(start, end), { maxOutputLength: Math.max(1024, maxUserBytes + 1024) });
    } catch (err) {
      throw new WireError(`compressed envelope does not inflate within ${maxUserBytes + 1024} bytes: ${(err as Error).message}`);
    }
    start = 0;
    stop = bytes.length;
  }
  const body = new Reader(bytes, start, stop);
  const count = body.u8('message count');
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    const type = body.u8('message type');
    const len = body.u32('message length');
    if (len > body.remaining) throw new WireError(`message ${i}: length ${len} but ${body.remaining} bytes left`);
    const at = body.offset;
    const mr = new Reader(bytes, at, at + len);
    messages.push(decodeBody(type, mr, maxUserBytes));
    mr.expectEnd(`message ${i}`);
    body.skip(len, `message ${i}`);
  }
  body.expectEnd('envelope');
  return { label, messages };
}
