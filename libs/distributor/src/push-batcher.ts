// Batching per ingester: the traces that concurrent client requests send to one ingester (for one tenant)
// travel in one PushBytes call while earlier calls to it are in flight, instead of one call each. Under
// load this cuts the Connect calls (HTTP/2 streams, encodes, decodes) and the ingester's WAL appends by
// the number of requests merged, and costs nothing when idle: with fewer than `maxInFlight` calls out, a
// part is sent at once. Every part is answered from its own slice of the merged call's per-trace answer,
// and only after that call is answered, i.e. after the ingester synced the whole batch to its WAL.
//
// Bounded: one merged call carries at most `maxBatchBytes` of trace data, and at most `maxWaitingBytes`
// wait. An ingester that stops answering (SIGSTOP, a stuck disk) holds its calls until their deadline;
// past the bound, further parts for it fail at once (UNAVAILABLE, counted as that replica's failure, so
// the write quorum comes from the others) instead of piling up behind it.

import type { IngesterClient } from '@stave/ingester';
import { pushBytesMessage, type PushPiece } from '@stave/ingester';
import type { PushErrorReason } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';

/** The one call a batcher makes. */
type Pusher = Pick<IngesterClient, 'pushBytes'>;

/** One request's traces for one ingester; the same object when several ingesters get the same traces. */
export interface PushPart extends PushPiece {
  readonly traces: Uint8Array[];
  readonly ids: Uint8Array[];
  readonly startSeconds: number[];
  readonly endSeconds: number[];
}

interface Waiting {
  readonly part: PushPart;
  readonly bytes: number;
  readonly resolve: (errorsByTrace: PushErrorReason[]) => void;
  readonly reject: (err: unknown) => void;
}

export interface PushBatcherOptions {
  tenant: string;
  /** Calls to the ingester in flight before parts start to wait and merge. */
  maxInFlight: number;
  /** Trace bytes in one merged call (kept under the ingester's max message size). */
  maxBatchBytes: number;
  /** Trace bytes allowed to wait for a call slot. */
  maxWaitingBytes: number;
  /** Called when the last call is answered and nothing waits. */
  onIdle?: () => void;
}

export class PushBatcher {
  private inFlight = 0;
  private waiting: Waiting[] = [];
  private waitingBytes = 0;

  constructor(private readonly opts: PushBatcherOptions) {}

  /** True when no call is in flight and nothing waits. */
  get idle(): boolean {
    return this.inFlight === 0 && this.waiting.length === 0;
  }

  /** Pushes one request's part through `client`; resolves with one reason per trace of the part. */
  push(client: Pusher, part: PushPart): Promise<PushErrorReason[]> {
    let bytes = 0;
    for (const t of part.traces) bytes += t.length;
    if (this.inFlight >= this.opts.maxInFlight && this.waitingBytes + bytes > this.opts.maxWaitingBytes) {
      return Promise.reject(
        new ConnectError(
          `ingester backlog full: ${this.opts.maxInFlight} pushes in flight and ${this.waitingBytes} bytes waiting (max ${this.opts.maxWaitingBytes}) for tenant ${this.opts.tenant}`,
          Code.Unavailable,
        ),
      );
    }
    return new Promise<PushErrorReason[]>((resolve, reject) => {
      this.waiting.push({ part, bytes, resolve, reject });
      this.waitingBytes += bytes;
      this.pump(client);
    });
  }

  private pump(client: Pusher): void {
    while (this.waiting.length > 0 && this.inFlight < this.opts.maxInFlight) {
      // Take waiting parts in order up to the byte budget (always at least one).
      let n = 0;
      let bytes = 0;
      while (n < this.waiting.length && (n === 0 || bytes + this.waiting[n]!.bytes <= this.opts.maxBatchBytes)) bytes += this.waiting[n++]!.bytes;
      const batch = this.waiting.splice(0, n);
      this.waitingBytes -= bytes;
      this.inFlight++;
      void this.send(client, batch).finally(() => {
        this.inFlight--;
        this.pump(client);
        if (this.idle) this.opts.onIdle?.();
      });
    }
  }

  private async send(client: Pusher, batch: Waiting[]): Promise<void> {
    const one = batch.length === 1 ? batch[0]!.part : joinParts(batch);
    const req = { tenant: this.opts.tenant, traces: one.traces, ids: one.ids, startSeconds: one.startSeconds, endSeconds: one.endSeconds };
    try {
      const res = await client.pushBytes(
        pushBytesMessage(req),
        batch.map((w) => w.part),
      );
      let at = 0;
      for (const w of batch) {
        w.resolve(res.errorsByTrace.slice(at, at + w.part.traces.length));
        at += w.part.traces.length;
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}

/** The parts of a merged call as one part's lists, in order (plain loops: flatMap was a visible cost). */
function joinParts(batch: readonly Waiting[]): Omit<PushPart, 'wire'> {
  let n = 0;
  for (const w of batch) n += w.part.traces.length;
  const traces = new Array<Uint8Array>(n);
  const ids = new Array<Uint8Array>(n);
  const startSeconds = new Array<number>(n);
  const endSeconds = new Array<number>(n);
  let k = 0;
  for (const { part } of batch) {
    for (let i = 0; i < part.traces.length; i++, k++) {
      traces[k] = part.traces[i]!;
      ids[k] = part.ids[i]!;
      startSeconds[k] = part.startSeconds[i]!;
      endSeconds[k] = part.endSeconds[i]!;
    }
  }
  return { traces, ids, startSeconds, endSeconds };
}
