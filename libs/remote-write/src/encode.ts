// Series → Prometheus remote write 1.0 bytes (prometheus.WriteRequest, proto/prometheus/remote.proto),
// written field by field with protobuf-es's BinaryWriter: no message object per sample on the hot path.
// Tests decode the output with the generated schema, which is what proves the field numbers.
//
// Two serialized WriteRequests concatenated are one WriteRequest holding both lists of time series
// (repeated fields append on the wire), so the queue stores encoded requests and a batch is their
// concatenation.

import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { PromWriteRequestSchema } from '@stave/proto';
import SnappyJS from 'snappyjs';
import type { Labels, Series } from './types';

// Field numbers of proto/prometheus (remote.proto, types.proto).
const WRITE_REQUEST_TIMESERIES = 1;
const TIMESERIES_LABELS = 1;
const TIMESERIES_SAMPLES = 2;
const TIMESERIES_EXEMPLARS = 3;
const LABEL_NAME = 1;
const LABEL_VALUE = 2;
const SAMPLE_VALUE = 1;
const SAMPLE_TIMESTAMP = 2;
const EXEMPLAR_LABELS = 1;
const EXEMPLAR_VALUE = 2;
const EXEMPLAR_TIMESTAMP = 3;

/** Decompressed request bodies larger than this are refused by `uncompress` (a snappy bomb guard). */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

function writeLabels(w: BinaryWriter, field: number, labels: Labels): void {
  for (const [name, value] of labels) {
    w.tag(field, WireType.LengthDelimited).fork();
    if (name !== '') w.tag(LABEL_NAME, WireType.LengthDelimited).string(name);
    if (value !== '') w.tag(LABEL_VALUE, WireType.LengthDelimited).string(value);
    w.join();
  }
}

/** Writes one TimeSeries holding `series`' samples [from, to) and, when asked, its exemplars. */
function writeSeries(w: BinaryWriter, series: Series, from: number, to: number, exemplars: boolean): void {
  w.tag(WRITE_REQUEST_TIMESERIES, WireType.LengthDelimited).fork();
  writeLabels(w, TIMESERIES_LABELS, series.labels);
  for (let i = from; i < to; i++) {
    const s = series.samples[i]!;
    w.tag(TIMESERIES_SAMPLES, WireType.LengthDelimited).fork();
    // proto3 omits zero scalars; -0 is kept (its bits are not zero).
    if (s.value !== 0 || Object.is(s.value, -0)) w.tag(SAMPLE_VALUE, WireType.Bit64).double(s.value);
    if (s.timestampMs !== 0) w.tag(SAMPLE_TIMESTAMP, WireType.Varint).int64(Math.trunc(s.timestampMs));
    w.join();
  }
  if (exemplars) {
    for (const e of series.exemplars ?? []) {
      w.tag(TIMESERIES_EXEMPLARS, WireType.LengthDelimited).fork();
      writeLabels(w, EXEMPLAR_LABELS, e.labels);
      if (e.value !== 0 || Object.is(e.value, -0)) w.tag(EXEMPLAR_VALUE, WireType.Bit64).double(e.value);
      if (e.timestampMs !== 0) w.tag(EXEMPLAR_TIMESTAMP, WireType.Varint).int64(Math.trunc(e.timestampMs));
      w.join();
    }
  }
  w.join();
}

/** One encoded WriteRequest and what it holds. */
export interface EncodedChunk {
  readonly bytes: Uint8Array;
  readonly samples: number;
  readonly exemplars: number;
  /** The newest sample timestamp in the chunk (ms), or -Infinity when it has none. */
  readonly newestMs: number;
}

/**
 * Encodes `series` as WriteRequests of at most `maxSamples` samples + exemplars each (at least one sample
 * per request; a series with more samples than that is split across consecutive requests, in time order).
 * With `withExemplars` false the series' exemplars are left out (no endpoint sends them: they would only be
 * stripped again before each send).
 */
export function encodeChunks(series: readonly Series[], maxSamples: number, withExemplars = true): EncodedChunk[] {
  const out: EncodedChunk[] = [];
  let w = new BinaryWriter();
  let samples = 0;
  let exemplars = 0;
  let newestMs = -Infinity;
  const cut = (): void => {
    if (samples + exemplars === 0) return;
    out.push({ bytes: w.finish(), samples, exemplars, newestMs });
    w = new BinaryWriter();
    samples = exemplars = 0;
    newestMs = -Infinity;
  };
  for (const s of series) {
    const n = s.samples.length;
    const ex = withExemplars ? (s.exemplars?.length ?? 0) : 0;
    if (n === 0 && ex === 0) continue;
    let from = 0;
    do {
      if (samples + exemplars >= maxSamples) cut();
      const room = Math.max(1, maxSamples - samples - exemplars);
      const to = Math.min(n, from + room);
      // Exemplars travel with the series' last part, so they follow the samples they belong to.
      const carryExemplars = to === n && ex > 0;
      writeSeries(w, s, from, to, carryExemplars);
      for (let i = from; i < to; i++) newestMs = Math.max(newestMs, s.samples[i]!.timestampMs);
      samples += to - from;
      if (carryExemplars) exemplars += ex;
      from = to;
    } while (from < n);
  }
  cut();
  return out;
}

/** The same WriteRequest without exemplars (for endpoints with send_exemplars off). */
export function withoutExemplars(request: Uint8Array): Uint8Array {
  const req = fromBinary(PromWriteRequestSchema, request);
  req.timeseries = req.timeseries.filter((ts) => {
    ts.exemplars = [];
    return ts.samples.length > 0;
  });
  return toBinary(PromWriteRequestSchema, req);
}

/** Snappy block format (not the framing format), as remote write 1.0 requires. */
export function compress(data: Uint8Array): Uint8Array {
  return SnappyJS.compress(data);
}

export function uncompress(data: Uint8Array, maxBytes = MAX_DECOMPRESSED_BYTES): Uint8Array {
  return SnappyJS.uncompress(data, maxBytes);
}
