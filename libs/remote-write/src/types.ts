// The contract between whatever produces samples (the metrics-generator's registry) and whatever ships
// them (RemoteWriter). Plain data, no Prometheus types: the producer needs nothing else from this package.

/** A series' labels, `__name__` included, sorted by name (Prometheus requires sorted labels). */
export type Labels = ReadonlyArray<readonly [name: string, value: string]>;

export interface Series {
  labels: Labels;
  /** In time order. */
  samples: ReadonlyArray<{ value: number; timestampMs: number }>;
  exemplars?: ReadonlyArray<{ labels: Labels; value: number; timestampMs: number }>;
}

export interface SampleAppender {
  /** Never throws and never blocks on a slow or absent receiver: bounded, overflow dropped and counted. */
  append(tenant: string, series: readonly Series[]): void;
}
