import { remoteWriterOptions, type GeneratorStorageConfig } from './config';

const entry = (over: Partial<GeneratorStorageConfig['remote_write'][number]> = {}): GeneratorStorageConfig['remote_write'][number] => ({
  url: 'http://prometheus:9090/api/v1/write',
  name: '',
  headers: {},
  send_exemplars: false,
  remote_timeout: 30_000,
  basic_auth: { username: '', password: '' },
  authorization: { type: 'Bearer', credentials: '' },
  ...over,
});

const storage = (over: Partial<GeneratorStorageConfig> = {}): GeneratorStorageConfig => ({
  path: '/var/stave/generator/wal',
  remote_write_flush_deadline: 60_000,
  remote_write_add_org_id_header: true,
  wal: { max_wal_time: 14_400_000 },
  remote_write: [entry()],
  ...over,
});

describe('remoteWriterOptions (metrics_generator.storage)', () => {
  it('maps Tempo keys to options', () => {
    const o = remoteWriterOptions(
      storage({ remote_write: [entry({ name: 'prom', send_exemplars: true, remote_timeout: 5000, headers: { 'X-A': 'b' } })] }),
      true,
    );
    expect(o).toEqual({
      path: '/var/stave/generator/wal',
      flushDeadlineMs: 60_000,
      addOrgIdHeader: true,
      maxWalTimeMs: 14_400_000,
      endpoints: [{ url: 'http://prometheus:9090/api/v1/write', name: 'prom', sendExemplars: true, remoteTimeoutMs: 5000, headers: { 'X-A': 'b' } }],
    });
  });

  it.each([
    ['multitenancy off: never X-Scope-OrgID', true, false, false],
    ['remote_write_add_org_id_header off', false, true, false],
    ['both on', true, true, true],
  ])('%s', (_name, add, multitenancy, want) => {
    expect(remoteWriterOptions(storage({ remote_write_add_org_id_header: add }), multitenancy).addOrgIdHeader).toBe(want);
  });

  it.each([
    ['basic_auth', entry({ basic_auth: { username: 'u', password: 'p' } }), `Basic ${Buffer.from('u:p').toString('base64')}`],
    ['authorization', entry({ authorization: { type: 'Bearer', credentials: 'tok' } }), 'Bearer tok'],
    [
      'a configured Authorization header wins',
      entry({ authorization: { type: 'Bearer', credentials: 'tok' }, headers: { Authorization: 'Custom x' } }),
      'Custom x',
    ],
    ['neither', entry(), undefined],
  ])('%s', (_name, e, want) => {
    expect(remoteWriterOptions(storage({ remote_write: [e] }), false).endpoints[0]!.headers?.Authorization).toBe(want);
  });
});
