// Series → Prometheus remote write 1.0 bytes (prometheus.WriteRequest, proto/prometheus/remote.proto),
// written field by field into one buffer (RequestWriter): no message object per sample on the hot path.
// Tests decode the output with the generated schema, which is what proves the field numbers.
//
// Two serialized WriteRequests concatenated are one WriteRequest holding both lists of time series
// (repeated fields append on the wire), so the queue stores encoded requests and a batch is their
// concatenation.

import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
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

/**
 * One WriteRequest being written, by hand into one growing buffer: protobuf-es's BinaryWriter keeps every
 * byte as an element of a JS array until finish(), which made encoding a collection of 17,000 series cost
 * ~35 ms and several MB of garbage on the metrics-generator's thread each interval. The bytes are the same
 * (fields in number order, proto3 zero values left out, lengths as varints).
 */
class RequestWriter {
  buf: Uint8Array;
  private view: DataView;
  len = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  /** A varint of a non-negative integer below 2^53, or of a negative one as its 64-bit two's complement. */
  varint(v: number): void {
    this.room(10);
    if (v < 0) {
      let x = BigInt.asUintN(64, BigInt(v));
      while (x >= 0x80n) {
        this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
        x >>= 7n;
      }
      this.buf[this.len++] = Number(x);
      return;
    }
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  tag(field: number, wireType: WireType): void {
    this.varint((field << 3) | wireType);
  }

  double(v: number): void {
    this.room(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    // A loop for the usual short label fields: set() is a call into the runtime per field.
    if (b.length > 64) this.buf.set(b, this.len);
    else for (let i = 0; i < b.length; i++) this.buf[this.len + i] = b[i]!;
    this.len += b.length;
  }

  /** The bytes written, in a buffer of their own (moved whole between threads), and a fresh start. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }

  /**
   * The bytes written, in a slice of Node's shared buffer pool (Buffer.allocUnsafe: 8-KB slabs), and a
   * fresh start: for small results kept long, where a buffer of their own (slice) is a new backing store
   * each, which cost more than the encoding itself.
   */
  takePooled(): Uint8Array {
    const out = Buffer.allocUnsafe(this.len);
    for (let i = 0; i < this.len; i++) out[i] = this.buf[i]!;
    this.len = 0;
    return out;
  }
}

/** Bytes of a varint of `v` (as RequestWriter.varint writes it). */
function varintSize(v: number): number {
  if (v < 0) return 10;
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Where encodeLabels writes (reused: it runs to completion before it is called again). */
const labelWriter = new RequestWriter(1024);

/**
 * Label names and values as UTF-8, kept: the label lists of a collection's new series repeat the same few
 * names and values (each histogram's 17 lists differ in two labels), and TextEncoder.encode made a new
 * backing store per string, ~1 µs each. Cleared whole past MAX_CACHED_STRINGS (a label with many values).
 */
const utf8Strings = new Map<string, Uint8Array>();
const MAX_CACHED_STRINGS = 64 * 1024;

function utf8Of(s: string, cache: boolean): Uint8Array {
  let b = cache ? utf8Strings.get(s) : undefined;
  if (b === undefined) {
    b = Buffer.from(s, 'utf8');
    if (cache) {
      if (utf8Strings.size >= MAX_CACHED_STRINGS) utf8Strings.clear();
      utf8Strings.set(s, b);
    }
  }
  return b;
}

/** Strings cached by utf8Of (for tests: the cache must not change any byte). */
export function cachedLabelStrings(): number {
  return utf8Strings.size;
}

/**
 * Label messages (`field` each: name 1, value 2, empty ones left out) as bytes. Series labels' values are
 * cached (`cacheValues`); an exemplar's trace ID is new each time and is not.
 */
function encodeLabels(field: number, labels: Labels, cacheValues: boolean): Uint8Array {
  const w = labelWriter;
  for (const [name, value] of labels) {
    const n = name === '' ? undefined : utf8Of(name, true);
    const v = value === '' ? undefined : utf8Of(value, cacheValues);
    const size = (n ? 1 + varintSize(n.length) + n.length : 0) + (v ? 1 + varintSize(v.length) + v.length : 0);
    w.tag(field, WireType.LengthDelimited);
    w.varint(size);
    if (n) {
      w.tag(LABEL_NAME, WireType.LengthDelimited);
      w.varint(n.length);
      w.bytes(n);
    }
    if (v) {
      w.tag(LABEL_VALUE, WireType.LengthDelimited);
      w.varint(v.length);
      w.bytes(v);
    }
  }
  return w.takePooled();
}

/**
 * A series' labels as TimeSeries.labels bytes, encoded once per label list: the metrics-generator hands
 * the same list for a series at every collection, so most are encoded once in their life.
 */
const seriesLabelBytes = new WeakMap<Labels, Uint8Array>();

function timeSeriesLabels(labels: Labels): Uint8Array {
  let b = seriesLabelBytes.get(labels);
  if (b === undefined) {
    b = encodeLabels(TIMESERIES_LABELS, labels, true);
    seriesLabelBytes.set(labels, b);
  }
  return b;
}

/** Bytes of a Sample or Exemplar's value and timestamp fields (proto3: zeros left out, -0 kept). */
function valueTimeSize(value: number, timestampMs: number): number {
  return (value !== 0 || Object.is(value, -0) ? 9 : 0) + (timestampMs !== 0 ? 1 + varintSize(timestampMs) : 0);
}

function writeValueTime(w: RequestWriter, valueField: number, timestampField: number, value: number, timestampMs: number): void {
  if (value !== 0 || Object.is(value, -0)) {
    w.tag(valueField, WireType.Bit64);
    w.double(value);
  }
  if (timestampMs !== 0) {
    w.tag(timestampField, WireType.Varint);
    w.varint(timestampMs);
  }
}

const NONE: NonNullable<Series['exemplars']> = [];
const NO_BYTES: Uint8Array[] = [];

/** Writes one TimeSeries holding `series`' samples [from, to) and, when asked, its exemplars. */
function writeSeries(w: RequestWriter, series: Series, from: number, to: number, exemplars: boolean): void {
  const labels = timeSeriesLabels(series.labels);
  let size = labels.length;
  for (let i = from; i < to; i++) {
    const s = series.samples[i]!;
    const n = valueTimeSize(s.value, Math.trunc(s.timestampMs));
    size += 1 + varintSize(n) + n;
  }
  const ex = exemplars ? (series.exemplars ?? NONE) : NONE;
  const exLabels = ex.length > 0 ? ex.map((e) => encodeLabels(EXEMPLAR_LABELS, e.labels, false)) : NO_BYTES;
  for (let i = 0; i < ex.length; i++) {
    const n = exLabels[i]!.length + valueTimeSize(ex[i]!.value, Math.trunc(ex[i]!.timestampMs));
    size += 1 + varintSize(n) + n;
  }
  w.tag(WRITE_REQUEST_TIMESERIES, WireType.LengthDelimited);
  w.varint(size);
  w.bytes(labels);
  for (let i = from; i < to; i++) {
    const s = series.samples[i]!;
    const t = Math.trunc(s.timestampMs);
    w.tag(TIMESERIES_SAMPLES, WireType.LengthDelimited);
    w.varint(valueTimeSize(s.value, t));
    writeValueTime(w, SAMPLE_VALUE, SAMPLE_TIMESTAMP, s.value, t);
  }
  for (let i = 0; i < ex.length; i++) {
    const e = ex[i]!;
    const t = Math.trunc(e.timestampMs);
    w.tag(TIMESERIES_EXEMPLARS, WireType.LengthDelimited);
    w.varint(exLabels[i]!.length + valueTimeSize(e.value, t));
    w.bytes(exLabels[i]!);
    writeValueTime(w, EXEMPLAR_VALUE, EXEMPLAR_TIMESTAMP, e.value, t);
  }
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
 * stripped again before each send). Each chunk's bytes are a buffer of their own.
 */
export function encodeChunks(series: readonly Series[], maxSamples: number, withExemplars = true): EncodedChunk[] {
  const out: EncodedChunk[] = [];
  const w = new RequestWriter(256 * 1024);
  let samples = 0;
  let exemplars = 0;
  let newestMs = -Infinity;
  const cut = (): void => {
    if (samples + exemplars === 0) return;
    out.push({ bytes: w.take(), samples, exemplars, newestMs });
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
