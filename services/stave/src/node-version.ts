// The oldest Node.js Stave runs on. zlib.crc32 (the WAL's record checksums) arrived in Node 20.15: on an
// older Node the first WAL write would fail mid-run, so the CLI refuses to start instead.

export const MIN_NODE_VERSION = '20.15.0';

function parse(v: string): number[] {
  return v
    .replace(/^v/, '')
    .split(/[.-]/)
    .slice(0, 3)
    .map((p) => Number.parseInt(p, 10) || 0);
}

/** Why this Node cannot run Stave (a message for the user), or undefined when it can. */
export function unsupportedNode(version: string = process.versions.node): string | undefined {
  const have = parse(version);
  const need = parse(MIN_NODE_VERSION);
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return undefined;
    if (have[i]! < need[i]!) {
      return `stave needs Node.js ${MIN_NODE_VERSION} or newer (zlib.crc32, used for WAL checksums, arrived in 20.15); this is Node.js ${version}`;
    }
  }
  return undefined;
}
