// Decoding forwarded spans for the processors. Each span is decoded on its own from its byte range, so
// its encoded size (traces_spanmetrics_size_total counts Tempo's span.Size(): the Span message's encoded
// bytes) comes for free, without encoding it again.
//
//   TracesData    { 1: repeated ResourceSpans }
//   ResourceSpans { 1: Resource, 2: repeated ScopeSpans, 3: schema_url }
//   ScopeSpans    { 1: InstrumentationScope, 2: repeated Span, 3: schema_url }

import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { ResourceSchema, SpanSchema, type KeyValue, type Span } from '@stave/proto';

export interface SizedSpan {
  readonly span: Span;
  /** Encoded size of the Span message, bytes. */
  readonly size: number;
}

export interface ResourceBatch {
  readonly resourceAttributes: readonly KeyValue[];
  readonly spans: SizedSpan[];
}

/** The length-delimited fields numbered `fieldNo` of a message, in order. */
function* fields(bytes: Uint8Array, fieldNo: number): Generator<Uint8Array> {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === fieldNo && wt === WireType.LengthDelimited) yield r.bytes();
    else r.skip(wt, no);
  }
}

/** Every resource batch of the given TracesData messages. Throws on malformed bytes. */
export function decodeTraces(traces: readonly Uint8Array[]): ResourceBatch[] {
  const out: ResourceBatch[] = [];
  for (const td of traces) {
    for (const rs of fields(td, 1)) {
      let resourceAttributes: readonly KeyValue[] = [];
      const spans: SizedSpan[] = [];
      const r = new BinaryReader(rs);
      while (r.pos < r.len) {
        const [no, wt] = r.tag();
        if (no === 1 && wt === WireType.LengthDelimited) resourceAttributes = fromBinary(ResourceSchema, r.bytes()).attributes;
        else if (no === 2 && wt === WireType.LengthDelimited) {
          for (const s of fields(r.bytes(), 2)) spans.push({ span: fromBinary(SpanSchema, s), size: s.length });
        } else r.skip(wt, no);
      }
      out.push({ resourceAttributes, spans });
    }
  }
  return out;
}
