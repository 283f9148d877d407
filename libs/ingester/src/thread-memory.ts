// What a block-building thread gives back when a build ends. Between builds the thread is kept (starting
// one costs ~0.4–1 s of CPU), and what the build left behind stayed resident until the thread's next
// collection, which an idle thread does not have: measured per isolate (bench/results/ingest.md, "ingest9"),
// a combine thread's ArrayBuffers grew by one build's part tables (~6 MiB, cloned to it for every build)
// at each build, 0 → 8 → 18 → 24 MiB over an ingest, and the writing thread kept its page-body buffers
// (up to 16 MiB) and the last row group's garbage. Those idle bytes sit beside the by-ID reads after an
// ingest and under the next build's peak.

// Imports nothing of @stave/block: the combine thread loads only what combining needs (combined-traces.ts).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread } from 'node:worker_threads';

let collect: (() => void) | undefined;

/**
 * A full garbage collection of this thread's isolate (a worker thread only: on the main thread it would
 * pause every push, and V8 collects there often anyway). It costs ~10–25 ms for a building thread's
 * 15–30 MiB heap, once per build. `gc` is taken from a context created while `--expose-gc` is on, and the
 * flag is turned off again at once, so that no other context (nor a worker started later) sees `gc`.
 */
export function collectGarbage(): void {
  if (isMainThread) return;
  if (!collect) {
    setFlagsFromString('--expose-gc');
    try {
      collect = runInNewContext('gc') as () => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  collect();
}
