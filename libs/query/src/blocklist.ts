// The blocklist: which complete blocks each tenant has in the backend. Polled every `blocklist_poll`
// (and once before the querier reports ready), from the tenant index when there is one, else by listing.

import type { ObjectStore } from '@stave/backend';
import { listBlocks, openBlock, readTenantIndex, type BlockMeta, type BlockReader } from '@stave/block';
import { BasicService, Code, ConnectError, type Logger } from '@stave/server';

export class Blocklist extends BasicService {
  private metas: Map<string, BlockMeta[]> | undefined;
  private readonly readers = new Map<string, BlockReader>();
  private timer: NodeJS.Timeout | undefined;
  private lastPoll = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly pollMs: number,
    private readonly logger: Logger,
  ) {
    super('blocklist');
  }

  protected override async starting(): Promise<void> {
    // A backend that is down at start must not stop the querier: recent traces are still answered from
    // the ingesters, and block queries answer 503 until a poll succeeds.
    await this.poll().catch((err: unknown) => this.logger.warn('blocklist poll failed; retrying', { err: String(err) }));
    // Poll every blocklist_poll; until the first poll succeeds, retry every few seconds.
    this.timer = setInterval(
      () => {
        if (this.metas && Date.now() - this.lastPoll < this.pollMs) return;
        this.poll().catch((err: unknown) => this.logger.warn('blocklist poll failed', { err: String(err) }));
      },
      Math.min(this.pollMs, 5000),
    );
    this.timer.unref();
  }

  protected override async stopping(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    this.lastPoll = Date.now();
    const { prefixes } = await this.store.list('', { delimiter: '/' });
    const next = new Map<string, BlockMeta[]>();
    for (const p of prefixes) {
      const tenant = p.slice(0, -1);
      let metas: BlockMeta[] | undefined;
      try {
        metas = (await readTenantIndex(this.store, tenant))?.meta;
      } catch (err) {
        this.logger.warn('tenant index unreadable; listing blocks', { tenant, err: String(err) });
      }
      metas ??= await listBlocks(this.store, tenant);
      next.set(tenant, metas);
    }
    this.metas = next;
    const live = new Set([...next.values()].flat().map((m) => `${m.tenantID}/${m.blockID}`));
    for (const k of this.readers.keys()) if (!live.has(k)) this.readers.delete(k);
  }

  /** The tenant's blocks as last polled. Unavailable before the first successful poll: never a wrong empty. */
  blocks(tenant: string): readonly BlockMeta[] {
    if (!this.metas) throw new ConnectError('the blocklist has not been loaded from the backend yet', Code.Unavailable);
    return this.metas.get(tenant) ?? [];
  }

  reader(meta: BlockMeta): BlockReader {
    const k = `${meta.tenantID}/${meta.blockID}`;
    let r = this.readers.get(k);
    if (!r) this.readers.set(k, (r = openBlock(this.store, meta)));
    return r;
  }
}
