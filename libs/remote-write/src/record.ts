// One record of the on-disk queue: an encoded WriteRequest with what it holds.
//
// Record layout (little-endian):  u32 payloadLength | u32 crc32(payload) | payload
// payload:                         u32 samples | u32 exemplars | f64 newestMs | WriteRequest bytes
// A record cut short or failing its CRC ends that segment on replay (a torn tail, cut off and reported).

import { crc32 } from 'node:zlib';
import type { EncodedChunk } from './encode';

export const RECORD_HEADER = 8;
const PAYLOAD_PREFIX = 4 + 4 + 8;
/** Records larger than this are refused on write and treated as corruption on replay. */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

export function encodeRecord(c: EncodedChunk): Buffer {
  const payloadLen = PAYLOAD_PREFIX + c.bytes.length;
  const buf = Buffer.allocUnsafe(RECORD_HEADER + payloadLen);
  buf.writeUInt32LE(payloadLen, 0);
  buf.writeUInt32LE(c.samples, 8);
  buf.writeUInt32LE(c.exemplars, 12);
  buf.writeDoubleLE(c.newestMs, 16);
  buf.set(c.bytes, RECORD_HEADER + PAYLOAD_PREFIX);
  buf.writeUInt32LE(crc32(buf.subarray(RECORD_HEADER)), 4);
  return buf;
}

export interface DecodedRecord extends EncodedChunk {
  /** Offset of the record's header in its segment, and its full size (header included). */
  readonly offset: number;
  readonly size: number;
}

export type ParseResult = { record: DecodedRecord } | { incomplete: true } | { corrupt: string };

/** Parses the record at `offset` of `buf` (which holds the segment's bytes from `base` on). */
export function parseRecord(buf: Buffer, at: number, base = 0): ParseResult {
  if (buf.length - at < RECORD_HEADER) return { incomplete: true };
  const len = buf.readUInt32LE(at);
  if (len < PAYLOAD_PREFIX || len > MAX_RECORD_BYTES) return { corrupt: `bad record length ${len}` };
  if (buf.length - at - RECORD_HEADER < len) return { incomplete: true };
  const payload = buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len);
  if (crc32(payload) !== buf.readUInt32LE(at + 4)) return { corrupt: 'checksum mismatch' };
  return {
    record: {
      samples: payload.readUInt32LE(0),
      exemplars: payload.readUInt32LE(4),
      newestMs: payload.readDoubleLE(8),
      bytes: payload.subarray(PAYLOAD_PREFIX),
      offset: base + at,
      size: RECORD_HEADER + len,
    },
  };
}
