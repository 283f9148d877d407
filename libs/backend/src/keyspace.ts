// The configured `prefix` of a bucket or container (Tempo's `storage.trace.<backend>.prefix`): every key
// Stave uses is stored under it, and listings hand keys back without it, so the rest of Stave never
// sees it. Normalised as Tempo does: surrounding slashes are dropped and one `/` joins prefix and key.

import { Code, ConnectError } from '@stave/core';

export class Keyspace {
  readonly root: string;

  constructor(prefix: string) {
    const p = prefix.replace(/^\/+|\/+$/g, '');
    this.root = p === '' ? '' : `${p}/`;
  }

  /** The stored name of a key. Empty keys and keys with `.`/`..` segments are refused. */
  full(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '.' || s === '..')) {
      throw new ConnectError(`invalid object key: ${JSON.stringify(key)}`, Code.InvalidArgument);
    }
    return this.root + key;
  }

  /** A listing prefix (may be empty, may end anywhere, not only at a `/`). */
  fullPrefix(prefix: string): string {
    return this.root + prefix;
  }

  strip(stored: string): string {
    return stored.startsWith(this.root) ? stored.slice(this.root.length) : stored;
  }
}
