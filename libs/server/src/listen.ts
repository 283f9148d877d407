// Binding a server: resolves with the bound address (the real port when asked for port 0), rejects with
// the bind error (EADDRINUSE names the address) instead of emitting it. An HTTP/1 server's requests are
// tracked from here on, so that closing it can answer the last ones with `connection: close`.

import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { trackHttpRequests } from './graceful-close';

export function listen(server: Server, port: number, address: string): Promise<AddressInfo> {
  if (server instanceof http.Server) trackHttpRequests(server);
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address || undefined, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
