import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Pusher, PushResponseSchema } from '@stave/proto';
import { MAX_ERROR_MESSAGE_CHARS, nopLogger } from '@stave/core';
import { ConnectServer } from './connect-server';

describe('ConnectServer (the internal gRPC port)', () => {
  let server: ConnectServer;
  const tenants: string[] = [];
  let fail: Error | undefined;

  beforeAll(async () => {
    server = new ConnectServer({ name: 'grpc', address: '127.0.0.1', port: 0, maxRecvBytes: 1 << 20, maxSendBytes: 1 << 20, logger: nopLogger });
    server.register((router) =>
      router.service(Pusher, {
        pushBytes: (req) => {
          if (fail) throw fail;
          tenants.push(req.tenant);
          return create(PushResponseSchema);
        },
      }),
    );
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  const client = () => createClient(Pusher, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.address().port}` }));

  it.each([
    ['a path', '../../etc'],
    ['a slash', 'a/b'],
    ['empty', ''],
    ['two dots', '..'],
    ['too long', 'x'.repeat(151)],
  ])('refuses a request whose tenant field is %s with INVALID_ARGUMENT, before the handler runs', async (_name, tenant) => {
    const err = ConnectError.from(
      await client()
        .pushBytes({ tenant })
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/tenant ID/);
    expect(tenants).not.toContain(tenant);
  });

  it('passes a valid tenant through', async () => {
    await client().pushBytes({ tenant: 'team-a' });
    expect(tenants).toContain('team-a');
  });

  it('answers handler errors with their code, capped, without stacks or file paths', async () => {
    fail = new ConnectError(`open /var/lib/stave/wal/t/0001.wal failed\n    at open (node:fs:1)\n${'x'.repeat(5000)}`, Code.Unavailable);
    const err = ConnectError.from(
      await client()
        .pushBytes({ tenant: 't' })
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe('open <path> failed');
    fail = Object.assign(new Error(`EACCES: permission denied, open '/var/lib/stave/wal/t'`), { code: 'EACCES' });
    const internal = ConnectError.from(
      await client()
        .pushBytes({ tenant: 't' })
        .catch((e: unknown) => e),
    );
    expect(internal.rawMessage).toBe('internal error (details are in the server log)');
    expect(internal.rawMessage.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    fail = undefined;
  });
});
