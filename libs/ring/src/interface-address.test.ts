import { interfaceAddress } from './interface-address';

test.each([
  ['IPv4 first', ['eth0'], false, '10.0.0.5'],
  ['IPv6 only with enable_inet6', ['v6only'], true, '2001:db8::1'],
  ['no IPv6 without enable_inet6', ['v6only'], false, ''],
  ['the first listed interface that has an address', ['v6only', 'eth0'], false, '10.0.0.5'],
] as const)('interfaceAddress: %s', (_name, names, inet6, want) => {
  const info = (address: string, family: string) => ({ address, family });
  const interfaces = {
    eth0: [info('fe80::1', 'IPv6'), info('10.0.0.5', 'IPv4')],
    v6only: [info('fe80::2', 'IPv6'), info('2001:db8::1', 'IPv6')],
  };
  expect(interfaceAddress(names, inet6, interfaces)).toBe(want);
});
