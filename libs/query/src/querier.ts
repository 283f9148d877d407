// The querier answers trace-by-ID jobs: from the ingesters that own the trace (recent data) and from the
// backend blocks whose ID falls in the job's block range (bloom → index → ranged read).

import { create } from '@bufbuild/protobuf';
import { traceByIDRequest, type IngesterClient } from '@stave/ingester';
import { combineTraces, type TraceLike } from '@stave/model';
import { QueryMode, TraceByIDResponseSchema, type TraceByIDRequest, type TraceByIDResponse } from '@stave/proto';
import { RingUnavailableError, tokenFor, type InstanceDesc, type ReadRing } from '@stave/ring';
import { BasicService, Code, ConnectError } from '@stave/server';
import type { Blocklist } from './blocklist';

export interface QuerierOptions {
  ring: ReadRing;
  ingester: (instance: InstanceDesc) => IngesterClient;
  blocklist: Blocklist;
  /**
   * `querier.query_relevant_ingesters`: ask only the ingesters that own the trace (its replication set);
   * off (Tempo's default), ask every healthy ingester of the ring.
   */
  queryRelevantIngesters?: boolean;
}

export class Querier extends BasicService {
  constructor(private readonly opts: QuerierOptions) {
    super('querier');
  }

  async findTraceByID(req: TraceByIDRequest): Promise<TraceByIDResponse> {
    const parts: TraceLike[] = [];
    let blocksInspected = 0;
    if (req.queryMode !== QueryMode.BLOCKS) parts.push(...(await this.fromIngesters(req)));
    if (req.queryMode !== QueryMode.INGESTERS) {
      const { inRange, readers } = this.opts.blocklist.candidates(req.tenant, req.traceId, {
        blockStart: req.blockStart,
        blockEnd: req.blockEnd,
        startUnixSeconds: Number(req.startUnixSeconds),
        endUnixSeconds: Number(req.endUnixSeconds),
      });
      const found = await Promise.all(readers.map((r) => r.findTraceByID(req.traceId)));
      blocksInspected += inRange;
      for (const t of found) if (t) parts.push(t);
    }
    return create(TraceByIDResponseSchema, {
      trace: parts.length === 0 ? undefined : combineTraces(parts),
      metrics: { blocksInspected },
    });
  }

  private async fromIngesters(req: TraceByIDRequest): Promise<TraceLike[]> {
    let set;
    try {
      set = this.opts.queryRelevantIngesters ? this.opts.ring.get(tokenFor(req.tenant, req.traceId), 'read') : this.opts.ring.getAll();
    } catch (err) {
      if (err instanceof RingUnavailableError) throw new ConnectError(`cannot read recent traces: ${err.message}`, Code.Unavailable);
      throw err;
    }
    const ask = traceByIDRequest({ tenant: req.tenant, traceId: req.traceId, queryMode: QueryMode.INGESTERS });
    const results = await Promise.allSettled(set.instances.map((i) => this.opts.ingester(i).findTraceByID(ask)));
    const failures = results.filter((r) => r.status === 'rejected');
    // Never a wrong empty: too many ingesters failed to be sure nothing was missed.
    if (failures.length > set.maxErrors) {
      throw new ConnectError(
        `${failures.length} of ${set.instances.length} ingesters failed: ${String((failures[0] as PromiseRejectedResult).reason)}`,
        Code.Unavailable,
      );
    }
    const out: TraceLike[] = [];
    for (const r of results) if (r.status === 'fulfilled' && r.value.trace) out.push(r.value.trace);
    return out;
  }
}
