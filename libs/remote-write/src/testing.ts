// @stave/remote-write/testing: a remote write receiver on loopback for tests where a real Prometheus is
// more than the test needs (status codes on demand, headers, exact request bodies). It decodes each
// request with the generated prometheus.WriteRequest schema, and keeps the series it accepted. With
// `ordering`, it refuses what Prometheus' TSDB refuses: a request holding a sample older than the newest
// one of its series (or at the same time with another value) is answered 400 and none of it is kept.

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
  /** Takes a sample as if an earlier request had brought it (ordering state included). */
  commit(key: string, value: number, timestampMs: number): void;
  respond(responder: Responder | undefined): void;
  close(): Promise<void>;
}

export function seriesKey(labels: ReadonlyArray<{ name: string; value: string }>): string {
  return labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',');
}

export interface TestReceiverOptions {
  /** Listen on this port (to come back on the same address); a free one when absent. */
  readonly port?: number;
  /** Refuse out-of-order samples as Prometheus does (whole request, 400). */
  readonly ordering?: boolean;
}

/** Starts a receiver on 127.0.0.1. */
export async function startTestReceiver(opts: TestReceiverOptions = {}): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const series = new Map<string, Array<{ value: number; timestampMs: number }>>();
  let responder: Responder | undefined;
  let accepted = 0;
  const take = (key: string, value: number, timestampMs: number): void => {
    const list = series.get(key) ?? [];
    const last = list[list.length - 1];
    // An exact duplicate of the newest sample is accepted and not stored twice (as in Prometheus).
    if (last && last.timestampMs === timestampMs && Object.is(last.value, value)) return;
    list.push({ value, timestampMs });
    accepted++;
    series.set(key, list);
  };
  /** Why Prometheus would refuse this request, if it would. */
  const outOfOrder = (body: PromWriteRequest): string | undefined => {
    const newest = new Map<string, { value: number; timestampMs: number }>();
    for (const ts of body.timeseries) {
      const key = seriesKey(ts.labels);
      for (const s of ts.samples) {
        const t = Number(s.timestamp);
        const list = series.get(key);
        const last = newest.get(key) ?? list?.[list.length - 1];
        if (last && (t < last.timestampMs || (t === last.timestampMs && !Object.is(s.value, last.value)))) return `out of order sample for ${key} at ${t}`;
        newest.set(key, { value: s.value, timestampMs: t });
      }
    }
    return undefined;
  };
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
      const refusal = opts.ordering ? outOfOrder(body) : undefined;
      const answer = refusal ? { status: 400, body: refusal } : responder?.({ headers: req.headers, body, index: requests.length });
      const status = answer?.status ?? 204;
      requests.push({ headers: req.headers, body, status });
      if (status >= 200 && status < 300) {
        for (const ts of body.timeseries) {
          const key = seriesKey(ts.labels);
          for (const s of ts.samples) take(key, s.value, Number(s.timestamp));
        }
      }
      res.writeHead(status, answer?.headers).end(answer?.body ?? '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/api/v1/write`,
    requests,
    series,
    acceptedSamples: () => accepted,
    commit: take,
    respond: (r) => void (responder = r),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
