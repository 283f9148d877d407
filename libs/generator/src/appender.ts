// Where a collection's samples go. The shapes are @stave/remote-write's (its RemoteWriter implements
// SampleAppender); declared here until that package lands, with exactly its shapes.

/** Label pairs of one series, `__name__` included, sorted by name. */
export type Labels = ReadonlyArray<readonly [name: string, value: string]>;

export interface Series {
  labels: Labels;
  samples: ReadonlyArray<{ value: number; timestampMs: number }>;
  exemplars?: ReadonlyArray<{ labels: Labels; value: number; timestampMs: number }>;
}

export interface SampleAppender {
  /** Never throws and never blocks on a slow or absent receiver: bounded, overflow dropped and counted. */
  append(tenant: string, series: readonly Series[]): void;
}
