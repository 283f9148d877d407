// Test support only (never imported by library code): encodes jaeger.thrift values with Apache Thrift's
// own Node library, so decoder tests check our reader against an independent implementation of both
// protocols rather than against an encoder of ours.

import * as thrift from 'thrift';
import type { JaegerThriftBatch, JaegerThriftLog, JaegerThriftProcess, JaegerThriftSpan, JaegerThriftSpanRef, JaegerThriftTag } from './jaeger-thrift';

type Protocol = thrift.TBinaryProtocol | thrift.TCompactProtocol;
const T = thrift.Thrift.Type;

export function i64(v: bigint): thrift.Int64 {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt.asIntN(64, v));
  return new thrift.Int64(b);
}

/** Runs `write` against a fresh protocol and returns the bytes it produced. */
export function encodeWith(protocol: 'binary' | 'compact', write: (p: Protocol) => void): Buffer {
  let out: Buffer | undefined;
  const transport = new thrift.TBufferedTransport(undefined, (msg?: Buffer) => {
    out = msg;
  });
  const p = protocol === 'binary' ? new thrift.TBinaryProtocol(transport) : new thrift.TCompactProtocol(transport);
  write(p);
  (transport as unknown as { flush(): void }).flush();
  if (!out) throw new Error('thrift transport produced nothing');
  return Buffer.from(out);
}

function field(p: Protocol, name: string, type: number, id: number, write: () => void): void {
  p.writeFieldBegin(name, type, id);
  write();
  p.writeFieldEnd();
}

function list<T>(p: Protocol, type: number, items: T[], write: (item: T) => void): void {
  p.writeListBegin(type, items.length);
  for (const it of items) write(it);
  p.writeListEnd();
}

export function writeTag(p: Protocol, t: JaegerThriftTag): void {
  p.writeStructBegin('Tag');
  field(p, 'key', T.STRING, 1, () => p.writeString(t.key));
  field(p, 'vType', T.I32, 2, () => p.writeI32(t.vType));
  if (t.vStr !== undefined) field(p, 'vStr', T.STRING, 3, () => p.writeString(t.vStr!));
  if (t.vDouble !== undefined) field(p, 'vDouble', T.DOUBLE, 4, () => p.writeDouble(t.vDouble!));
  if (t.vBool !== undefined) field(p, 'vBool', T.BOOL, 5, () => p.writeBool(t.vBool!));
  if (t.vLong !== undefined) field(p, 'vLong', T.I64, 6, () => p.writeI64(i64(t.vLong!)));
  if (t.vBinary !== undefined) field(p, 'vBinary', T.STRING, 7, () => p.writeBinary(Buffer.from(t.vBinary!)));
  p.writeFieldStop();
  p.writeStructEnd();
}

function writeLog(p: Protocol, l: JaegerThriftLog): void {
  p.writeStructBegin('Log');
  field(p, 'timestamp', T.I64, 1, () => p.writeI64(i64(l.timestamp)));
  field(p, 'fields', T.LIST, 2, () => list(p, T.STRUCT, l.fields, (t) => writeTag(p, t)));
  p.writeFieldStop();
  p.writeStructEnd();
}

function writeRef(p: Protocol, r: JaegerThriftSpanRef): void {
  p.writeStructBegin('SpanRef');
  field(p, 'refType', T.I32, 1, () => p.writeI32(r.refType));
  field(p, 'traceIdLow', T.I64, 2, () => p.writeI64(i64(r.traceIdLow)));
  field(p, 'traceIdHigh', T.I64, 3, () => p.writeI64(i64(r.traceIdHigh)));
  field(p, 'spanId', T.I64, 4, () => p.writeI64(i64(r.spanId)));
  p.writeFieldStop();
  p.writeStructEnd();
}

export function writeSpan(p: Protocol, s: JaegerThriftSpan): void {
  p.writeStructBegin('Span');
  field(p, 'traceIdLow', T.I64, 1, () => p.writeI64(i64(s.traceIdLow)));
  field(p, 'traceIdHigh', T.I64, 2, () => p.writeI64(i64(s.traceIdHigh)));
  field(p, 'spanId', T.I64, 3, () => p.writeI64(i64(s.spanId)));
  field(p, 'parentSpanId', T.I64, 4, () => p.writeI64(i64(s.parentSpanId)));
  field(p, 'operationName', T.STRING, 5, () => p.writeString(s.operationName));
  if (s.references.length) field(p, 'references', T.LIST, 6, () => list(p, T.STRUCT, s.references, (r) => writeRef(p, r)));
  field(p, 'flags', T.I32, 7, () => p.writeI32(s.flags));
  field(p, 'startTime', T.I64, 8, () => p.writeI64(i64(s.startTime)));
  field(p, 'duration', T.I64, 9, () => p.writeI64(i64(s.duration)));
  if (s.tags.length) field(p, 'tags', T.LIST, 10, () => list(p, T.STRUCT, s.tags, (t) => writeTag(p, t)));
  if (s.logs.length) field(p, 'logs', T.LIST, 11, () => list(p, T.STRUCT, s.logs, (l) => writeLog(p, l)));
  p.writeFieldStop();
  p.writeStructEnd();
}

function writeProcess(p: Protocol, proc: JaegerThriftProcess): void {
  p.writeStructBegin('Process');
  field(p, 'serviceName', T.STRING, 1, () => p.writeString(proc.serviceName));
  if (proc.tags.length) field(p, 'tags', T.LIST, 2, () => list(p, T.STRUCT, proc.tags, (t) => writeTag(p, t)));
  p.writeFieldStop();
  p.writeStructEnd();
}

export function writeBatch(p: Protocol, b: JaegerThriftBatch): void {
  p.writeStructBegin('Batch');
  field(p, 'process', T.STRUCT, 1, () => writeProcess(p, b.process));
  field(p, 'spans', T.LIST, 2, () => list(p, T.STRUCT, b.spans, (s) => writeSpan(p, s)));
  if (b.seqNo !== undefined) field(p, 'seqNo', T.I64, 3, () => p.writeI64(i64(b.seqNo!)));
  if (b.stats !== undefined) {
    const st = b.stats;
    field(p, 'stats', T.STRUCT, 4, () => {
      p.writeStructBegin('ClientStats');
      field(p, 'fullQueueDroppedSpans', T.I64, 1, () => p.writeI64(i64(st.fullQueueDroppedSpans)));
      field(p, 'tooLargeDroppedSpans', T.I64, 2, () => p.writeI64(i64(st.tooLargeDroppedSpans)));
      field(p, 'failedToEmitSpans', T.I64, 3, () => p.writeI64(i64(st.failedToEmitSpans)));
      p.writeFieldStop();
      p.writeStructEnd();
    });
  }
  p.writeFieldStop();
  p.writeStructEnd();
}

/** A bare Batch struct (the thrift HTTP body). */
export function encodeBatch(protocol: 'binary' | 'compact', b: JaegerThriftBatch): Buffer {
  return encodeWith(protocol, (p) => writeBatch(p, b));
}

/** An Agent.emitBatch message (a UDP datagram). */
export function encodeEmitBatch(protocol: 'binary' | 'compact', b: JaegerThriftBatch, opts: { name?: string; type?: number; seqId?: number } = {}): Buffer {
  return encodeWith(protocol, (p) => {
    p.writeMessageBegin(opts.name ?? 'emitBatch', opts.type ?? thrift.Thrift.MessageType.ONEWAY, opts.seqId ?? 1);
    p.writeStructBegin('Agent_emitBatch_args');
    field(p, 'batch', T.STRUCT, 1, () => writeBatch(p, b));
    p.writeFieldStop();
    p.writeStructEnd();
    p.writeMessageEnd();
  });
}
