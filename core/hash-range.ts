/** SHA-256 of a byte range of an open file: how both ends re-hash a prefix they resume after. */
import { createHash, type Hash } from 'node:crypto';
import { read } from 'node:fs';
import { promisify } from 'node:util';

const readAsync = promisify(read);

/** Feeds bytes [startBytes, startBytes + lengthBytes) of `fd` into a fresh SHA-256, 1 MiB at a time. */
export async function hashFileRange(fd: number, startBytes: number, lengthBytes: number): Promise<Hash> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, lengthBytes)));
  for (let done = 0; done < lengthBytes; ) {
    const n = Math.min(buf.length, lengthBytes - done);
    const { bytesRead } = await readAsync(fd, buf, 0, n, startBytes + done);
    if (bytesRead !== n) throw new Error(`short read at byte ${startBytes + done}: ${bytesRead} of ${n}`);
    hash.update(buf.subarray(0, n));
    done += n;
  }
  return hash;
}
