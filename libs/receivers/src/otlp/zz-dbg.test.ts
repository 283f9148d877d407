import * as grpc from '@grpc/grpc-js';
import { Logger } from '@stave/server';
import { OtlpGrpcReceiver } from './grpc-receiver';
import { CapturingPusher } from './test-fixtures';
it('dbg', async () => {
  const receiver = new OtlpGrpcReceiver({ pusher: new CapturingPusher(), logger: new Logger('debug'), endpoint: '127.0.0.1:0', maxRecvBytes: 256 * 1024 });
  await receiver.start();
  const port = receiver.address().port;
  for (const [gzip, size] of [[true, 8 * 1024 * 1024], [false, 300 * 1024]] as const) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
    const t = Date.now();
    const r = await new Promise<unknown>((resolve) => client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(size), new grpc.Metadata(), { deadline: Date.now() + 20000 }, (e, res) => resolve(e ? { code: e.code, details: e.details } : res)));
    console.log(gzip, Date.now() - t, r);
    client.close();
  }
  await receiver.stop();
});
