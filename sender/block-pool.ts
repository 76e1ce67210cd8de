/**
 * Read-ahead blocks, reused. A block is read from disk, sliced into DATA writes, and may go back
 * to the pool only when it is fully sliced AND every socket write holding a slice of it has
 * completed (the write callback): until then the socket may still be reading from its memory.
 * Reuse saves the page faults of fresh 256 KiB allocations (23 ms of main thread per 64 MiB).
 */
export class BlockPool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly blockBytes: number,
    /** Blocks kept for reuse at most (beyond that, released ones go to the GC). */
    readonly maxFree = 256,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.blockBytes);
  }

  give(b: Buffer): void {
    if (b.length === this.blockBytes && this.free.length < this.maxFree) this.free.push(b);
  }
}

/** One block in use: how much of it is sliced off, and how many writes still hold a slice. */
export class Block {
  private pendingWrites = 0;
  private sliced = false;
  constructor(
    readonly buf: Buffer,
    private readonly pool: BlockPool,
  ) {}

  /** A write holding a slice started; call the returned function when it completes. */
  hold(): () => void {
    this.pendingWrites++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.pendingWrites--;
      this.maybeRelease();
    };
  }

  /** Nothing more will be sliced from this block. */
  finish(): void {
    this.sliced = true;
    this.maybeRelease();
  }

  private maybeRelease(): void {
    if (this.sliced && this.pendingWrites === 0) this.pool.give(this.buf);
  }
}
