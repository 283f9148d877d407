// Addresses as memberlist writes them: "host:port", IPv6 hosts in brackets; and the address a member
// advertises when bound to every interface.

import os from 'node:os';

export function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Splits "host:port" / "[v6]:port"; `defaultPort` when the port is missing. Throws naming the input. */
export function splitHostPort(s: string, defaultPort?: number): { host: string; port: number } {
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new Error(`bad address "${s}": missing ]`);
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new Error(`bad address "${s}"`);
    portStr = rest === '' ? undefined : rest.slice(1);
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0 && s.indexOf(':') !== i) {
      host = s; // a bare IPv6 address
    } else if (i >= 0) {
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (host === '') throw new Error(`bad address "${s}": no host`);
  let port: number;
  if (portStr === undefined) {
    if (defaultPort === undefined) throw new Error(`bad address "${s}": no port`);
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portStr) || Number(portStr) > 65535 || Number(portStr) === 0) throw new Error(`bad address "${s}": port "${portStr}"`);
    port = Number(portStr);
  }
  return { host, port };
}

/** The first non-internal IPv4 address of this host (what memberlist advertises when bound to 0.0.0.0). */
export function firstPrivateAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
