// The one seam between Stave and object storage. Every backend (local, s3, gcs, azure) implements exactly
// this and passes the same conformance suite. Keys are `/`-separated paths relative to the bucket (and
// its configured prefix), e.g. `single-tenant/<blockID>/meta.json`.

export interface ObjectInfo {
  readonly size: number;
}

export interface ListResult {
  /** Keys directly under the prefix (or all below it when no delimiter is given), sorted. */
  readonly objects: string[];
  /** With a delimiter: the distinct "folders" under the prefix, each ending in the delimiter, sorted. */
  readonly prefixes: string[];
}

export interface ObjectStore {
  /** The whole object. A missing key rejects with a ConnectError of code NotFound. */
  read(key: string): Promise<Uint8Array>;
  /** `length` bytes from `offset`; a range past the end rejects (OutOfRange). Missing: NotFound. */
  readRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  /** Size of an object (NotFound when missing). */
  stat(key: string): Promise<ObjectInfo>;
  /**
   * Writes an object atomically: readers see the old object or the whole new one, never a part.
   * A stream is written without being held in memory.
   */
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void>;
  list(prefix: string, opts?: { delimiter?: string }): Promise<ListResult>;
  /** Deletes an object; deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
}
