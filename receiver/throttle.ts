/**
 * `--read-rate-kbps`: a receiver that reads no faster than N, so a slow node can be emulated
 * without root. One throttle per listening port (one emulated node), shared by that port's
 * connections. Bytes are counted as they arrive from the socket; when the bucket runs dry every
 * socket of the node is paused until it refills, and TCP's own flow control slows the sender.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TokenBucket } from '../core/token-bucket.js';

export class ReadThrottle {
  private readonly bucket: TokenBucket;
  private readonly paused = new Set<Socket>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly rateKbps: number) {
    const rateBytesPerS = (rateKbps * 1000) / 8;
    // A burst of 64 KiB or 20 ms of traffic keeps pauses few without letting a burst dominate.
    this.bucket = new TokenBucket(rateBytesPerS, Math.max(64 * 1024, rateBytesPerS * 0.02), performance.now());
  }

  /** Accounts `bytes` just read from `socket`; pauses the node's sockets when over the rate. */
  consume(bytes: number, socket: Socket): void {
    const now = performance.now();
    this.bucket.charge(now, bytes);
    if (this.bucket.available(now) >= 0) return;
    socket.pause();
    this.paused.add(socket);
    if (this.timer) return;
    const waitMs = Math.max(1, this.bucket.msUntil(now, 0));
    this.timer = setTimeout(() => this.wake(), waitMs);
  }

  /** Whether the throttle holds `socket` paused (others must not resume it). */
  holds(socket: Socket): boolean {
    return this.paused.has(socket);
  }

  private wake(): void {
    this.timer = null;
    const now = performance.now();
    const lack = -this.bucket.available(now);
    if (lack > 0) {
      this.timer = setTimeout(() => this.wake(), Math.max(1, (lack * 1000) / this.bucket.rateBytesPerS));
      return;
    }
    for (const s of this.paused) if (!s.destroyed) s.resume();
    this.paused.clear();
  }
}
