/** SHA-256 of a byte range of an open file: how both ends re-hash a prefix they resume after. */
import { createHash, type Hash } from 'node:crypto';
import { read } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';

const readAsync = promisify(read);

/** Thrown when `cancelled()` turned true between two reads: the caller gave up on the hash. */
export class HashCancelled extends Error {
  override readonly name = 'HashCancelled';
}

/**
 * Feeds bytes [startBytes, startBytes + lengthBytes) of `file` (an fd, or a FileHandle the caller
 * keeps open until this settles) into a fresh SHA-256, 1 MiB at a time. `cancelled` is asked
 * before every read: once it says yes no further read is issued (so an abandoned hash never reads
 * an fd that its owner has closed and the kernel may have reused) and HashCancelled is thrown.
 */
export async function hashFileRange(
  file: number | FileHandle,
  startBytes: number,
  lengthBytes: number,
  cancelled: () => boolean = () => false,
): Promise<Hash> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, lengthBytes)));
  for (let done = 0; done < lengthBytes; ) {
    if (cancelled()) throw new HashCancelled('hash cancelled');
    const n = Math.min(buf.length, lengthBytes - done);
    const { bytesRead } = typeof file === 'number' ? await readAsync(file, buf, 0, n, startBytes + done) : await file.read(buf, 0, n, startBytes + done);
    if (bytesRead !== n) throw new Error(`short read at byte ${startBytes + done}: ${bytesRead} of ${n}`);
    hash.update(buf.subarray(0, n));
    done += n;
  }
  return hash;
}
