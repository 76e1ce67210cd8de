/**
 * `--read-rate-kbps`: a receiver that reads no faster than N, so a slow node can be emulated
 * without root. One throttle per listening port (one emulated node), shared by that port's
 * connections.
 *
 * Bytes arriving from a socket reserve tokens; the session holds them (and pauses the socket)
 * until the reservation comes due, and only then stores them and reports progress. So the sender
 * sees the node's rate from the very first chunk, and TCP's own flow control slows it down while
 * the socket is paused. The bucket starts empty: no free burst at the start.
 */
import { performance } from 'node:perf_hooks';
import { TokenBucket } from '../core/token-bucket.js';

export class ReadThrottle {
  private readonly bucket: TokenBucket;

  constructor(readonly rateKbps: number) {
    const rateBytesPerS = (rateKbps * 1000) / 8;
    // A burst of one packet: an idle node does not save up reading time for later.
    this.bucket = new TokenBucket(rateBytesPerS, 1500, performance.now(), 0);
  }

  /** Reserves `bytes`; returns ms until they may be processed (0 = now). */
  reserve(bytes: number): number {
    const now = performance.now();
    this.bucket.charge(now, bytes);
    const tokens = this.bucket.available(now);
    return tokens >= 0 ? 0 : (-tokens * 1000) / this.bucket.rateBytesPerS;
  }
}
