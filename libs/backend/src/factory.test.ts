// The factory: config problems are reported all at once with their paths; each backend gets built with
// Tempo's key names; the endpoint conventions match Tempo's.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Code, codeOf } from '@stave/core';
import { Registry } from 'prom-client';
import { azureAccountURL } from './azure';
import type { TraceStorageConfig } from './config';
import { codeForStatus, isRetryable } from './errors';
import { createObjectStore, validateStorageConfig } from './factory';
import { gcsApiEndpoint } from './gcs';
import { Keyspace } from './keyspace';
import { s3EndpointURL } from './s3';
import { storageOptions } from './testing/options';

const base = storageOptions;

describe('validateStorageConfig', () => {
  it.each<[string, Partial<TraceStorageConfig>, string[]]>([
    ['local defaults', {}, []],
    ['s3 without a bucket', { backend: 's3' }, ['storage.trace.s3.bucket']],
    ['s3 with half a key pair', { backend: 's3', s3: { ...base().s3, bucket: 'b', access_key: 'AK' } }, ['storage.trace.s3.access_key']],
    ['s3 with the default credential chain', { backend: 's3', s3: { ...base().s3, bucket: 'b' } }, []],
    ['gcs without a bucket', { backend: 'gcs' }, ['storage.trace.gcs.bucket_name']],
    [
      'azure with nothing',
      { backend: 'azure' },
      ['storage.trace.azure.container_name', 'storage.trace.azure.storage_account_name', 'storage.trace.azure.storage_account_key'],
    ],
    ['azure with a SAS token', { backend: 'azure', azure: { ...base().azure, container_name: 'c', storage_account_name: 'a', sas_token: 'sv=1' } }, []],
    [
      'azure with a connection string',
      { backend: 'azure', azure: { ...base().azure, container_name: 'c', connection_string: 'UseDevelopmentStorage=true' } },
      [],
    ],
  ])('%s', (_name, over, paths) => {
    expect(validateStorageConfig({ ...base(), ...over }).map((i) => i.path)).toEqual(paths);
  });

  it('makes createObjectStore throw InvalidArgument naming every problem', () => {
    let err: unknown;
    try {
      createObjectStore({ ...base(), backend: 'azure' });
    } catch (e) {
      err = e;
    }
    expect(codeOf(err)).toBe(Code.InvalidArgument);
    expect((err as Error).message).toMatch(/storage\.trace\.azure\.container_name.*storage\.trace\.azure\.storage_account_name/);
  });
});

describe('createObjectStore', () => {
  it('builds every backend from config without contacting it, and closes twice safely', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stave-factory-'));
    try {
      const registry = new Registry();
      const cfgs: TraceStorageConfig[] = [
        { ...base(), backend: 'local', local: { path: dir } },
        { ...base(), backend: 's3', s3: { ...base().s3, bucket: 'b', endpoint: '127.0.0.1:1', insecure: true, access_key: 'a', secret_key: 's' } },
        { ...base(), backend: 'gcs', gcs: { ...base().gcs, bucket_name: 'b', endpoint: 'http://127.0.0.1:1' } },
        {
          ...base(),
          backend: 'azure',
          azure: { ...base().azure, container_name: 'c', storage_account_name: 'a', storage_account_key: Buffer.from('k').toString('base64') },
        },
      ];
      for (const cfg of cfgs) {
        const s = createObjectStore(cfg, { registry });
        expect(s.backend).toBe(cfg.backend);
        await s.close();
        await s.close();
      }
      // One registry, four stores: the metrics are shared, not registered twice.
      expect((await registry.getMetricsAsJSON()).map((m) => m.name)).toContain('tempodb_backend_request_duration_seconds');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Tempo's endpoint conventions", () => {
  it.each([
    [{ endpoint: '', insecure: false }, undefined],
    [{ endpoint: 's3.eu-west-1.amazonaws.com', insecure: false }, 'https://s3.eu-west-1.amazonaws.com'],
    [{ endpoint: 'minio:9000', insecure: true }, 'http://minio:9000'],
    [{ endpoint: 'http://127.0.0.1:4566', insecure: false }, 'http://127.0.0.1:4566'],
  ])('s3 endpoint %j → %s', (cfg, url) => expect(s3EndpointURL(cfg)).toBe(url));

  it.each([
    [{ endpoint: '', insecure: false }, undefined],
    [{ endpoint: 'https://storage.googleapis.com/storage/v1/', insecure: false }, 'https://storage.googleapis.com'],
    [{ endpoint: 'gcs-proxy:4443', insecure: true }, 'http://gcs-proxy:4443'],
  ])('gcs endpoint %j → %s', (cfg, url) => expect(gcsApiEndpoint(cfg)).toBe(url));

  it.each([
    [{ storage_account_name: 'acct', endpoint_suffix: 'blob.core.windows.net' }, 'https://acct.blob.core.windows.net'],
    [{ storage_account_name: 'acct', endpoint_suffix: 'blob.core.chinacloudapi.cn' }, 'https://acct.blob.core.chinacloudapi.cn'],
    [{ storage_account_name: 'devstoreaccount1', endpoint_suffix: 'azurite:10000' }, 'http://azurite:10000/devstoreaccount1'],
    [{ storage_account_name: 'devstoreaccount1', endpoint_suffix: 'https://blobs.example:8443' }, 'https://blobs.example:8443/devstoreaccount1'],
  ])('azure %j → %s', (cfg, url) => expect(azureAccountURL(cfg)).toBe(url));
});

describe('Keyspace', () => {
  it.each([
    ['', 't/b/meta.json', 't/b/meta.json'],
    ['tempo', 't/b/meta.json', 'tempo/t/b/meta.json'],
    ['/tempo/traces/', 'x', 'tempo/traces/x'],
  ])('prefix %j puts %s at %s', (prefix, key, stored) => {
    const k = new Keyspace(prefix);
    expect(k.full(key)).toBe(stored);
    expect(k.strip(stored)).toBe(key);
  });

  it.each(['', '/abs', 'a/../b', './a'])('refuses key %j', (key) => {
    expect(
      codeOf(
        (() => {
          try {
            new Keyspace('p').full(key);
          } catch (e) {
            return e;
          }
        })(),
      ),
    ).toBe(Code.InvalidArgument);
  });
});

describe('error classification', () => {
  it.each([
    [404, Code.NotFound, false],
    [416, Code.OutOfRange, false],
    [403, Code.PermissionDenied, false],
    [412, Code.Aborted, false],
    [429, Code.ResourceExhausted, true],
    [500, Code.Unavailable, true],
    [502, Code.Unavailable, true],
    [503, Code.Unavailable, true],
    [504, Code.DeadlineExceeded, true],
  ])('HTTP %i → %s, retryable %s', (status, code, retry) => {
    expect(codeForStatus(status)).toBe(code);
    expect(isRetryable(code)).toBe(retry);
  });
});
