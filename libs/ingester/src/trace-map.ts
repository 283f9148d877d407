// A head block's traces by ID, looked up by the ID's 16 bytes on the write path. A collector-shaped push
// carries ~190 traces, each looked up (and most created) once per replica: keying a Map by a hex string
// cost a 32-character string, its hash and a string compare per trace. Here the key is a small integer
// mixed from all 16 bytes (a V8 Smi, hashed and compared as a number) and the ID is checked byte by byte;
// the hex form is only made on the read side (by-ID lookups and iteration), which is rare by comparison.

import { hexID } from '@stave/block';

/** What a TraceMap holds: anything with its 16-byte trace ID. */
export interface HasTraceID {
  readonly id: Uint8Array;
}

/**
 * The lookup key of a trace ID: its four 32-bit words mixed, kept to 30 bits so that V8 stores it as a
 * small integer. Not all IDs are random in every byte (X-Ray IDs start with a timestamp), hence the mix.
 */
export function traceKey(id: Uint8Array, off = 0): number {
  const h =
    (id[off]! | (id[off + 1]! << 8) | (id[off + 2]! << 16) | (id[off + 3]! << 24)) ^
    Math.imul(id[off + 4]! | (id[off + 5]! << 8) | (id[off + 6]! << 16) | (id[off + 7]! << 24), 0x9e3779b1) ^
    Math.imul(id[off + 8]! | (id[off + 9]! << 8) | (id[off + 10]! << 16) | (id[off + 11]! << 24), 0x85ebca6b) ^
    Math.imul(id[off + 12]! | (id[off + 13]! << 8) | (id[off + 14]! << 16) | (id[off + 15]! << 24), 0xc2b2ae35);
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

function sameID(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Parses 32 hex characters; undefined for anything else. */
function idFromHex(hex: string): Uint8Array | undefined {
  if (hex.length !== 32) return undefined;
  const id = Buffer.from(hex, 'hex');
  return id.length === 16 ? id : undefined;
}

/**
 * Entries by trace ID. Keys that collide (two IDs with one 30-bit key: rare) share a slot holding an
 * array. Entries are only ever added. The Map-like read methods take and give hex IDs.
 */
export class TraceMap<E extends HasTraceID> {
  private readonly slots = new Map<number, E | E[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The entry of `id` (16 bytes), whose key is `key` (traceKey(id)). */
  find(id: Uint8Array, key = traceKey(id)): E | undefined {
    const s = this.slots.get(key);
    if (s === undefined) return undefined;
    if (!Array.isArray(s)) return sameID(s.id, id) ? s : undefined;
    for (const e of s) if (sameID(e.id, id)) return e;
    return undefined;
  }

  /** Adds an entry whose ID is not in the map yet. */
  add(e: E, key = traceKey(e.id)): void {
    const s = this.slots.get(key);
    if (s === undefined) this.slots.set(key, e);
    else if (Array.isArray(s)) s.push(e);
    else this.slots.set(key, [s, e]);
    this.count++;
  }

  /** By hex ID (the read side). */
  get(hex: string): E | undefined {
    const id = idFromHex(hex);
    return id ? this.find(id) : undefined;
  }

  has(hex: string): boolean {
    return this.get(hex) !== undefined;
  }

  *values(): IterableIterator<E> {
    for (const s of this.slots.values()) {
      if (Array.isArray(s)) yield* s;
      else yield s;
    }
  }

  /** Hex IDs, in no particular order. */
  *keys(): IterableIterator<string> {
    for (const e of this.values()) yield hexID(e.id);
  }
}
