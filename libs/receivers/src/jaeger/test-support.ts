// Test support only: a TracePusher that captures what receivers push (decoded back from the OTLP bytes,
// so the wire form is what gets asserted), and poll() to wait for a real condition instead of sleeping.

import { fromBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, type AnyValue, type ExportTraceServiceRequest, type KeyValue, type Span } from '@stave/proto';
import type { PushContext, PushOutcome, TracePusher } from '../pusher';

export interface Captured {
  ctx: PushContext;
  req: ExportTraceServiceRequest;
}

export class CapturingPusher implements TracePusher {
  readonly pushes: Captured[] = [];
  /** When set, the next pushes reject with it (and are not captured). */
  failWith: unknown = undefined;
  calls = 0;

  async pushOtlp(ctx: PushContext, bytes: Uint8Array): Promise<PushOutcome> {
    this.calls++;
    await Promise.resolve();
    if (this.failWith !== undefined) throw this.failWith;
    this.pushes.push({ ctx, req: fromBinary(ExportTraceServiceRequestSchema, bytes) });
    return { rejectedSpans: 0, errorMessage: '' };
  }

  spans(): Span[] {
    return this.pushes.flatMap((p) => p.req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  }
}

export async function poll<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Attributes as { key: value } with OTLP's typed values (bigint for ints, hex for bytes). */
export function attrs(kvs: KeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs) {
    const v = (kv.value as AnyValue).value;
    out[kv.key] = v.value instanceof Uint8Array ? `hex:${hex(v.value)}` : v.value;
  }
  return out;
}
