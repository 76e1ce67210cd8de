/**
 * The receiver's disk budget: what it may still write, shared by every port of one process.
 *
 * - `maxTotalBytes`: the fragment files (`.part` and `.frag`) in the output folder may not exceed
 *   this, counting what is on disk and what the transfers in progress may still write (each is
 *   reserved in full at admission: length minus what is already stored).
 * - `minFreeBytes`: after every admitted transfer has written all it may, at least this much stays
 *   free on the file system (statfs at each admission, minus the outstanding reservations).
 * - `maxTransfers`: transfers in progress at once (admitted, not yet closed).
 * - `partExpiryMs`: a `.part` file nobody has touched for this long is deleted (a sender that
 *   never came back); one in use by a transfer is never touched.
 *
 * The file names are the receiver's own (`.<32 hex>.<index>.part`, `<32 hex>.<index>.frag`);
 * nothing else in the folder is counted or deleted.
 */
import { lstat, readdir, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const PART_NAME = /^\.[0-9a-f]{32}\.\d+\.part$/;
export const FRAG_NAME = /^[0-9a-f]{32}\.\d+\.frag$/;

export interface StoreLimits {
  maxTotalBytes: number;
  minFreeBytes: number;
  maxTransfers: number;
  partExpiryMs: number;
}

/** Default limits (README "Authentication and quotas"). */
export const DEFAULT_STORE_LIMITS: StoreLimits = {
  maxTotalBytes: Infinity,
  minFreeBytes: 64 * 2 ** 20,
  maxTransfers: 256,
  partExpiryMs: 24 * 3600 * 1000,
};

export class FragmentStore {
  /** Bytes of fragment files on disk (as far as this process knows). */
  usedBytes = 0;
  /** Bytes admitted transfers may still write. */
  reservedBytes = 0;
  activeTransfers = 0;

  constructor(
    readonly outDir: string,
    readonly limits: StoreLimits,
    /** Free bytes of the file system holding outDir (injectable for tests). */
    private readonly freeBytes: (dir: string) => Promise<number> = async (dir) => {
      const s = await statfs(dir);
      return s.bavail * s.bsize;
    },
  ) {}

  /** Counts the fragment files already in the folder. */
  async scan(): Promise<void> {
    let total = 0;
    for (const name of await readdir(this.outDir)) {
      if (!PART_NAME.test(name) && !FRAG_NAME.test(name)) continue;
      const s = await lstat(join(this.outDir, name)).catch(() => null);
      if (s?.isFile()) total += s.size;
    }
    this.usedBytes = total;
  }

  /**
   * Admits a transfer that may write `needBytes` more, or says why not. On admission the bytes
   * are reserved and the transfer counted: call `settle` exactly once when it ends.
   */
  async admit(needBytes: number): Promise<string | null> {
    if (this.activeTransfers >= this.limits.maxTransfers) return `${this.activeTransfers} transfers in progress, the limit is ${this.limits.maxTransfers}`;
    if (this.usedBytes + this.reservedBytes + needBytes > this.limits.maxTotalBytes) {
      return `disk quota: ${this.usedBytes} bytes stored and ${this.reservedBytes} reserved, ${needBytes} more would exceed ${this.limits.maxTotalBytes}`;
    }
    // Count the transfer before the await, so concurrent admissions see each other.
    this.activeTransfers++;
    this.reservedBytes += needBytes;
    let free: number;
    try {
      free = await this.freeBytes(this.outDir);
    } catch {
      free = Infinity; // statfs unsupported: the quota alone applies
    }
    // Others' reservations are not on disk yet: they will take from what statfs shows free.
    if (free - this.reservedBytes < this.limits.minFreeBytes) {
      this.activeTransfers--;
      this.reservedBytes -= needBytes;
      return `disk space: ${free} bytes free, ${needBytes} more would leave less than the reserve of ${this.limits.minFreeBytes}`;
    }
    return null;
  }

  /** A transfer admitted with `reservedBytes` ended having written `writtenBytes` of them. */
  settle(reservedBytes: number, writtenBytes: number): void {
    this.activeTransfers--;
    this.reservedBytes -= reservedBytes;
    this.usedBytes += writtenBytes;
  }

  /** A fragment file of `bytes` was deleted. */
  forget(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  /** Deletes `.part` files untouched for partExpiryMs, except those named in `inUse`. Returns the names deleted. */
  async expireParts(inUse: ReadonlySet<string>, nowMs: number = Date.now()): Promise<string[]> {
    const gone: string[] = [];
    for (const name of await readdir(this.outDir).catch(() => [] as string[])) {
      if (!PART_NAME.test(name) || inUse.has(name)) continue;
      const path = join(this.outDir, name);
      const s = await lstat(path).catch(() => null);
      if (!s?.isFile() || nowMs - s.mtimeMs < this.limits.partExpiryMs) continue;
      if (inUse.has(name)) continue; // taken while we looked
      try {
        await unlink(path);
        this.forget(s.size);
        gone.push(name);
      } catch {
        // gone already
      }
    }
    return gone;
  }
}
