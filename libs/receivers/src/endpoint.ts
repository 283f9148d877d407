// What every receiver that binds a port shares: the collector-style endpoint and the bind that logs it.

import type { Server } from 'node:net';
import { listen, type Logger } from '@stave/server';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses a collector-style endpoint, "host:port": "0.0.0.0:14268", "[::1]:0", ":9411" (all interfaces),
 * "localhost:0". Port 0 asks the OS for a free port. `what` names the setting in the error (callers and
 * tests match on it: keep each caller's wording).
 */
export function parseEndpoint(endpoint: string, what = 'endpoint'): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(endpoint.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid ${what} ${JSON.stringify(endpoint)}: want "host:port" with a port 0-65535`);
  return { host: m[1] ?? m[2] ?? '', port };
}

/** Binds `server` to `at` (rejecting with the bind error) and logs the bound address under `receiver`. */
export async function listenReceiver(server: Server, at: Endpoint, logger: Logger, receiver: string): Promise<void> {
  const a = await listen(server, at.port, at.host);
  logger.info('receiver listening', { receiver, address: `${a.address}:${a.port}`, port: a.port });
}
