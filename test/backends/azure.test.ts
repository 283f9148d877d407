// The Azure Blob backend against Azurite (a child process on a free loopback port, in memory): the
// shared conformance suite with an account key, then the other ways in (SAS token, connection string),
// the container prefix, and Tempo's Azurite endpoint convention.

import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { Code, codeOf, defaultConfig } from '@stave/server';
import { createObjectStore, type ManagedObjectStore, type TraceStorageConfig } from '@stave/backend';
import { describeObjectStoreConformance } from '@stave/backend/testing';
import { AZURITE_ACCOUNT, AZURITE_KEY, createAzuriteContainer, startAzurite, type EmulatorProcess } from '../support/emulators';

const CONTAINER = 'stave-traces';
let azurite: EmulatorProcess & { endpoint: string };
const stores: ManagedObjectStore[] = [];
let run = 0;

beforeAll(async () => {
  azurite = await startAzurite();
  await createAzuriteContainer(azurite, CONTAINER);
}, 60_000);

afterAll(async () => {
  for (const s of stores) await s.close();
  await azurite?.stop();
});

function config(a: Partial<TraceStorageConfig['azure']> = {}): TraceStorageConfig {
  const d = defaultConfig().storage.trace;
  return {
    ...d,
    backend: 'azure',
    request_timeout: 20_000,
    backoff: { min_period: 20, max_period: 200, max_retries: 3 },
    azure: {
      ...d.azure,
      container_name: CONTAINER,
      storage_account_name: AZURITE_ACCOUNT,
      storage_account_key: AZURITE_KEY,
      // Tempo's convention: an endpoint suffix that is not `blob.…` is Azurite, http://<suffix>/<account>.
      endpoint_suffix: `127.0.0.1:${azurite.port}`,
      prefix: `run-${run++}`,
      // 1 MiB blocks: the large-object case stages ~65 blocks, 4 in flight.
      buffer_size: 1024 * 1024,
      ...a,
    },
  };
}

function store(cfg: TraceStorageConfig): ManagedObjectStore {
  const s = createObjectStore(cfg, { listPageSize: 1000 });
  stores.push(s);
  return s;
}

describeObjectStoreConformance('azure (Azurite, account key)', { create: async () => store(config()) });

describe('azure specifics', () => {
  it('authenticates with a SAS token', async () => {
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse('rwdlc'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    const s = store(config({ storage_account_key: '', sas_token: `?${sas}` }));
    await s.write('sas/a', Buffer.from('via sas'));
    expect(Buffer.from(await s.read('sas/a')).toString()).toBe('via sas');
    expect((await s.list('sas/')).objects).toEqual(['sas/a']);
    await s.delete('sas/a');
    expect(codeOf(await s.stat('sas/a').catch((e: unknown) => e))).toBe(Code.NotFound);
  });

  it('authenticates with a connection string', async () => {
    const cs = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${azurite.endpoint};`;
    const s = store(config({ storage_account_key: '', storage_account_name: '', connection_string: cs }));
    await s.write('cs/a', Buffer.from('via connection string'));
    expect(Buffer.from(await s.read('cs/a')).toString()).toBe('via connection string');
  });

  it('refuses a wrong account key as Unauthenticated or PermissionDenied, without retrying', async () => {
    const s = store(config({ storage_account_key: Buffer.alloc(64, 1).toString('base64') }));
    const code = codeOf(await s.read('x').catch((e: unknown) => e));
    expect([Code.PermissionDenied, Code.Unauthenticated]).toContain(code);
    expect(await s.metrics.value('stave_backend_retries_total', { operation: 'read' })).toBe(0);
    expect(
      await s.metrics.value('tempodb_backend_request_duration_seconds_count', {
        operation: 'read',
        status_code: code === Code.PermissionDenied ? '403' : '401',
      }),
    ).toBe(1);
  });

  it('keeps every key under the configured prefix', async () => {
    const a = store(config({ prefix: 'deployments/a' }));
    const root = store(config({ prefix: '' }));
    await a.write('t/1/meta.json', Buffer.from('a'));
    expect(await a.list('', { delimiter: '/' })).toEqual({ objects: [], prefixes: ['t/'] });
    expect((await root.list('deployments/')).objects).toEqual(['deployments/a/t/1/meta.json']);
  });

  it('reports a missing container as FailedPrecondition', async () => {
    const s = store(config({ container_name: 'no-such-container' }));
    expect(codeOf(await s.read('x').catch((e: unknown) => e))).toBe(Code.FailedPrecondition);
  });
});
