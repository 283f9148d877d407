// The service-graph edge store: half-seen requests between two services, waiting for their other side.
// An edge is keyed by trace ID and the client span's ID (the server span finds it through its parent span
// ID). It completes when both sides are known, and expires `wait` after it was first stored. At most
// `maxItems` edges wait at a time: a span that would add one more is dropped (counted by the caller).
// Edges are kept in insertion order, so the oldest is first and expiry stops at the first live edge.

export type ConnectionType = '' | 'messaging_system' | 'database' | 'virtual_node';

export interface Edge {
  readonly key: string;
  traceID: string;
  connectionType: ConnectionType;
  clientService: string;
  serverService: string;
  clientLatencySec: number;
  serverLatencySec: number;
  clientEndUnixNano: bigint;
  serverStartUnixNano: bigint;
  /** Either side had status ERROR. */
  failed: boolean;
  readonly dimensions: Map<string, string>;
  /** A peer attribute of the client span (peer.service, db.name, ...): the server when none shows up. */
  peerNode: string;
  spanMultiplier: number;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

export type UpsertResult = 'completed' | 'stored' | 'updated' | 'dropped';

export class EdgeStore {
  private readonly edges = new Map<string, Edge>();

  constructor(
    private readonly waitMs: number,
    private readonly maxItems: number,
    private readonly onComplete: (e: Edge) => void,
    private readonly onExpire: (e: Edge) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.edges.size;
  }

  /**
   * Applies `update` to the edge of `key`, creating it if needed. A complete edge is reported and removed.
   * 'dropped': a new, incomplete edge found the store full; `update` was applied to it and it is passed
   * to `onDropped` so the caller can label what it drops.
   */
  upsert(key: string, update: (e: Edge) => void, onDropped?: (e: Edge) => void): UpsertResult {
    const stored = this.edges.get(key);
    if (stored) {
      update(stored);
      if (!isComplete(stored)) return 'updated';
      this.edges.delete(key);
      this.onComplete(stored);
      return 'completed';
    }
    const e = newEdge(key, this.now() + this.waitMs);
    update(e);
    if (isComplete(e)) {
      this.onComplete(e);
      return 'completed';
    }
    if (this.edges.size >= this.maxItems) {
      onDropped?.(e);
      return 'dropped';
    }
    this.edges.set(key, e);
    return 'stored';
  }

  /** Removes and reports every expired edge. */
  expire(): void {
    const now = this.now();
    for (const [key, e] of this.edges) {
      if (now < e.expiresAt) break;
      this.edges.delete(key);
      this.onExpire(e);
    }
  }
}

function isComplete(e: Edge): boolean {
  return e.clientService !== '' && e.serverService !== '';
}

function newEdge(key: string, expiresAt: number): Edge {
  return {
    key,
    traceID: '',
    connectionType: '',
    clientService: '',
    serverService: '',
    clientLatencySec: 0,
    serverLatencySec: 0,
    clientEndUnixNano: 0n,
    serverStartUnixNano: 0n,
    failed: false,
    dimensions: new Map(),
    peerNode: '',
    spanMultiplier: 1,
    expiresAt,
  };
}
