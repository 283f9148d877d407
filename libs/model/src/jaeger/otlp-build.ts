// Small helpers the Jaeger and Zipkin converters share to build OTLP: an attribute map with Jaeger's
// "last value wins, first position kept" semantics, and 64/128-bit ID encoding.

import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AnyValue, KeyValueSchema } from '@stave/proto';

/** The oneof inside an OTLP AnyValue, in protobuf-es init form. */
export type AttrValue = AnyValue['value'];

export type KeyValueInit = MessageInitShape<typeof KeyValueSchema>;

export const str = (value: string): AttrValue => ({ case: 'stringValue', value });
export const bool = (value: boolean): AttrValue => ({ case: 'boolValue', value });
export const int = (value: bigint): AttrValue => ({ case: 'intValue', value });
export const double = (value: number): AttrValue => ({ case: 'doubleValue', value });
export const bytes = (value: Uint8Array): AttrValue => ({ case: 'bytesValue', value });

/**
 * Attributes keyed by name. Source formats allow repeated keys; OTLP wants them unique, so a repeated key
 * keeps its first position and takes its last value (the collector's pcommon.Map semantics).
 */
export class AttributeMap {
  private readonly values = new Map<string, AttrValue>();

  get size(): number {
    return this.values.size;
  }

  put(key: string, value: AttrValue): void {
    this.values.set(key, value);
  }

  get(key: string): AttrValue | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** The string value of `key`, or undefined when absent or not a string. */
  getString(key: string): string | undefined {
    const v = this.values.get(key);
    return v?.case === 'stringValue' ? v.value : undefined;
  }

  /** Removes `key` and returns what it held. */
  take(key: string): AttrValue | undefined {
    const v = this.values.get(key);
    if (v !== undefined) this.values.delete(key);
    return v;
  }

  entries(): IterableIterator<[string, AttrValue]> {
    return this.values.entries();
  }

  toInit(): KeyValueInit[] {
    const out: KeyValueInit[] = [];
    for (const [key, value] of this.values) out.push({ key, value: { value } });
    return out;
  }
}

/** The value as text, the way the collector's `Value.AsString` renders scalars (used for lenient reads). */
export function attrAsString(v: AttrValue | undefined): string {
  switch (v?.case) {
    case 'stringValue':
      return v.value;
    case 'boolValue':
    case 'intValue':
    case 'doubleValue':
      return String(v.value);
    case 'bytesValue':
      return Buffer.from(v.value).toString('base64');
    default:
      return '';
  }
}

export function writeU64(out: Uint8Array, offset: number, v: bigint): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(offset, BigInt.asUintN(64, v));
}

/** A 128-bit trace ID, big-endian: high 64 bits first. Jaeger's signed i64 halves are taken as unsigned. */
export function traceIdFromHighLow(high: bigint, low: bigint): Uint8Array {
  const out = new Uint8Array(16);
  writeU64(out, 0, high);
  writeU64(out, 8, low);
  return out;
}

export function spanIdFromU64(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  writeU64(out, 0, v);
  return out;
}

export function isAllZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Epoch microseconds to nanoseconds; negative times (invalid in OTLP's fixed64) clamp to 0. */
export function microsToNanos(us: bigint): bigint {
  return us <= 0n ? 0n : us * 1000n;
}
