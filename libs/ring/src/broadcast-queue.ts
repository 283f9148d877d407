// The queue of gossip broadcasts waiting to ride on outgoing packets: each is sent a limited number of
// times, a newer broadcast about the same key replaces an older one, and past its capacity the most-sent
// broadcast is dropped (and counted).

/** A transmit-limited broadcast queue (memberlist's TransmitLimitedQueue). */
export class BroadcastQueue {
  private items: Array<{ key: string; msg: Buffer; transmits: number; id: number }> = [];
  private nextId = 0;
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly onDrop?: () => void,
  ) {}

  get length(): number {
    return this.items.length;
  }

  queue(key: string, msg: Buffer): void {
    this.items = this.items.filter((b) => b.key !== key);
    this.items.push({ key, msg, transmits: 0, id: this.nextId++ });
    if (this.items.length > this.max) {
      // Drop what has been sent most (then the oldest): it has had the most chances to spread.
      let worst = 0;
      for (let i = 1; i < this.items.length; i++) {
        const a = this.items[i]!;
        const b = this.items[worst]!;
        if (a.transmits > b.transmits || (a.transmits === b.transmits && a.id < b.id)) worst = i;
      }
      this.items.splice(worst, 1);
      this.dropped++;
      this.onDrop?.();
    }
  }

  /** Broadcasts that fit in `budget` bytes, fewest transmits (then newest) first. */
  take(budget: number, limit: number): Buffer[] {
    if (this.items.length === 0 || budget <= 0) return [];
    const order = [...this.items].sort((a, b) => a.transmits - b.transmits || b.id - a.id);
    const out: Buffer[] = [];
    let left = budget;
    for (const b of order) {
      if (out.length >= 64) break;
      if (b.msg.length > left) continue;
      out.push(b.msg);
      left -= b.msg.length;
      b.transmits++;
    }
    this.items = this.items.filter((b) => b.transmits < limit);
    return out;
  }

  has(key: string): boolean {
    return this.items.some((b) => b.key === key);
  }
}
