import { nopLogger } from '@stave/server';
import { CapturingPusher } from './test-support';
import { createJaegerReceivers } from './factory';
import { JaegerGrpcReceiver } from './grpc-receiver';
import { JaegerThriftHttpReceiver } from './thrift-http-receiver';
import { JaegerUdpReceiver } from './udp-receiver';

const deps = { pusher: new CapturingPusher(), logger: nopLogger };

test('only the listed protocols run, each on its endpoint', async () => {
  expect(createJaegerReceivers(undefined, deps)).toEqual([]);
  const receivers = createJaegerReceivers(
    { protocols: { thrift_http: { endpoint: '127.0.0.1:0' }, thrift_compact: { endpoint: '127.0.0.1:0' } } },
    deps,
  );
  expect(receivers.map((r) => r.constructor)).toEqual([JaegerThriftHttpReceiver, JaegerUdpReceiver]);
  expect(receivers.map((r) => r.name)).toEqual(['jaeger-thrift-http-receiver', 'jaeger-thrift-compact-receiver']);
  await Promise.all(receivers.map((r) => r.start()));
  for (const r of receivers) expect(r.address().port).toBeGreaterThan(0);
  await Promise.all(receivers.map((r) => r.stop()));

  const all = createJaegerReceivers(
    { protocols: { grpc: { endpoint: ':0' }, thrift_http: { endpoint: ':0' }, thrift_compact: { endpoint: ':0' }, thrift_binary: { endpoint: ':0' } } },
    deps,
  );
  expect(all.map((r) => r.constructor)).toEqual([JaegerGrpcReceiver, JaegerThriftHttpReceiver, JaegerUdpReceiver, JaegerUdpReceiver]);
});
