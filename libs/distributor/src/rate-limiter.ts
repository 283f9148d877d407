// Per-tenant ingestion rate limits: a token bucket in bytes, refilled at rate_limit_bytes per second up to
// burst_size_bytes. With the `global` strategy the rate is divided by the number of healthy distributors.

export interface RateLimit {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private limit: RateLimit,
    private readonly now: () => number,
  ) {
    this.tokens = limit.burstBytes;
    this.last = now();
  }

  /** Takes `n` bytes if available now; false (and nothing taken) otherwise. */
  allow(n: number, limit: RateLimit): boolean {
    if (limit.bytesPerSecond !== this.limit.bytesPerSecond || limit.burstBytes !== this.limit.burstBytes) {
      this.limit = limit;
      this.tokens = Math.min(this.tokens, limit.burstBytes);
    }
    const t = this.now();
    this.tokens = Math.min(this.limit.burstBytes, this.tokens + ((t - this.last) / 1000) * this.limit.bytesPerSecond);
    this.last = t;
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }

  /** Seconds until `n` bytes would be available (for Retry-After). */
  secondsUntil(n: number): number {
    if (n > this.limit.burstBytes) return 1;
    return Math.max(1, Math.ceil((n - this.tokens) / Math.max(1, this.limit.bytesPerSecond)));
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Undefined when allowed; otherwise the seconds a client should wait. */
  check(tenant: string, bytes: number, limit: RateLimit): number | undefined {
    let b = this.buckets.get(tenant);
    if (!b) {
      b = new TokenBucket(limit, this.now);
      this.buckets.set(tenant, b);
    }
    return b.allow(bytes, limit) ? undefined : b.secondsUntil(bytes);
  }
}
