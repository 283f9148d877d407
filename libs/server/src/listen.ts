// Binding a server: resolves with the bound address (the real port when asked for port 0), rejects with
// the bind error (EADDRINUSE names the address) instead of emitting it.

import type { AddressInfo, Server } from 'node:net';

export function listen(server: Server, port: number, address: string): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address || undefined, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
