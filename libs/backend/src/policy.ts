// One request policy for every remote backend: a deadline per attempt, jittered exponential backoff
// between attempts for retryable failures only, optional hedged reads, and a duration metric per
// attempt. Backends wrap each single HTTP request in `run`, so a multipart upload retries one part,
// not the whole object, and a stream that cannot be replayed is never retried as a whole.

import { Code, ConnectError, httpStatusOf, type Logger } from '@stave/core';
import { isRetryable } from './errors';
import type { BackendMetrics, Operation } from './metrics';

export interface RequestPolicyOptions {
  /** Backend name for messages: `s3`, `gcs`, `azure`. */
  readonly backend: string;
  readonly metrics: BackendMetrics;
  /** Deadline of each attempt (and of each hedged request), ms; 0 disables. */
  readonly timeoutMs: number;
  /** Retries after the first attempt (so at most maxRetries + 1 attempts). */
  readonly maxRetries: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Send another request when a read has not answered after this long (ms); 0 disables hedging. */
  readonly hedgeAtMs?: number;
  /** At most this many requests in flight for one hedged read, the first included (Tempo's meaning). */
  readonly hedgeUpTo?: number;
  readonly logger?: Logger;
  /** Injected for tests: a uniform number in [0, 1). */
  readonly random?: () => number;
  /** Injected for tests: waits `ms` between attempts. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RunOptions {
  /** Hedge this request (reads only: a hedged request is sent again, so it must be idempotent). */
  readonly hedge?: boolean;
  /** false for requests that cannot be repeated (a consumed stream). Default true. */
  readonly retry?: boolean;
  /**
   * false for a whole streamed upload, whose length is unknown: its single HTTP requests have their own
   * deadlines (the SDK's), the upload as a whole has none. Default true.
   */
  readonly timeout?: boolean;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function asConnect(err: unknown): ConnectError {
  return err instanceof ConnectError ? err : ConnectError.from(err);
}

export class RequestPolicy {
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly opts: RequestPolicyOptions) {
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  /** The wait before retry number `retry` (0-based): half the capped exponential step, plus up to half again at random. */
  backoffMs(retry: number): number {
    const base = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** retry);
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  /**
   * Runs one backend request under the policy. `fn` gets a signal that aborts when the attempt times out
   * or loses a hedge race; it must reject with a ConnectError carrying a classified code.
   */
  async run<T>(op: Operation, target: string, fn: (signal: AbortSignal) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    const hedge = opts.hedge === true && (this.opts.hedgeAtMs ?? 0) > 0 && (this.opts.hedgeUpTo ?? 0) > 1;
    const maxRetries = opts.retry === false ? 0 : this.opts.maxRetries;
    const started = Date.now();
    for (let retry = 0; ; retry++) {
      try {
        return hedge ? await this.hedged(op, target, fn) : await this.attempt(op, target, fn, undefined, opts.timeout !== false);
      } catch (err) {
        const e = asConnect(err);
        if (!isRetryable(e.code) || retry >= maxRetries) {
          if (retry === 0) throw e;
          throw new ConnectError(`${e.rawMessage} (gave up after ${retry + 1} attempts over ${Date.now() - started} ms)`, e.code, undefined, undefined, e);
        }
        const wait = this.backoffMs(retry);
        this.opts.metrics.retries.inc({ operation: op });
        this.opts.logger?.debug('backend request failed, retrying', {
          backend: this.opts.backend,
          operation: op,
          target,
          attempt: retry + 1,
          wait_ms: wait,
          err: e.message,
        });
        await this.sleep(wait);
      }
    }
  }

  /** One request with its own deadline; `cancel` aborts it from outside (a hedge that lost). */
  private async attempt<T>(op: Operation, target: string, fn: (signal: AbortSignal) => Promise<T>, cancel?: AbortSignal, withDeadline = true): Promise<T> {
    const ac = new AbortController();
    const timeoutMs = withDeadline ? this.opts.timeoutMs : 0;
    const timer =
      timeoutMs > 0
        ? setTimeout(
            () => ac.abort(new ConnectError(`${this.opts.backend}: ${op} ${target} timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
            timeoutMs,
          )
        : undefined;
    const onCancel = (): void =>
      ac.abort(new ConnectError(`${this.opts.backend}: ${op} ${target} canceled: another hedged request answered first`, Code.Canceled));
    if (cancel?.aborted) onCancel();
    else cancel?.addEventListener('abort', onCancel, { once: true });
    const t0 = performance.now();
    let status = 200;
    try {
      // An SDK that ignores the signal must not hold the caller past the deadline: race the abort.
      return await new Promise<T>((resolve, reject) => {
        const onAbort = (): void => reject(ac.signal.reason as Error);
        if (ac.signal.aborted) return onAbort();
        ac.signal.addEventListener('abort', onAbort, { once: true });
        fn(ac.signal).then(
          (v) => {
            ac.signal.removeEventListener('abort', onAbort);
            resolve(v);
          },
          (err: unknown) => {
            ac.signal.removeEventListener('abort', onAbort);
            // A request aborted by its deadline often fails with the SDK's own AbortError: report the deadline.
            reject(ac.signal.aborted ? (ac.signal.reason as Error) : err);
          },
        );
      });
    } catch (err) {
      status = httpStatusOf(asConnect(err).code);
      throw err;
    } finally {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
      this.opts.metrics.requestDuration.observe({ operation: op, status_code: String(status) }, (performance.now() - t0) / 1000);
    }
  }

  /**
   * Sends the request, then another each `hedgeAtMs` while none has answered, up to `hedgeUpTo` in
   * flight. The first success wins and the others are aborted.
   */
  private hedged<T>(op: Operation, target: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const upTo = this.opts.hedgeUpTo!;
    const at = this.opts.hedgeAtMs!;
    return new Promise<T>((resolve, reject) => {
      const cancel = new AbortController();
      let launched = 0;
      let failed = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        done = true;
        clearTimeout(timer);
        cancel.abort();
      };
      const launch = (): void => {
        launched++;
        if (launched > 1) this.opts.metrics.hedged.inc();
        this.attempt(op, target, fn, cancel.signal).then(
          (v) => {
            if (done) return;
            finish();
            resolve(v);
          },
          (err: unknown) => {
            if (done) return;
            failed++;
            // Settle when the failure is final (NotFound: every copy would say the same) or when nothing
            // is left in flight; a fast failure is the retry loop's business (with backoff), not a hedge's.
            if (!isRetryable(asConnect(err).code) || failed === launched) {
              finish();
              reject(err as Error);
            }
          },
        );
      };
      const schedule = (): void => {
        if (launched >= upTo) return;
        timer = setTimeout(() => {
          if (done) return;
          launch();
          schedule();
        }, at);
      };
      launch();
      schedule();
    });
  }
}
