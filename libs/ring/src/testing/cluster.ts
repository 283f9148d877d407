// Test helpers: gossiping ring members in one process, on loopback with port 0, and poll(until).
// Not exported from the package: tests import it directly.

import { RingDesc, encodeRingDesc, ringDescCodec } from '../desc';
import { Ring } from '../kv-ring';
import { Lifecycler, type TokenGenerator } from '../lifecycler';
import { MemberlistKV, type MemberlistKVOptions } from '../memberlist-kv';
import type { PacketFilter } from '../memberlist';

export const RING_KEY = 'collectors/ring';

export interface TestMember {
  index: number;
  instanceId: string;
  kv: MemberlistKV;
  lifecycler: Lifecycler;
  ring: Ring;
  /** The gossip address, "127.0.0.1:port". */
  address: string;
  stop(): Promise<void>;
  /** kill -9 as peers see it: sockets closed, no leave, no last heartbeat. */
  kill(): Promise<void>;
}

export interface TestMemberOptions {
  join?: string[];
  instanceId?: string;
  heartbeatPeriodMs?: number;
  heartbeatTimeoutMs?: number;
  numTokens?: number;
  tokensFilePath?: string;
  tokenGenerator?: TokenGenerator;
  packetFilter?: PacketFilter;
  memberlist?: Partial<MemberlistKVOptions>;
}

/**
 * Fast gossip timings for tests: a 10-member cluster converges in about a second. Probes stay lenient
 * (250 ms to answer, 4 × log10(n) probe intervals to refute) so a CI machine busy with other suites
 * does not produce false deaths.
 */
export const FAST: Partial<MemberlistKVOptions> = {
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  suspicionMult: 4,
  gossipIntervalMs: 50,
  gossipNodes: 3,
  pushPullIntervalMs: 500,
  gossipToDeadNodesTimeMs: 10_000,
  streamTimeoutMs: 2000,
  dialTimeoutMs: 500,
  minJoinBackoffMs: 50,
  maxJoinBackoffMs: 200,
  maxJoinRetries: 20,
  leaveTimeoutMs: 1000,
};

export async function startMember(index: number, o: TestMemberOptions = {}): Promise<TestMember> {
  const instanceId = o.instanceId ?? `ingester-${index}`;
  const kv = new MemberlistKV({
    nodeName: `${instanceId}-${Math.random().toString(16).slice(2, 8)}`,
    bindAddr: '127.0.0.1',
    bindPort: 0,
    joinMembers: o.join ?? [],
    ...FAST,
    ...(o.packetFilter ? { packetFilter: o.packetFilter } : {}),
    ...o.memberlist,
  });
  await kv.start();
  const client = kv.client(ringDescCodec);
  const heartbeatTimeoutMs = o.heartbeatTimeoutMs ?? 60_000;
  const ring = new Ring({ kv: client, key: RING_KEY, name: 'ingester', replicationFactor: 3, heartbeatTimeoutMs });
  const lifecycler = new Lifecycler({
    kv: client,
    key: RING_KEY,
    ringName: 'ingester',
    instanceId,
    instanceAddr: `127.0.0.1:${9000 + index}`,
    numTokens: o.numTokens ?? 128,
    heartbeatPeriodMs: o.heartbeatPeriodMs ?? 30_000,
    heartbeatTimeoutMs,
    ...(o.tokensFilePath ? { tokensFilePath: o.tokensFilePath } : {}),
    ...(o.tokenGenerator ? { tokenGenerator: o.tokenGenerator } : {}),
  });
  await ring.start();
  await lifecycler.start();
  const address = kv.memberlist.localAddress();
  return {
    index,
    instanceId,
    kv,
    lifecycler,
    ring,
    address,
    stop: async () => {
      await lifecycler.stop();
      await ring.stop();
      await kv.stop();
    },
    kill: async () => {
      await kv.kill();
      // What the lifecycler writes from here on stays in this dead process.
      await lifecycler.stop();
      await ring.stop();
    },
  };
}

export function descBytes(d: RingDesc): string {
  return Buffer.from(encodeRingDesc(d)).toString('base64');
}

export async function poll<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 25 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
