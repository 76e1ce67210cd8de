/**
 * Byte-for-byte checks of what a node stored against the source, in 1 MiB blocks (never a whole
 * file in memory). A missing file or one of the wrong size is a mismatch, not an error.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

/** Compares `path` (whole) with `size` bytes of the open source `srcFd` from `offset`. */
export function sameBytes(srcFd: number, offset: number, size: number, path: string): boolean {
  if (!existsSync(path) || !statSync(path).isFile() || statSync(path).size !== size) return false;
  const fd = openSync(path, 'r');
  const a = Buffer.allocUnsafe(1 << 20);
  const b = Buffer.allocUnsafe(1 << 20);
  try {
    for (let at = 0; at < size; ) {
      const n = Math.min(a.length, size - at);
      if (readSync(srcFd, a, 0, n, offset + at) !== n || readSync(fd, b, 0, n, at) !== n) return false;
      if (!a.subarray(0, n).equals(b.subarray(0, n))) return false;
      at += n;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/** sameBytes with the source given by path. */
export function sameBytesAt(srcPath: string, offset: number, size: number, path: string): boolean {
  const fd = openSync(srcPath, 'r');
  try {
    return sameBytes(fd, offset, size, path);
  } finally {
    closeSync(fd);
  }
}

/** The whole file at `path` equals the whole source. */
export function sameFile(srcPath: string, path: string): boolean {
  return sameBytesAt(srcPath, 0, statSync(srcPath).size, path);
}
