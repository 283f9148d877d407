// The jaeger.thrift model (jaeger-idl thrift/jaeger.thrift) and the agent.thrift `emitBatch` message,
// decoded with our own Thrift reader. Field IDs are jaeger-idl's and must not change:
//   Tag{1 key, 2 vType, 3 vStr, 4 vDouble, 5 vBool, 6 vLong, 7 vBinary}
//   Log{1 timestamp, 2 fields}
//   SpanRef{1 refType, 2 traceIdLow, 3 traceIdHigh, 4 spanId}
//   Span{1 traceIdLow, 2 traceIdHigh, 3 spanId, 4 parentSpanId, 5 operationName, 6 references, 7 flags,
//        8 startTime, 9 duration, 10 tags, 11 logs}
//   Process{1 serviceName, 2 tags}
//   ClientStats{1 fullQueueDroppedSpans, 2 tooLargeDroppedSpans, 3 failedToEmitSpans}
//   Batch{1 process, 2 spans, 3 seqNo, 4 stats}
//   Agent.emitBatch(1: Batch batch)  — a oneway call
// Required fields are enforced as the reference (Go) decoders do; unknown fields, and fields whose wire
// type does not match the schema, are skipped.

import { Code, ConnectError } from '@stave/core';
import { MessageType, TType, thriftReader, typeName, type ThriftProtocol, type ThriftReader } from './thrift-reader';

export const JaegerTagType = { STRING: 0, DOUBLE: 1, BOOL: 2, LONG: 3, BINARY: 4 } as const;
export const JaegerThriftSpanRefType = { CHILD_OF: 0, FOLLOWS_FROM: 1 } as const;

export interface JaegerThriftTag {
  key: string;
  vType: number;
  vStr?: string;
  vDouble?: number;
  vBool?: boolean;
  vLong?: bigint;
  vBinary?: Uint8Array;
}

export interface JaegerThriftLog {
  /** Microseconds since the epoch. */
  timestamp: bigint;
  fields: JaegerThriftTag[];
}

export interface JaegerThriftSpanRef {
  refType: number;
  traceIdLow: bigint;
  traceIdHigh: bigint;
  spanId: bigint;
}

export interface JaegerThriftSpan {
  traceIdLow: bigint;
  traceIdHigh: bigint;
  spanId: bigint;
  parentSpanId: bigint;
  operationName: string;
  references: JaegerThriftSpanRef[];
  flags: number;
  /** Microseconds since the epoch. */
  startTime: bigint;
  /** Microseconds. */
  duration: bigint;
  tags: JaegerThriftTag[];
  logs: JaegerThriftLog[];
}

export interface JaegerThriftProcess {
  serviceName: string;
  tags: JaegerThriftTag[];
}

export interface JaegerThriftClientStats {
  fullQueueDroppedSpans: bigint;
  tooLargeDroppedSpans: bigint;
  failedToEmitSpans: bigint;
}

export interface JaegerThriftBatch {
  process: JaegerThriftProcess;
  spans: JaegerThriftSpan[];
  seqNo?: bigint;
  stats?: JaegerThriftClientStats;
}

/** Decodes a binary-protocol `Batch` struct: the body of Jaeger's thrift HTTP endpoint (POST /api/traces). */
export function decodeJaegerThriftBatch(bytes: Uint8Array, protocol: ThriftProtocol = 'binary'): JaegerThriftBatch {
  return readBatch(thriftReader(protocol, bytes), 'Batch');
}

/**
 * Decodes an `Agent.emitBatch` message, the payload of one UDP datagram: compact protocol on 6831,
 * binary on 6832. Anything else (another method, a reply, a missing batch) is InvalidArgument.
 */
export function decodeJaegerAgentEmitBatch(bytes: Uint8Array, protocol: ThriftProtocol): JaegerThriftBatch {
  const r = thriftReader(protocol, bytes);
  const msg = r.readMessageBegin();
  if (msg.name !== 'emitBatch') {
    throw invalid(`jaeger agent: unsupported method "${msg.name}" (only emitBatch is accepted)`);
  }
  if (msg.type !== MessageType.ONEWAY && msg.type !== MessageType.CALL) {
    throw invalid(`jaeger agent: emitBatch message has type ${msg.type}, want oneway (4) or call (1)`);
  }
  let batch: JaegerThriftBatch | undefined;
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.STRUCT) batch = readBatch(r, 'emitBatch.batch');
    else r.skip(f.type);
  }
  r.structEnd();
  if (!batch) throw invalid('jaeger agent: emitBatch has no batch argument (field 1)');
  return batch;
}

function invalid(msg: string): ConnectError {
  return new ConnectError(msg, Code.InvalidArgument);
}

function missing(r: ThriftReader, where: string, field: string, id: number): ConnectError {
  return r.error(`jaeger ${where}: required field ${field} (${id}) is missing`);
}

function readList<T>(r: ThriftReader, elemType: TType, where: string, read: (i: number) => T): T[] {
  const at = r.offset;
  const l = r.readListBegin();
  if (l.elemType !== elemType) {
    throw r.error(`jaeger ${where}: list of ${typeName(l.elemType)} where ${typeName(elemType)} was expected`, at);
  }
  const out: T[] = new Array<T>(l.size);
  for (let i = 0; i < l.size; i++) out[i] = read(i);
  return out;
}

function readBatch(r: ThriftReader, where: string): JaegerThriftBatch {
  let process: JaegerThriftProcess | undefined;
  let spans: JaegerThriftSpan[] | undefined;
  let seqNo: bigint | undefined;
  let stats: JaegerThriftClientStats | undefined;
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.STRUCT) process = readProcess(r, `${where}.process`);
    else if (f.id === 2 && f.type === TType.LIST) spans = readList(r, TType.STRUCT, `${where}.spans`, (i) => readSpan(r, `${where}.spans[${i}]`));
    else if (f.id === 3 && f.type === TType.I64) seqNo = r.readI64();
    else if (f.id === 4 && f.type === TType.STRUCT) stats = readClientStats(r, `${where}.stats`);
    else r.skip(f.type);
  }
  r.structEnd();
  if (!process) throw missing(r, where, 'process', 1);
  if (!spans) throw missing(r, where, 'spans', 2);
  const batch: JaegerThriftBatch = { process, spans };
  if (seqNo !== undefined) batch.seqNo = seqNo;
  if (stats !== undefined) batch.stats = stats;
  return batch;
}

function readClientStats(r: ThriftReader, where: string): JaegerThriftClientStats {
  let full: bigint | undefined;
  let tooLarge: bigint | undefined;
  let failed: bigint | undefined;
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.type !== TType.I64) r.skip(f.type);
    else if (f.id === 1) full = r.readI64();
    else if (f.id === 2) tooLarge = r.readI64();
    else if (f.id === 3) failed = r.readI64();
    else r.skip(f.type);
  }
  r.structEnd();
  if (full === undefined) throw missing(r, where, 'fullQueueDroppedSpans', 1);
  if (tooLarge === undefined) throw missing(r, where, 'tooLargeDroppedSpans', 2);
  if (failed === undefined) throw missing(r, where, 'failedToEmitSpans', 3);
  return { fullQueueDroppedSpans: full, tooLargeDroppedSpans: tooLarge, failedToEmitSpans: failed };
}

function readProcess(r: ThriftReader, where: string): JaegerThriftProcess {
  let serviceName: string | undefined;
  let tags: JaegerThriftTag[] = [];
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.STRING) serviceName = r.readString();
    else if (f.id === 2 && f.type === TType.LIST) tags = readList(r, TType.STRUCT, `${where}.tags`, (i) => readTag(r, `${where}.tags[${i}]`));
    else r.skip(f.type);
  }
  r.structEnd();
  if (serviceName === undefined) throw missing(r, where, 'serviceName', 1);
  return { serviceName, tags };
}

function readTag(r: ThriftReader, where: string): JaegerThriftTag {
  let key: string | undefined;
  let vType: number | undefined;
  const tag: Partial<JaegerThriftTag> = {};
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.STRING) key = r.readString();
    else if (f.id === 2 && f.type === TType.I32) vType = r.readI32();
    else if (f.id === 3 && f.type === TType.STRING) tag.vStr = r.readString();
    else if (f.id === 4 && f.type === TType.DOUBLE) tag.vDouble = r.readDouble();
    else if (f.id === 5 && f.type === TType.BOOL) tag.vBool = r.readBool();
    else if (f.id === 6 && f.type === TType.I64) tag.vLong = r.readI64();
    else if (f.id === 7 && f.type === TType.STRING) tag.vBinary = r.readBinary();
    else r.skip(f.type);
  }
  r.structEnd();
  if (key === undefined) throw missing(r, where, 'key', 1);
  if (vType === undefined) throw missing(r, where, 'vType', 2);
  return { ...tag, key, vType };
}

function readLog(r: ThriftReader, where: string): JaegerThriftLog {
  let timestamp: bigint | undefined;
  let fields: JaegerThriftTag[] | undefined;
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.I64) timestamp = r.readI64();
    else if (f.id === 2 && f.type === TType.LIST) fields = readList(r, TType.STRUCT, `${where}.fields`, (i) => readTag(r, `${where}.fields[${i}]`));
    else r.skip(f.type);
  }
  r.structEnd();
  if (timestamp === undefined) throw missing(r, where, 'timestamp', 1);
  if (fields === undefined) throw missing(r, where, 'fields', 2);
  return { timestamp, fields };
}

function readSpanRef(r: ThriftReader, where: string): JaegerThriftSpanRef {
  let refType: number | undefined;
  let traceIdLow: bigint | undefined;
  let traceIdHigh: bigint | undefined;
  let spanId: bigint | undefined;
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    if (f.id === 1 && f.type === TType.I32) refType = r.readI32();
    else if (f.id === 2 && f.type === TType.I64) traceIdLow = r.readI64();
    else if (f.id === 3 && f.type === TType.I64) traceIdHigh = r.readI64();
    else if (f.id === 4 && f.type === TType.I64) spanId = r.readI64();
    else r.skip(f.type);
  }
  r.structEnd();
  if (refType === undefined) throw missing(r, where, 'refType', 1);
  if (traceIdLow === undefined) throw missing(r, where, 'traceIdLow', 2);
  if (traceIdHigh === undefined) throw missing(r, where, 'traceIdHigh', 3);
  if (spanId === undefined) throw missing(r, where, 'spanId', 4);
  return { refType, traceIdLow, traceIdHigh, spanId };
}

function readSpan(r: ThriftReader, where: string): JaegerThriftSpan {
  let traceIdLow: bigint | undefined;
  let traceIdHigh: bigint | undefined;
  let spanId: bigint | undefined;
  let parentSpanId: bigint | undefined;
  let operationName: string | undefined;
  let references: JaegerThriftSpanRef[] = [];
  let flags: number | undefined;
  let startTime: bigint | undefined;
  let duration: bigint | undefined;
  let tags: JaegerThriftTag[] = [];
  let logs: JaegerThriftLog[] = [];
  r.structBegin();
  for (;;) {
    const f = r.readFieldBegin();
    if (f.type === TType.STOP) break;
    switch (f.id) {
      case 1:
        if (f.type === TType.I64) traceIdLow = r.readI64();
        else r.skip(f.type);
        break;
      case 2:
        if (f.type === TType.I64) traceIdHigh = r.readI64();
        else r.skip(f.type);
        break;
      case 3:
        if (f.type === TType.I64) spanId = r.readI64();
        else r.skip(f.type);
        break;
      case 4:
        if (f.type === TType.I64) parentSpanId = r.readI64();
        else r.skip(f.type);
        break;
      case 5:
        if (f.type === TType.STRING) operationName = r.readString();
        else r.skip(f.type);
        break;
      case 6:
        if (f.type === TType.LIST) references = readList(r, TType.STRUCT, `${where}.references`, (i) => readSpanRef(r, `${where}.references[${i}]`));
        else r.skip(f.type);
        break;
      case 7:
        if (f.type === TType.I32) flags = r.readI32();
        else r.skip(f.type);
        break;
      case 8:
        if (f.type === TType.I64) startTime = r.readI64();
        else r.skip(f.type);
        break;
      case 9:
        if (f.type === TType.I64) duration = r.readI64();
        else r.skip(f.type);
        break;
      case 10:
        if (f.type === TType.LIST) tags = readList(r, TType.STRUCT, `${where}.tags`, (i) => readTag(r, `${where}.tags[${i}]`));
        else r.skip(f.type);
        break;
      case 11:
        if (f.type === TType.LIST) logs = readList(r, TType.STRUCT, `${where}.logs`, (i) => readLog(r, `${where}.logs[${i}]`));
        else r.skip(f.type);
        break;
      default:
        r.skip(f.type);
    }
  }
  r.structEnd();
  if (traceIdLow === undefined) throw missing(r, where, 'traceIdLow', 1);
  if (traceIdHigh === undefined) throw missing(r, where, 'traceIdHigh', 2);
  if (spanId === undefined) throw missing(r, where, 'spanId', 3);
  if (parentSpanId === undefined) throw missing(r, where, 'parentSpanId', 4);
  if (operationName === undefined) throw missing(r, where, 'operationName', 5);
  if (flags === undefined) throw missing(r, where, 'flags', 7);
  if (startTime === undefined) throw missing(r, where, 'startTime', 8);
  if (duration === undefined) throw missing(r, where, 'duration', 9);
  return { traceIdLow, traceIdHigh, spanId, parentSpanId, operationName, references, flags, startTime, duration, tags, logs };
}
