// What every receiver that binds a port shares: the collector-style endpoint and the bind that logs it.

import http from 'node:http';
import type { Server } from 'node:net';
import { listen, parseHostPort, type HostPort, type Logger } from '@stave/server';

export type Endpoint = HostPort;

/**
 * Parses a collector-style endpoint, "host:port": "0.0.0.0:14268", "[::1]:0", ":9411" (all interfaces),
 * "localhost:0". Port 0 asks the OS for a free port. `what` names the setting in the error (callers and
 * tests match on it: keep each caller's wording).
 */
export function parseEndpoint(endpoint: string, what = 'endpoint'): Endpoint {
  const at = parseHostPort(endpoint);
  if (!at) throw new Error(`invalid ${what} ${JSON.stringify(endpoint)}: want "host:port" with a port 0-65535`);
  return at;
}

/**
 * How long an HTTP/1.1 receiver keeps an idle keep-alive connection open. Node's default (5 s) is far
 * shorter than a sender's: the Collector's exporters keep idle connections for 90 s, so under a steady
 * load a request often went out on a connection the receiver was closing, and failed with a reset.
 */
export const RECEIVER_IDLE_TIMEOUT_MS = 120_000;

/** Binds `server` to `at` (rejecting with the bind error) and logs the bound address under `receiver`. */
export async function listenReceiver(server: Server, at: Endpoint, logger: Logger, receiver: string): Promise<void> {
  if (server instanceof http.Server) server.keepAliveTimeout = RECEIVER_IDLE_TIMEOUT_MS;
  const a = await listen(server, at.port, at.host);
  logger.info('receiver listening', { receiver, address: `${a.address}:${a.port}`, port: a.port });
}
