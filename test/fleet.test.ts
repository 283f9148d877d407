// Three `bin/stave -target=scalable-single-binary` processes on loopback, joined by gossip through the
// first, with replication factor 3: every ring page shows 3 ACTIVE, a trace pushed to one is read from
// each, and after `kill -9` of one, writes still succeed and the others show it UNHEALTHY.

import { create, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '@stave/proto';
import { configYaml, ingesterRing, OTLP_HTTP_RECEIVER } from './support/config';
import { poll } from './support/poll';
import { ringShards, type RingShard } from './support/stave-http';
import { startStave, type StaveProcess } from './support/stave-process';

const CONFIG = configYaml(OTLP_HTTP_RECEIVER, ingesterRing(3));

function memberlistPort(p: StaveProcess): Promise<number> {
  return poll('memberlist to listen', () => {
    const l = p.logs.find((x) => x.msg === 'memberlist listening');
    return l ? Number(String(l.bind).split(':').pop()) : undefined;
  });
}

async function ring(p: StaveProcess): Promise<{ shards: RingShard[] }> {
  return { shards: await ringShards(await p.url('/ingester/ring')) };
}

function request(traceByte: number, spanByte: number): Uint8Array {
  return toBinary(
    ExportTraceServiceRequestSchema,
    create(ExportTraceServiceRequestSchema, {
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: new Uint8Array(16).fill(traceByte), spanId: new Uint8Array(8).fill(spanByte), name: 'op' }] }] }],
    }),
  );
}

async function push(p: StaveProcess, traceByte: number, spanByte: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${await p.receiverPort(/otlp.*http/)}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: request(traceByte, spanByte),
  });
  return res.status;
}

describe('a fleet of three scalable single binaries', () => {
  const procs: StaveProcess[] = [];
  afterAll(async () => {
    for (const p of procs) {
      await p.stop();
      p.cleanup();
    }
  });

  it('forms one ring, replicates writes, and survives kill -9 of a member', async () => {
    const first = startStave({ configYaml: CONFIG, args: ['-target=scalable-single-binary', '-ingester.lifecycler.id=ingester-0'] });
    procs.push(first);
    const seed = await memberlistPort(first);
    for (const i of [1, 2]) {
      procs.push(
        startStave({
          configYaml: CONFIG,
          args: ['-target=scalable-single-binary', `-ingester.lifecycler.id=ingester-${i}`, `-memberlist.join-members=127.0.0.1:${seed}`],
        }),
      );
    }
    for (const p of procs) {
      await poll(
        'three ACTIVE ingesters on every ring page',
        async () => {
          const r = await ring(p);
          return r.shards.length === 3 && r.shards.every((s) => s.state === 'ACTIVE');
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    }
    const tokens = (await ring(procs[0]!)).shards.flatMap((s) => s.tokens);
    expect(new Set(tokens).size).toBe(tokens.length);

    expect(await push(procs[0]!, 0x11, 1)).toBe(200);
    for (const p of procs) {
      const res = await fetch(await p.url(`/api/traces/${'11'.repeat(16)}`));
      expect(res.status).toBe(200);
    }

    const victim = procs[2]!;
    await victim.stop('SIGKILL');
    // Writes need 2 of 3 replicas: they keep succeeding.
    for (let i = 0; i < 5; i++) expect(await push(procs[0]!, 0x20 + i, 2)).toBe(200);
    for (const p of procs.slice(0, 2)) {
      await poll('the killed ingester shown UNHEALTHY', async () => (await ring(p)).shards.find((s) => s.id === 'ingester-2')?.state === 'UNHEALTHY', {
        timeoutMs: 10_000,
        intervalMs: 200,
      });
    }
    expect(await push(procs[1]!, 0x30, 3)).toBe(200);
    const res = await fetch(await procs[1]!.url(`/api/traces/${'30'.repeat(16)}`));
    expect(res.status).toBe(200);
  });
});
