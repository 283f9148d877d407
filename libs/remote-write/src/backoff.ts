// Exponential backoff with full jitter between `min` and a cap, as Prometheus' queue manager does
// (min_backoff 30ms, max_backoff 5s), so many tenants retrying at once do not arrive together.

export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  /** A number in [0, 1); Math.random unless a test fixes it. */
  readonly random?: () => number;
}

/** The delay before retry number `attempt` (0 = the first retry): min·2^attempt capped at max, jittered into [half, full]. */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const ceiling = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(attempt, 30));
  const r = (opts.random ?? Math.random)();
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}

/**
 * A Retry-After header as milliseconds (seconds or an HTTP date), or undefined when absent or unreadable.
 * Capped at `maxMs`: a receiver may not park a queue for longer than the backoff cap allows.
 */
export function retryAfterMs(header: string | null, now: number, maxMs: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), maxMs);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
