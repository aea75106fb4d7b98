/**
 * Run archive (seed 003 `phase5-archive.sh`): a gzip'd POSIX ustar file of a run's artifacts and
 * a manifest with each file's SHA-256. Written here rather than by `tar` so the archive is
 * byte-identical for the same files and time (fixed mtime, uid/gid 0, gzip without a
 * timestamp): a retried finalisation reproduces the same archive and the same digest.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface ArchiveEntry {
  name: string;
  content: Buffer;
}

export interface ManifestEntry {
  name: string;
  bytes: number;
  sha256: string;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function manifestOf(entries: readonly ArchiveEntry[]): ManifestEntry[] {
  return entries.map((e) => ({ name: e.name, bytes: e.content.length, sha256: sha256Hex(e.content) }));
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  // width includes the trailing NUL
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, prefix: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  if (Buffer.byteLength(name) > 100) throw new RangeError(`archive entry name longer than 100 bytes: ${name}`);
  if (Buffer.byteLength(prefix) > 155) throw new RangeError(`archive prefix longer than 155 bytes: ${prefix}`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(Math.max(0, Math.floor(mtime)), 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/**
 * A .tar.gz of `entries` under the directory `dir` (the ustar prefix), every file stamped with
 * `mtimeSeconds`. Entry names must be plain file names.
 */
export function tarGz(dir: string, entries: readonly ArchiveEntry[], mtimeSeconds: number): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.name.includes('/') || e.name === '.' || e.name === '..')
      throw new RangeError(`archive entries must be plain file names: ${e.name}`);
    parts.push(header(e.name, dir, e.content.length, mtimeSeconds), e.content);
    const pad = (BLOCK - (e.content.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}
