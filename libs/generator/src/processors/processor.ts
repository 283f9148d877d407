// What a tenant's instance needs of each processor.

import type { SpanBatch } from '../spans';

/** The processor names of metrics_generator_processors, as Tempo spells them. */
export const SPAN_METRICS = 'span-metrics';
export const SERVICE_GRAPHS = 'service-graphs';
export const PROCESSORS = [SPAN_METRICS, SERVICE_GRAPHS] as const;
export type ProcessorName = (typeof PROCESSORS)[number];

export interface Processor {
  readonly name: ProcessorName;
  /** The spans of one call; those with S_KEPT 0 are outside the ingestion slack and skipped. */
  pushSpans(batch: SpanBatch): void;
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
