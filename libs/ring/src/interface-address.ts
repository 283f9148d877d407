// The address an instance advertises in its ring when none is configured, picked from network interfaces
// by name as dskit does (ingester.lifecycler.interface_names, <ring>.instance_interface_names).

import os from 'node:os';

/**
 * The address an instance advertises when none is configured, the way dskit picks it: the first address
 * of the first listed interface that has one, IPv4 before IPv6 (IPv6 only with enable_inet6, never
 * link-local). '' when no listed interface has one: the lifecycler then takes the host's first private
 * IPv4 (where Tempo would refuse to start).
 */
export function interfaceAddress(
  names: readonly string[],
  inet6: boolean,
  interfaces: NodeJS.Dict<ReadonlyArray<{ address: string; family: string }>> = os.networkInterfaces(),
): string {
  for (const name of names) {
    const addrs = interfaces[name] ?? [];
    const v4 = addrs.find((a) => a.family === 'IPv4');
    if (v4) return v4.address;
    const v6 = inet6 ? addrs.find((a) => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80:')) : undefined;
    if (v6) return v6.address;
  }
  return '';
}
