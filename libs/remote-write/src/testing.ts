// @stave/remote-write/testing: a remote write receiver on loopback for tests where a real Prometheus is
// more than the test needs (status codes on demand, headers, exact request bodies). It decodes each
// request with the generated prometheus.WriteRequest schema, and keeps the series it accepted.

import { fromBinary } from '@bufbuild/protobuf';
import { PromWriteRequestSchema, type PromWriteRequest } from '@stave/proto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompress } from './encode';

export interface ReceivedRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: PromWriteRequest;
  /** The status this receiver answered. */
  readonly status: number;
}

/** What to answer a request with; undefined means 204 (accepted). */
export type Responder = (req: {
  headers: IncomingHttpHeaders;
  body: PromWriteRequest;
  index: number;
}) => { status: number; headers?: Record<string, string>; body?: string } | undefined;

export interface TestReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Accepted samples per series (labels as `name="value",...` in the order sent), in arrival order. */
  readonly series: Map<string, Array<{ value: number; timestampMs: number }>>;
  /** Sum of accepted samples across requests. */
  acceptedSamples(): number;
  respond(responder: Responder | undefined): void;
  close(): Promise<void>;
}

export function seriesKey(labels: ReadonlyArray<{ name: string; value: string }>): string {
  return labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',');
}

/** Starts a receiver on 127.0.0.1 and a free port (or `port`, to come back on the same address). */
export async function startTestReceiver(port = 0): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const series = new Map<string, Array<{ value: number; timestampMs: number }>>();
  let responder: Responder | undefined;
  let accepted = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: PromWriteRequest;
      try {
        if (req.headers['content-encoding'] !== 'snappy') throw new Error(`Content-Encoding ${req.headers['content-encoding']}`);
        body = fromBinary(PromWriteRequestSchema, uncompress(Buffer.concat(chunks)));
      } catch (err) {
        res.writeHead(400).end(String(err));
        return;
      }
      const answer = responder?.({ headers: req.headers, body, index: requests.length });
      const status = answer?.status ?? 204;
      requests.push({ headers: req.headers, body, status });
      if (status >= 200 && status < 300) {
        for (const ts of body.timeseries) {
          const key = seriesKey(ts.labels);
          const list = series.get(key) ?? [];
          for (const s of ts.samples) list.push({ value: s.value, timestampMs: Number(s.timestamp) });
          accepted += ts.samples.length;
          series.set(key, list);
        }
      }
      res.writeHead(status, answer?.headers).end(answer?.body ?? '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/api/v1/write`,
    requests,
    series,
    acceptedSamples: () => accepted,
    respond: (r) => void (responder = r),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
