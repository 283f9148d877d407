// One in-memory shape for Zipkin spans, whatever they arrived as (v2 JSON, v1 JSON, proto3): the v2
// model with IDs already decoded to bytes and times in nanoseconds. Parsers validate into it; the OTLP
// converter reads only from it.

import { isIPv4, isIPv6 } from 'node:net';
import { Code, ConnectError } from '@stave/core';

export type ZipkinKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';

export interface ZipkinEndpointModel {
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  /** Absent when 0. */
  port?: number;
}

export interface ZipkinAnnotationModel {
  timeNs: bigint;
  value: string;
}

export interface ZipkinSpanModel {
  /** 16 bytes; a 64-bit ID is left-padded with zeros. */
  traceId: Uint8Array;
  /** 8 bytes. */
  id: Uint8Array;
  parentId?: Uint8Array;
  kind?: ZipkinKind;
  name: string;
  /** Absent when the reporter did not set a timestamp. */
  timestampNs?: bigint;
  durationNs: bigint;
  localEndpoint?: ZipkinEndpointModel;
  remoteEndpoint?: ZipkinEndpointModel;
  annotations: ZipkinAnnotationModel[];
  /** Insertion-ordered; Zipkin tags are strings. */
  tags: Map<string, string>;
  debug: boolean;
  shared: boolean;
}

/** Zipkin has no shared error type: each parser names its format, the span index and the field. */
export function zipkinInvalid(format: string, index: number | undefined, field: string, problem: string): ConnectError {
  const where = index === undefined ? format : `${format} span[${index}]`;
  return new ConnectError(`${where}${field ? `.${field}` : ''}: ${problem}`, Code.InvalidArgument);
}

const HEX = /^[0-9a-fA-F]+$/;

/**
 * Decodes a hex ID of at most `bytes * 2` characters, left-padding shorter ones as Zipkin does. Trace
 * IDs of up to 16 characters become the low half of a 16-byte ID.
 */
export function hexId(s: string, kind: 'trace' | 'span'): Uint8Array | string {
  const maxChars = kind === 'trace' ? 32 : 16;
  if (s.length === 0) return 'empty';
  if (s.length > maxChars) return `longer than ${maxChars} hex characters`;
  if (!HEX.test(s)) return `not hex: ${JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s)}`;
  const out = new Uint8Array(kind === 'trace' ? 16 : 8);
  const padded = s.padStart(s.length <= 16 ? 16 : 32, '0');
  const decoded = Buffer.from(padded, 'hex');
  out.set(decoded, out.length - decoded.length);
  return out;
}

/** Pads an 8-byte trace ID to 16; returns undefined for other lengths. */
export function traceIdBytes(b: Uint8Array): Uint8Array | undefined {
  if (b.length === 16) return b;
  if (b.length !== 8) return undefined;
  const out = new Uint8Array(16);
  out.set(b, 8);
  return out;
}

/** An IP literal Zipkin would keep; invalid addresses are dropped, as Zipkin's Endpoint builder does. */
export function normalizeIp(s: string, family: 4 | 6): string | undefined {
  if (family === 4) return isIPv4(s) ? s : undefined;
  return isIPv6(s) ? s : undefined;
}

export function ipv4FromBytes(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text form: lowercase, leading zeros dropped, the longest run of zero groups as "::". */
export function ipv6FromBytes(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Epoch microseconds as a JSON number (possibly fractional, as some SDKs send) to nanoseconds. */
export function microsNumberToNanos(us: number): bigint {
  const whole = Math.trunc(us);
  return BigInt(whole) * 1000n + BigInt(Math.round((us - whole) * 1000));
}
