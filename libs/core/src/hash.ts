// FNV-1a over bytes: the one byte hash the hot paths share (block strings and ID tables, the generator's
// service-graph edges). Not for anything that must stay stable on disk or across versions.

/** The FNV-1a 32-bit offset basis: the `h` to start from. */
export const FNV1A_BASIS = 0x811c9dc5;

/** FNV-1a over `buf[a, b)`, 32 bits, continuing from `h`. */
export function hashBytes(buf: Uint8Array, a: number, b: number, h = FNV1A_BASIS): number {
  for (let i = a; i < b; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}
