// The `trace` column's encoding for other packages' tests (compaction compares its wire-level merge with
// the object-level combine through it).
import type { TracesData } from '@stave/proto';
import { ByteWriter } from '../bytes';
import { decodeTrace, TraceEncoder } from '../trace-codec';

/** The bytes a block stores for `trace` (trace ID `id`). */
export function encodeTrace(id: Uint8Array, trace: TracesData): Buffer {
  const out = new ByteWriter(1024);
  new TraceEncoder().encode(id, trace, out);
  return out.toBytes();
}

/** The trace that `encodeTrace` bytes hold. */
export function decodeEncodedTrace(id: Uint8Array, bytes: Uint8Array): TracesData {
  return decodeTrace(id, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
