import { create, equals, fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { Span_SpanKind, Status_StatusCode, TraceSchema, type Trace } from '@stave/proto';
import { Code, ConnectError } from '@stave/core';
import { parseTempoTraceJson, parseTraceID, tempoTraceByIDV2Json, tempoTraceByIDV2Proto, tempoTraceV1Json, traceIDToHex } from './tempo-json';

const TRACE_ID = Buffer.from('00000000000000006743947cc5a3045a', 'hex');

function sample(): Trace {
  return create(TraceSchema, {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'shop' } } }] },
        scopeSpans: [
          {
            scope: { name: 'http' },
            spans: [
              {
                traceId: TRACE_ID,
                spanId: Buffer.from('a1b2c3d4e5f60718', 'hex'),
                name: 'GET /',
                kind: Span_SpanKind.SERVER,
                startTimeUnixNano: 1_700_000_000_000_000_001n,
                endTimeUnixNano: 1_700_000_000_500_000_000n,
                attributes: [
                  { key: 'http.status_code', value: { value: { case: 'intValue', value: 500n } } },
                  { key: 'zero', value: { value: { case: 'intValue', value: 0n } } },
                  { key: 'ratio', value: { value: { case: 'doubleValue', value: 0.25 } } },
                ],
                status: { code: Status_StatusCode.ERROR, message: 'boom' },
              },
              {
                traceId: TRACE_ID,
                spanId: Buffer.from('0000000000000001', 'hex'),
                parentSpanId: Buffer.from('a1b2c3d4e5f60718', 'hex'),
                name: 'child',
                status: {},
              },
            ],
          },
        ],
      },
    ],
  });
}

describe('Tempo trace-by-ID JSON', () => {
  it('v1 writes {"batches": [...]} as Tempo 2.x jsonpb does', () => {
    const body = JSON.parse(tempoTraceV1Json(sample()));
    expect(Object.keys(body)).toEqual(['batches']);
    const span = body.batches[0].scopeSpans[0].spans[0];
    expect(span).toEqual({
      traceId: 'AAAAAAAAAABnQ5R8xaMEWg==',
      spanId: 'obLD1OX2Bxg=',
      name: 'GET /',
      kind: 'SPAN_KIND_SERVER',
      startTimeUnixNano: '1700000000000000001',
      endTimeUnixNano: '1700000000500000000',
      attributes: [
        { key: 'http.status_code', value: { intValue: '500' } },
        { key: 'zero', value: { intValue: '0' } },
        { key: 'ratio', value: { doubleValue: 0.25 } },
      ],
      status: { message: 'boom', code: 'STATUS_CODE_ERROR' },
    });
    // Defaults are left out; a present but empty status is an empty object.
    expect(body.batches[0].scopeSpans[0].spans[1]).toEqual({
      traceId: 'AAAAAAAAAABnQ5R8xaMEWg==',
      spanId: 'AAAAAAAAAAE=',
      parentSpanId: 'obLD1OX2Bxg=',
      name: 'child',
      status: {},
    });
    expect(body.batches[0].resource).toEqual({ attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] });
    expect(body.batches[0].scopeSpans[0].scope).toEqual({ name: 'http' });
  });

  it('v1 of a trace without spans is {}', () => {
    expect(tempoTraceV1Json(create(TraceSchema))).toBe('{}');
  });

  it('v2 wraps the trace and leaves a COMPLETE status out', () => {
    const body = JSON.parse(tempoTraceByIDV2Json({ trace: sample(), metrics: { inspectedBytes: 1234n } }));
    expect(Object.keys(body)).toEqual(['trace', 'metrics']);
    expect(body.metrics).toEqual({ inspectedBytes: '1234' });
    expect(body.trace.resourceSpans[0].scopeSpans[0].spans[0].kind).toBe('SPAN_KIND_SERVER');
  });

  it('v2 reports a partial trace', () => {
    const body = JSON.parse(
      tempoTraceByIDV2Json({ trace: create(TraceSchema), status: 'PARTIAL', message: 'Trace exceeds maximum size of 100 bytes, a partial trace is returned' }),
    );
    expect(body).toEqual({ trace: {}, status: 'PARTIAL', message: 'Trace exceeds maximum size of 100 bytes, a partial trace is returned' });
  });

  it('reads v1, v2 and bare bodies back to the same trace', () => {
    const t = sample();
    expect(equals(TraceSchema, parseTempoTraceJson(tempoTraceV1Json(t)), t)).toBe(true);
    expect(equals(TraceSchema, parseTempoTraceJson(tempoTraceByIDV2Json({ trace: t, status: 'PARTIAL', message: 'm' })), t)).toBe(true);
    expect(() => parseTempoTraceJson('nope')).toThrow(/invalid JSON/);
  });

  it('v2 protobuf is tempopb.TraceByIDResponse on the wire', () => {
    const bytes = tempoTraceByIDV2Proto({ trace: sample(), status: 'PARTIAL', message: 'partial', metrics: { inspectedBytes: 300n } });
    const r = new BinaryReader(bytes);
    const seen: Record<number, unknown> = {};
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no === 1 && wt === WireType.LengthDelimited) seen[1] = fromBinary(TraceSchema, r.bytes());
      else if (no === 2 && wt === WireType.LengthDelimited) {
        const m = new BinaryReader(r.bytes());
        expect(m.tag()).toEqual([1, WireType.Varint]);
        seen[2] = m.uint64();
      } else if (no === 3 && wt === WireType.Varint) seen[3] = r.int32();
      else if (no === 4 && wt === WireType.LengthDelimited) seen[4] = r.string();
      else throw new Error(`unexpected field ${no}/${wt}`);
    }
    expect(equals(TraceSchema, seen[1] as Trace, sample())).toBe(true);
    expect([seen[2], seen[3], seen[4]]).toEqual([300n, 1, 'partial']);
  });
});

describe('parseTraceID (Tempo util.HexStringToTraceID)', () => {
  it.each([
    ['6743947cc5a3045a', '00000000000000006743947cc5a3045a'],
    ['5B8EFFF798038103D269B633813FC60C', '5b8efff798038103d269b633813fc60c'],
    ['abc', '00000000000000000000000000000abc'],
    ['', '00000000000000000000000000000000'],
  ])('%j -> %s', (text, expected) => {
    expect(Buffer.from(parseTraceID(text)).toString('hex')).toBe(expected);
  });

  it.each([
    ['12g4', `invalid trace ID "12g4": trace IDs can only contain hex characters: invalid character 'g' at position 3`],
    ['é1', `invalid trace ID "é1": trace IDs can only contain hex characters: invalid character 'é' at position 1`],
    ['1é', `invalid trace ID "1é": trace IDs can only contain hex characters: invalid character 'é' at position 2`],
    ['0'.repeat(33), `invalid trace ID "${'0'.repeat(33)}": trace IDs can't be larger than 128 bits`],
  ])('refuses %j with a 400 naming it', (text, message) => {
    let caught: unknown;
    try {
      parseTraceID(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConnectError);
    expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
    expect((caught as ConnectError).rawMessage).toBe(message);
  });

  it('prints IDs as Tempo does, without leading zeros', () => {
    expect(traceIDToHex(TRACE_ID)).toBe('6743947cc5a3045a');
  });
});
