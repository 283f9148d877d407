// The column values the block writer reads from an encoded trace when none are given (trace-rows.ts): what
// the rows a merger hands over must equal.
import { TraceRowsBuilder } from '../trace-rows';
import { TraceScan } from '../trace-scan';

export function scannedRows(encoded: Uint8Array): Int32Array {
  const buf = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  return new TraceRowsBuilder().fromScan(new TraceScan().scan(buf)).slice();
}
