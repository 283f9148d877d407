// The single binary on real object-store emulators: push, /flush, restart with an empty local disk, and
// every trace comes back exactly from the object store (s3rver, Azurite); and an S3 outage during flush
// loses nothing: recent traces stay readable from the ingester, and the flush completes once the store
// is back.

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, TraceSchema } from '@stave/proto';
import { poll } from './support/poll';
import { AZURITE_ACCOUNT, AZURITE_KEY, createAzuriteContainer, S3RVER_KEY, startAzurite, startS3rver, type EmulatorProcess } from './support/emulators';
import { startStave, type StaveProcess } from './support/stave-process';

const RECEIVER = ['distributor:', '  receivers:', '    otlp:', '      protocols:', '        http:', '          endpoint: 127.0.0.1:0'];

function s3Config(endpoint: string): string {
  return [
    ...RECEIVER,
    'storage:',
    '  trace:',
    '    backend: s3',
    '    blocklist_poll: 1s',
    '    backoff: {min_period: 100ms, max_period: 1s, max_retries: 2}',
    '    s3:',
    '      bucket: stave',
    `      endpoint: ${endpoint}`,
    `      access_key: ${S3RVER_KEY}`,
    `      secret_key: ${S3RVER_KEY}`,
    '      forcepathstyle: true',
    '      insecure: true',
    '',
  ].join('\n');
}

function azureConfig(port: number): string {
  return [
    ...RECEIVER,
    'storage:',
    '  trace:',
    '    backend: azure',
    '    blocklist_poll: 1s',
    '    azure:',
    '      container_name: stave',
    `      storage_account_name: ${AZURITE_ACCOUNT}`,
    `      storage_account_key: ${AZURITE_KEY}`,
    `      endpoint_suffix: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

/** Trace i has i % 5 + 1 spans. */
function request(first: number, count: number): Uint8Array {
  const spans = [];
  for (let t = first; t < first + count; t++) {
    for (let s = 0; s < (t % 5) + 1; s++) {
      spans.push({ traceId: traceId(t), spanId: new Uint8Array(8).fill(s + 1), name: `op-${s}`, startTimeUnixNano: BigInt(Date.now()) * 1_000_000n });
    }
  }
  return toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: [{ scopeSpans: [{ spans }] }] }));
}

function traceId(t: number): Uint8Array {
  const id = new Uint8Array(16).fill(0x5a);
  new DataView(id.buffer).setUint32(12, t);
  return id;
}

async function start(configYaml: string): Promise<StaveProcess & { otlp: number }> {
  const p = startStave({ configYaml });
  await p.ready();
  const otlp = await p.receiverPort(/otlp.*http/);
  return Object.assign(p, { otlp });
}

async function push(p: StaveProcess & { otlp: number }, first: number, count: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${p.otlp}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: request(first, count),
  });
  expect(res.status).toBe(200);
}

async function spanCount(p: StaveProcess, t: number): Promise<number> {
  const res = await fetch(await p.url(`/api/traces/${Buffer.from(traceId(t)).toString('hex')}`), { headers: { accept: 'application/protobuf' } });
  if (res.status === 404) return 0;
  expect(res.status).toBe(200);
  const tr = fromBinary(TraceSchema, new Uint8Array(await res.arrayBuffer()));
  return tr.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)).length;
}

async function expectAll(p: StaveProcess, first: number, count: number): Promise<void> {
  for (let t = first; t < first + count; t++) expect(await spanCount(p, t)).toBe((t % 5) + 1);
}

describe.each([
  [
    's3rver',
    async () => {
      const emu = await startS3rver(['stave']);
      return { emu, config: s3Config(emu.endpoint) };
    },
  ],
  [
    'Azurite',
    async () => {
      const emu = await startAzurite();
      await createAzuriteContainer(emu, 'stave');
      return { emu, config: azureConfig(emu.port) };
    },
  ],
])('the single binary on %s', (_name, emulator) => {
  let emu: EmulatorProcess;
  let config: string;
  beforeAll(async () => ({ emu, config } = await emulator()));
  afterAll(() => emu.stop());

  it('answers every trace from the object store after a restart with an empty local disk', async () => {
    const a = await start(config);
    try {
      await push(a, 0, 20);
      expect((await fetch(await a.url('/flush'), { method: 'POST' })).status).toBe(204);
    } finally {
      await a.stop();
      a.cleanup();
    }
    const b = await start(config);
    try {
      await expectAll(b, 0, 20);
    } finally {
      await b.stop();
      b.cleanup();
    }
  });
});

describe('an S3 outage during flush', () => {
  it('keeps recent traces readable and completes the flush once the store is back', async () => {
    const emu = await startS3rver(['stave']);
    const config = s3Config(emu.endpoint);
    const a = await start(config);
    try {
      await push(a, 100, 10);
      await emu.kill();
      const flushing = fetch(await a.url('/flush'), { method: 'POST' });
      // The store stays down for 30 s; ingest and reads of recent traces carry on meanwhile.
      const downUntil = Date.now() + 30_000;
      await push(a, 200, 5);
      await expectAll(a, 100, 10);
      await expectAll(a, 200, 5);
      await poll(
        'a failed flush to be retried',
        async () => /tempo_ingester_failed_flushes_total (\d+)/.exec(await (await fetch(await a.url('/metrics'))).text())?.[1] !== '0',
        { timeoutMs: 30_000 },
      );
      await poll('the end of the outage', () => Date.now() >= downUntil, { timeoutMs: 40_000, intervalMs: 500 });
      await emu.start();
      expect((await flushing).status).toBe(204);
    } finally {
      await a.stop();
      a.cleanup();
    }
    const b = await start(config);
    try {
      await expectAll(b, 100, 10);
    } finally {
      await b.stop();
      b.cleanup();
      await emu.stop();
    }
  }, 120_000);
});
