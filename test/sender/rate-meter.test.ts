import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket, burstFor } from '../../core/token-bucket.js';
import { WindowMeter } from '../../sender/rate-limiter.js';

function meter(adds: [atMs: number, bytes: number][], binMs?: number): WindowMeter {
  const m = new WindowMeter(binMs);
  for (const [at, bytes] of adds) m.add(at, bytes);
  return m;
}

describe('WindowMeter.maxWindowBytes', () => {
  it('nothing recorded: 0', () => {
    expect(new WindowMeter().maxWindowBytes()).toBe(0);
  });

  it('one write: its bytes, for any window', () => {
    const m = meter([[123, 4567]]);
    expect(m.maxWindowBytes()).toBe(4567);
    expect(m.maxWindowBytes(10)).toBe(4567);
  });

  it('writes in one bin add up', () => {
    expect(meter([[1, 10], [9, 20], [10, 40]]).maxWindowBytes(10)).toBe(40);
    expect(meter([[1, 10], [9, 20], [10, 40]]).maxWindowBytes(20)).toBe(70);
  });

  it('a burst straddling two 1 s windows is counted whole', () => {
    // 100 B at 0 ms, 600 B at 995 ms, 600 B at 1005 ms, 100 B at 2000 ms.
    // Aligned seconds would say 700 and 700; the sliding window [990, 1990) holds 1200.
    const m = meter([[0, 100], [995, 600], [1005, 600], [2000, 100]]);
    expect(m.maxWindowBytes(1000)).toBe(1200);
    expect(m.maxWindowBytes(10)).toBe(600);
    expect(m.maxWindowBytes(5000)).toBe(1400);
  });

  it('bins exactly one window apart are not in the same window; one bin closer, they are', () => {
    expect(meter([[0, 500], [1000, 500]]).maxWindowBytes(1000)).toBe(500);
    expect(meter([[0, 500], [999, 500]]).maxWindowBytes(1000)).toBe(1000);
    expect(meter([[0, 500], [990, 500]]).maxWindowBytes(1000)).toBe(1000);
  });

  it('windows are aligned to bins: writes 991 ms apart in bins 100 apart count separately', () => {
    // 9 ms is bin 0, 1000 ms is bin 100. A true sliding 1 s window would hold 1000 B; the meter
    // can under-count by up to one bin at each end.
    expect(meter([[9, 500], [1000, 500]]).maxWindowBytes(1000)).toBe(500);
  });

  it('a quiet gap resets the sum; the busiest second wins', () => {
    const adds: [number, number][] = [];
    for (let t = 0; t < 1000; t += 10) adds.push([t, 10]); // 1000 B in the first second
    for (let t = 5000; t < 6000; t += 10) adds.push([t, 30]); // 3000 B in the sixth
    const m = meter(adds);
    expect(m.maxWindowBytes(1000)).toBe(3000);
    expect(m.maxWindowBytes(500)).toBe(1500);
  });

  it('other bin sizes', () => {
    const m = meter([[0, 1], [150, 2], [1050, 4]], 100);
    expect(m.binMs).toBe(100);
    expect(m.maxWindowBytes(1000)).toBe(6); // bins 1 and 10, 9 apart
    expect(m.maxWindowBytes(100)).toBe(4);
    expect(m.maxWindowBytes(0)).toBe(4); // at least one bin
  });

  it('property: equals a brute-force maximum over every bin-aligned window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 20_000, noNaN: true }), fc.integer({ min: 1, max: 1_000_000 })), { maxLength: 80 }),
        fc.constantFrom(10, 50, 100, 1000, 2500),
        fc.constantFrom(1, 10, 25),
        (adds, windowMs, binMs) => {
          const bins = new Map<number, number>();
          for (const [at, bytes] of adds) {
            const b = Math.floor(at / binMs);
            bins.set(b, (bins.get(b) ?? 0) + bytes);
          }
          const span = Math.max(1, Math.round(windowMs / binMs));
          let best = 0;
          for (const start of bins.keys()) {
            let sum = 0;
            for (const [b, bytes] of bins) if (b >= start && b < start + span) sum += bytes;
            best = Math.max(best, sum);
          }
          expect(meter(adds, binMs).maxWindowBytes(windowMs)).toBe(best);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('TokenBucket measured by WindowMeter (the sender loop, in virtual time)', () => {
  it.each([
    [1_250_000, 65_536], // 10 Mbit/s, 64 KiB chunks
    [125_000_000, 65_536], // 1 Gbit/s
    [12_500, 1_000], // 100 kbit/s, small chunks
  ])('rate %d B/s, chunk %d B: the busiest second is within rate + burst, and the rate is reached', (rate, chunk) => {
    const burst = burstFor(rate, chunk);
    const bucket = new TokenBucket(rate, burst, 0);
    const m = new WindowMeter();
    let sent = 0;
    // A greedy writer woken every 0.7 ms (a deliberately odd step) for 5 s.
    for (let t = 0; t < 5000; t += 0.7) {
      while (bucket.tryTake(t, chunk)) {
        m.add(t, chunk);
        sent += chunk;
      }
    }
    expect(m.maxWindowBytes(1000)).toBeLessThanOrEqual(rate + burst);
    expect(m.maxWindowBytes(1000)).toBeGreaterThanOrEqual(rate - chunk);
    expect(sent).toBeGreaterThanOrEqual(5 * rate - chunk);
    expect(sent).toBeLessThanOrEqual(5 * rate + burst);
  });
});
