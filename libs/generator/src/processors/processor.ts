// What a tenant's instance needs of each processor.

import type { ResourceBatch } from '../spans';

/** The processor names of metrics_generator_processors, as Tempo spells them. */
export const SPAN_METRICS = 'span-metrics';
export const SERVICE_GRAPHS = 'service-graphs';
export const PROCESSORS = [SPAN_METRICS, SERVICE_GRAPHS] as const;
export type ProcessorName = (typeof PROCESSORS)[number];

export interface Processor {
  readonly name: ProcessorName;
  pushSpans(batches: readonly ResourceBatch[]): void;
  /** Stops timers; the instance unregisters the processor's metrics. */
  shutdown(): void;
  /** The registry metric names this processor owns. */
  readonly metricNames: readonly string[];
}

/** OTLP span kinds and status codes, printed as Tempo prints them (the Go enum names). */
export const SPAN_KIND_NAMES = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
export const STATUS_CODE_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** Tempo prints an enum value it has no name for as its number. */
export function enumName(names: readonly string[], v: number): string {
  return names[v] ?? String(v);
}

/** Seconds from start to end; 0 when the end is not after the start (Tempo treats negative latency as zero). */
export function durationSeconds(startUnixNano: bigint, endUnixNano: bigint): number {
  return startUnixNano < endUnixNano ? Number(endUnixNano - startUnixNano) / 1e9 : 0;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A trace ID as Tempo prints it in exemplars: hex without leading zeros. */
export function traceIDString(bytes: Uint8Array): string {
  return withoutLeadingZeros(hex(bytes));
}

/** Hex without its leading zeros (no copy when there are none, the usual case). */
export function withoutLeadingZeros(hexID: string): string {
  let i = 0;
  while (i < hexID.length && hexID.charCodeAt(i) === 48) i++;
  return i === 0 ? hexID : hexID.slice(i);
}
