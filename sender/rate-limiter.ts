/** Measuring what the sender wrote against its limit. The limiter itself is core/token-bucket.ts. */
/**
 * Records bytes written over time in 10 ms bins and answers the largest total in any window of
 * `windowMs` (default 1 s): how the rate-limit promise is checked, by the sender itself and by tests.
 */
export class WindowMeter {
  private readonly bins = new Map<number, number>();
  constructor(readonly binMs = 10) {}

  add(nowMs: number, bytes: number): void {
    const b = Math.floor(nowMs / this.binMs);
    this.bins.set(b, (this.bins.get(b) ?? 0) + bytes);
  }

  /** Largest byte count in any window of `windowMs` (aligned to bins; the window spans windowMs/binMs bins). */
  maxWindowBytes(windowMs = 1000): number {
    const span = Math.max(1, Math.round(windowMs / this.binMs));
    const keys = [...this.bins.keys()].sort((a, b) => a - b);
    if (keys.length === 0) return 0;
    let best = 0;
    let sum = 0;
    let lo = 0;
    for (let hi = 0; hi < keys.length; hi++) {
      sum += this.bins.get(keys[hi]!)!;
      while (keys[hi]! - keys[lo]! >= span) {
        sum -= this.bins.get(keys[lo]!)!;
        lo++;
      }
      if (sum > best) best = sum;
    }
    return best;
  }
}
