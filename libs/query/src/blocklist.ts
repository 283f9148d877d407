// The blocklist: which complete blocks each tenant has in the backend. Polled every `blocklist_poll`
// (and once before the querier reports ready), from the tenant index when there is one, else by listing.

import type { ObjectStore } from '@stave/backend';
import { listBlocks, openBlock, readTenantIndex, type BlockMeta, type BlockReader } from '@stave/block';
import { BasicService, type Logger } from '@stave/server';

export class Blocklist extends BasicService {
  private metas = new Map<string, BlockMeta[]>();
  private readonly readers = new Map<string, BlockReader>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: ObjectStore, private readonly pollMs: number, private readonly logger: Logger) {
    super('blocklist');
  }

  protected override async starting(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => {
      this.poll().catch((err: unknown) => this.logger.warn('blocklist poll failed', { err: String(err) }));
    }, this.pollMs);
    this.timer.unref();
  }

  protected override async stopping(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  async poll(): Promise<void> {
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

  blocks(tenant: string): readonly BlockMeta[] {
    return this.metas.get(tenant) ?? [];
  }

  reader(meta: BlockMeta): BlockReader {
    const k = `${meta.tenantID}/${meta.blockID}`;
    let r = this.readers.get(k);
    if (!r) this.readers.set(k, (r = openBlock(this.store, meta)));
    return r;
  }
}
