// What both OTLP receivers share: endpoint parsing and bounded decompression.

import zlib from 'node:zlib';
import { parseEndpoint, type Endpoint } from '../endpoint';

export type OtlpEndpoint = Endpoint;

/** parseEndpoint, with errors that name the OTLP receiver ("invalid OTLP receiver endpoint ..."). */
export function parseOtlpEndpoint(endpoint: string): OtlpEndpoint {
  return parseEndpoint(endpoint, 'OTLP receiver endpoint');
}

/** The body (compressed or not) is larger than its cap. */
export class BodyTooLargeError extends Error {
  constructor(
    readonly limit: number,
    readonly decompressed: boolean,
    /** For decompression: how many compressed bytes had been consumed when inflating stopped. */
    readonly consumedBytes = 0,
  ) {
    super(`request body too large: more than the ${limit} byte limit${decompressed ? ' once decompressed' : ''}`);
  }
}

/** The body could not be decompressed. */
export class BadEncodingError extends Error {}

export type ContentCoding = 'gzip' | 'deflate';

/**
 * Inflates `body` and refuses output past `limit` bytes. Inflating is streamed and stops at the limit, so a
 * gzip bomb costs at most `limit` plus one chunk of memory, not its full inflated size.
 */
export function inflateBounded(body: Uint8Array, coding: ContentCoding, limit: number): Promise<Buffer> {
  const z = coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        const consumed = z.bytesWritten;
        z.destroy();
        reject(new BodyTooLargeError(limit, true, consumed));
        return;
      }
      chunks.push(chunk);
    });
    z.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    z.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new BadEncodingError(`invalid ${coding} body: ${err.message}`));
    });
    z.end(body);
  });
}
