// Batching per ingester: parts merge only while calls are in flight, each part gets its own slice of the
// answer, a failed call fails every part in it, and a hung ingester cannot make parts pile up.

import { create } from '@bufbuild/protobuf';
import type { IngesterClient } from '@stave/ingester';
import { PushErrorReason, PushResponseSchema, type PushBytesRequest } from '@stave/proto';
import { Code, ConnectError } from '@stave/server';
import { PushBatcher, type PushPart } from './push-batcher';

/** An ingester stand-in whose calls are answered when the test says so. */
class GatedIngester implements Pick<IngesterClient, 'pushBytes'> {
  readonly calls: Array<{ req: PushBytesRequest; answer: (fail?: Error) => void }> = [];
  pushBytes(req: PushBytesRequest) {
    return new Promise<ReturnType<typeof create<typeof PushResponseSchema>>>((resolve, reject) => {
      this.calls.push({
        req,
        // The trace IDs' first byte is the answer: 0 accepted, 1 too large.
        answer: (fail) =>
          fail
            ? reject(fail)
            : resolve(create(PushResponseSchema, { errorsByTrace: req.ids.map((id) => (id[0] === 1 ? PushErrorReason.TRACE_TOO_LARGE : 0)) })),
      });
    });
  }
}

function part(...first: number[]): PushPart {
  return {
    traces: first.map(() => new Uint8Array(10)),
    ids: first.map((b) => new Uint8Array(16).fill(b)),
    startSeconds: first.map(() => 1),
    endSeconds: first.map(() => 2),
  };
}

const flushed = () => new Promise((r) => setImmediate(r));

describe('PushBatcher', () => {
  it('sends at once below maxInFlight and merges what waits behind full slots', async () => {
    const ing = new GatedIngester();
    let idle = 0;
    const b = new PushBatcher({ tenant: 't', maxInFlight: 1, maxBatchBytes: 1000, maxWaitingBytes: 1000, onIdle: () => idle++ });
    const first = b.push(ing, part(0));
    const second = b.push(ing, part(1, 0));
    const third = b.push(ing, part(0, 0, 1));
    expect(ing.calls).toHaveLength(1);
    ing.calls[0]!.answer();
    expect(await first).toEqual([PushErrorReason.NO_ERROR]);
    await flushed();
    expect(ing.calls).toHaveLength(2);
    expect(ing.calls[1]!.req.tenant).toBe('t');
    expect(ing.calls[1]!.req.ids).toHaveLength(5);
    ing.calls[1]!.answer();
    expect(await second).toEqual([PushErrorReason.TRACE_TOO_LARGE, PushErrorReason.NO_ERROR]);
    expect(await third).toEqual([PushErrorReason.NO_ERROR, PushErrorReason.NO_ERROR, PushErrorReason.TRACE_TOO_LARGE]);
    await flushed();
    expect(b.idle).toBe(true);
    expect(idle).toBe(1);
  });

  it('fails every part of a failed call, and keeps merged calls under maxBatchBytes', async () => {
    const ing = new GatedIngester();
    const b = new PushBatcher({ tenant: 't', maxInFlight: 1, maxBatchBytes: 25, maxWaitingBytes: 1000 });
    const first = b.push(ing, part(0));
    const waiting = [b.push(ing, part(0, 0)), b.push(ing, part(0))];
    ing.calls[0]!.answer(new ConnectError('disk full', Code.Internal));
    await expect(first).rejects.toThrow('disk full');
    await flushed();
    // 20 + 10 bytes > 25: the second waiting part goes in its own call.
    expect(ing.calls[1]!.req.ids).toHaveLength(2);
    ing.calls[1]!.answer(new ConnectError('still full', Code.Internal));
    await expect(waiting[0]).rejects.toThrow('still full');
    await flushed();
    ing.calls[2]!.answer();
    expect(await waiting[1]).toEqual([PushErrorReason.NO_ERROR]);
  });

  it('refuses parts for a hung ingester past maxWaitingBytes with UNAVAILABLE', async () => {
    const ing = new GatedIngester();
    const b = new PushBatcher({ tenant: 't', maxInFlight: 1, maxBatchBytes: 1000, maxWaitingBytes: 20 });
    const inFlight = b.push(ing, part(0));
    const waits = b.push(ing, part(0, 0));
    const refused = b.push(ing, part(0));
    await expect(refused).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(refused).rejects.toThrow(/ingester backlog full: 1 pushes in flight and 20 bytes waiting \(max 20\)/);
    ing.calls[0]!.answer();
    await inFlight;
    await flushed();
    ing.calls[1]!.answer();
    expect(await waits).toHaveLength(2);
  });
});
