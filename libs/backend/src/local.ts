// The local filesystem backend (`storage.trace.backend: local`, `storage.trace.local.path`). Writes go to
// a temporary file that is fsynced and renamed into place, so a reader (or a crash) never sees half an
// object.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Code, ConnectError } from '@stave/core';
import type { ListResult, ObjectInfo, ObjectStore } from './object-store';

const TMP_SUFFIX = '.stave-tmp';

/**
 * A large object is synced every this many bytes as it is written, not only once at the end. A block
 * (tens to hundreds of MiB) synced at the end holds the disk for as long as its write-back takes, and
 * every WAL fdatasync of the same disk waits behind it: measured on this machine, a WAL-shaped writer's
 * sync p99 was 84 ms beside 128 MiB files synced at the end, and 15 ms with a sync every MiB, the files
 * written as fast (bench/src/sync-beside-blocks.ts, bench/results/ingest.md).
 */
export const LOCAL_SYNC_EVERY_BYTES = 1 << 20;

/**
 * Writes `chunks` at the start of `fh`, a data sync every `everyBytes` (one in flight, overlapping the next
 * writes; Infinity: none), then syncs.
 */
export async function writeSyncedAsWritten(
  fh: FileHandle,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  everyBytes = LOCAL_SYNC_EVERY_BYTES,
): Promise<void> {
  let pos = 0;
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  try {
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.length;) {
        const n = Math.min(chunk.length - off, everyBytes - unsynced);
        let done = 0;
        while (done < n) done += (await fh.write(chunk, off + done, n - done, pos + done)).bytesWritten;
        off += n;
        pos += n;
        unsynced += n;
        if (unsynced >= everyBytes) {
          await syncing;
          syncing = fh.datasync();
          // Handled now (awaiting it later still throws): a failure must not surface as an unhandled rejection.
          syncing.catch(() => undefined);
          unsynced = 0;
        }
      }
    }
    await syncing;
  } finally {
    // A write that failed leaves the sync in flight: let it finish before the handle closes.
    await syncing?.catch(() => undefined);
  }
  await fh.sync();
}

function notFound(key: string): ConnectError {
  return new ConnectError(`object not found: ${key}`, Code.NotFound);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR';
}

export class LocalStore implements ObjectStore {
  constructor(readonly root: string) {}

  private file(key: string): string {
    const clean = path.posix.normalize(key);
    if (clean.startsWith('..') || path.posix.isAbsolute(clean)) throw new ConnectError(`invalid object key: ${key}`, Code.InvalidArgument);
    return path.join(this.root, ...clean.split('/'));
  }

  async read(key: string): Promise<Uint8Array> {
    try {
      return await readFile(this.file(key));
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw err;
    }
  }

  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    let fh;
    try {
      fh = await open(this.file(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (offset < 0 || length < 0 || offset + length > size) {
        throw new ConnectError(`range ${offset}+${length} is outside ${key} (${size} bytes)`, Code.OutOfRange);
      }
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    try {
      const s = await stat(this.file(key));
      if (!s.isFile()) throw notFound(key);
      return { size: s.size };
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw err;
    }
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const dest = this.file(key);
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
    try {
      const fh = await open(tmp, 'w');
      try {
        await writeSyncedAsWritten(fh, data instanceof Uint8Array ? [data] : data);
      } finally {
        await fh.close();
      }
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async list(prefix: string, opts: { delimiter?: string } = {}): Promise<ListResult> {
    const all: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (prefix.startsWith(key + '/') || (key + '/').startsWith(prefix) || key.startsWith(prefix)) await walk(path.join(dir, e.name), key);
        } else if (e.isFile() && !e.name.endsWith(TMP_SUFFIX) && key.startsWith(prefix)) {
          all.push(key);
        }
      }
    };
    await walk(this.root, '');
    all.sort();
    if (!opts.delimiter) return { objects: all, prefixes: [] };
    const objects: string[] = [];
    const prefixes = new Set<string>();
    for (const key of all) {
      const rest = key.slice(prefix.length);
      const i = rest.indexOf(opts.delimiter);
      if (i < 0) objects.push(key);
      else prefixes.add(prefix + rest.slice(0, i + opts.delimiter.length));
    }
    return { objects, prefixes: [...prefixes].sort() };
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
