/**
 * A token bucket, pure (time comes in as `nowMs`). The sender's aggregate rate limit counts every
 * byte written on every connection, frame headers included; the receiver's `--read-rate-kbps` uses
 * one per emulated node.
 *
 * Guarantee: over any window of T seconds the bytes consumed are at most rate*T + burst. The
 * driver sizes the burst as one chunk plus 0.5 % of a second's worth, which keeps every 1 s window
 * within 1 % of the limit plus one chunk (the promise in the README), and leaves room for timer
 * lateness so the limiter does not lose tokens while the event loop is late.
 *
 * Control frames (HELLO, END) are small and must not wait behind data: `charge` takes them even
 * into debt; the debt delays the next data write, so the long-run rate still holds.
 */
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(
    /** Bytes per second; Infinity = unlimited. */
    readonly rateBytesPerS: number,
    readonly burstBytes: number,
    nowMs: number,
    /** Tokens at the start (default: a full burst). */
    initialTokens = burstBytes,
  ) {
    if (!(rateBytesPerS > 0)) throw new RangeError(`rate must be > 0 bytes/s (got ${rateBytesPerS})`);
    if (!(burstBytes > 0)) throw new RangeError(`burst must be > 0 bytes (got ${burstBytes})`);
    this.tokens = Math.min(initialTokens, burstBytes);
    this.atMs = nowMs;
  }

  get unlimited(): boolean {
    return !Number.isFinite(this.rateBytesPerS);
  }

  private refill(nowMs: number): void {
    if (nowMs > this.atMs) {
      this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.atMs) * this.rateBytesPerS) / 1000);
      this.atMs = nowMs;
    }
  }

  /** Tokens available now (may be negative after `charge`). */
  available(nowMs: number): number {
    if (this.unlimited) return Infinity;
    this.refill(nowMs);
    return this.tokens;
  }

  /** Takes `bytes` if that many are available; returns whether it did. */
  tryTake(nowMs: number, bytes: number): boolean {
    if (this.unlimited) return true;
    this.refill(nowMs);
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }

  /** Takes `bytes` unconditionally (control frames), possibly into debt. */
  charge(nowMs: number, bytes: number): void {
    if (this.unlimited) return;
    this.refill(nowMs);
    this.tokens -= bytes;
  }

  /** Ms from `nowMs` until `bytes` tokens are available (0 if they are now). */
  msUntil(nowMs: number, bytes: number): number {
    if (this.unlimited) return 0;
    this.refill(nowMs);
    const need = Math.min(bytes, this.burstBytes);
    const lack = need - this.tokens;
    if (lack <= 0) return 0;
    // Float rounding can leave tokens a hair short at exactly now + ms: nudge up until they suffice,
    // so a caller that waits msUntil and then calls tryTake is never refused.
    let ms = (lack * 1000) / this.rateBytesPerS;
    while (this.tokens + (ms * this.rateBytesPerS) / 1000 < need) ms = ms + Math.max(ms * Number.EPSILON * 4, Number.MIN_VALUE);
    return ms;
  }
}

/** Burst for a rate: one chunk plus 0.5 % of a second's worth (see the banner). */
export function burstFor(rateBytesPerS: number, chunkBytes: number): number {
  if (!Number.isFinite(rateBytesPerS)) return chunkBytes;
  return chunkBytes + Math.floor(rateBytesPerS * 0.005);
}
