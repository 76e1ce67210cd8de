import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket, burstFor } from '../../core/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full, takes what it has, refuses more', () => {
    const b = new TokenBucket(1000, 500, 0);
    expect(b.unlimited).toBe(false);
    expect(b.available(0)).toBe(500);
    expect(b.tryTake(0, 300)).toBe(true);
    expect(b.tryTake(0, 201)).toBe(false);
    expect(b.available(0)).toBe(200);
    expect(b.tryTake(0, 200)).toBe(true);
    expect(b.tryTake(0, 1)).toBe(false);
    expect(b.available(0)).toBe(0);
  });

  it('refills at rate per second, never above the burst', () => {
    const b = new TokenBucket(1000, 500, 10_000);
    b.tryTake(10_000, 500);
    expect(b.available(10_100)).toBe(100);
    expect(b.available(10_350)).toBe(350);
    expect(b.available(99_999)).toBe(500);
  });

  it('time going backwards neither refills nor throws', () => {
    const b = new TokenBucket(1000, 500, 1000);
    b.tryTake(1000, 400);
    expect(b.available(500)).toBe(100);
    expect(b.tryTake(900, 101)).toBe(false);
    expect(b.available(1100)).toBe(200);
  });

  it('msUntil: exact waits, 0 when available now', () => {
    const b = new TokenBucket(1000, 500, 0);
    expect(b.msUntil(0, 500)).toBe(0);
    b.tryTake(0, 500);
    expect(b.msUntil(0, 100)).toBe(100);
    expect(b.msUntil(40, 100)).toBe(60);
    expect(b.tryTake(99, 100)).toBe(false);
    expect(b.tryTake(100, 100)).toBe(true);
    expect(b.msUntil(100, 0)).toBe(0);
  });

  it('msUntil of more than the burst waits for a full bucket (which still cannot pay it)', () => {
    const b = new TokenBucket(1000, 500, 0);
    b.tryTake(0, 500);
    expect(b.msUntil(0, 10_000)).toBe(500);
    expect(b.tryTake(500, 10_000)).toBe(false);
    expect(b.msUntil(500, 10_000)).toBe(0);
  });

  it('charge goes into debt, and the debt delays tryTake', () => {
    const b = new TokenBucket(1000, 500, 0);
    b.charge(0, 800);
    expect(b.available(0)).toBe(-300);
    expect(b.tryTake(0, 1)).toBe(false);
    expect(b.msUntil(0, 100)).toBe(400);
    expect(b.tryTake(299, 1)).toBe(false);
    expect(b.tryTake(399, 100)).toBe(false);
    expect(b.tryTake(400, 100)).toBe(true);
    expect(b.available(400)).toBe(0);
  });

  it('starts with the given initial tokens (an empty bucket gives no free burst)', () => {
    const b = new TokenBucket(1000, 500, 0, 0);
    expect(b.available(0)).toBe(0);
    expect(b.msUntil(0, 250)).toBe(250);
    expect(new TokenBucket(1000, 500, 0, 9999).available(0)).toBe(500);
  });

  it('unlimited: everything at once, charges ignored', () => {
    const b = new TokenBucket(Infinity, 65_536, 0);
    expect(b.unlimited).toBe(true);
    expect(b.tryTake(0, 1e12)).toBe(true);
    b.charge(0, 1e12);
    expect(b.available(0)).toBe(Infinity);
    expect(b.msUntil(0, 1e12)).toBe(0);
  });

  it('refuses a rate or burst that is not above 0', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(new RangeError('rate must be > 0 bytes/s (got 0)'));
    expect(() => new TokenBucket(-5, 1, 0)).toThrow(new RangeError('rate must be > 0 bytes/s (got -5)'));
    expect(() => new TokenBucket(Number.NaN, 1, 0)).toThrow(new RangeError('rate must be > 0 bytes/s (got NaN)'));
    expect(() => new TokenBucket(1, 0, 0)).toThrow(new RangeError('burst must be > 0 bytes (got 0)'));
  });

  it('float rounding: tryTake at exactly now + msUntil succeeds', () => {
    // 15 tokens at 7 B/s: msUntil = 2142.857142857143 ms, after which 14.999999999999998 tokens exist.
    const b = new TokenBucket(7, 100, 0);
    b.tryTake(0, 100);
    const ms = b.msUntil(0, 15);
    expect(b.tryTake(ms, 15)).toBe(true);
  });
});

/** One operation on a bucket, at a time no earlier than the one before. */
interface Op {
  dtMs: number;
  kind: 'take' | 'charge';
  bytes: number;
}

const opsArb = (withCharges: boolean): fc.Arbitrary<Op[]> =>
  fc.array(
    fc.record({
      dtMs: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 50, noNaN: true }), fc.integer({ min: 0, max: 3000 })),
      kind: withCharges ? fc.constantFrom<'take' | 'charge'>('take', 'take', 'charge') : fc.constant<'take'>('take'),
      bytes: fc.integer({ min: 1, max: 20_000 }),
    }),
    { minLength: 1, maxLength: 120 },
  );

const bucketArb = fc.record({ rateBytesPerS: fc.integer({ min: 100, max: 10_000_000 }), burstBytes: fc.integer({ min: 1, max: 50_000 }) });

interface Step {
  atMs: number;
  consumed: number;
  tookData: boolean;
  debtAfter: number;
}

function run(rateBytesPerS: number, burstBytes: number, ops: Op[]): Step[] {
  const b = new TokenBucket(rateBytesPerS, burstBytes, 0);
  let t = 0;
  return ops.map((op) => {
    t += op.dtMs;
    let consumed = 0;
    let tookData = false;
    if (op.kind === 'take') {
      tookData = b.tryTake(t, op.bytes);
      if (tookData) consumed = op.bytes;
    } else {
      b.charge(t, op.bytes);
      consumed = op.bytes;
    }
    const available = b.available(t);
    expect(available).toBeLessThanOrEqual(burstBytes);
    return { atMs: t, consumed, tookData, debtAfter: Math.max(0, -available) };
  });
}

/** Bytes consumed by steps i..j inclusive, against the allowance rate*T + burst (+ extra). */
function eachWindow(steps: Step[], fn: (i: number, j: number, consumed: number, T: number) => void): void {
  for (let i = 0; i < steps.length; i++) {
    let consumed = 0;
    for (let j = i; j < steps.length; j++) {
      consumed += steps[j]!.consumed;
      fn(i, j, consumed, steps[j]!.atMs - steps[i]!.atMs);
    }
  }
}

const slack = (x: number): number => x * 1e-9 + 1e-6;

describe('TokenBucket properties', () => {
  it('takes only: over any window of T ms, at most rate*T + burst bytes', () => {
    fc.assert(
      fc.property(bucketArb, opsArb(false), ({ rateBytesPerS, burstBytes }, ops) => {
        const steps = run(rateBytesPerS, burstBytes, ops);
        eachWindow(steps, (_i, _j, consumed, T) => {
          const allowance = (rateBytesPerS * T) / 1000 + burstBytes;
          expect(consumed).toBeLessThanOrEqual(allowance + slack(allowance));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('takes and charges: any window ending in a successful take stays within rate*T + burst; any window within that plus the debt left', () => {
    fc.assert(
      fc.property(bucketArb, opsArb(true), ({ rateBytesPerS, burstBytes }, ops) => {
        const steps = run(rateBytesPerS, burstBytes, ops);
        eachWindow(steps, (_i, j, consumed, T) => {
          const allowance = (rateBytesPerS * T) / 1000 + burstBytes;
          const end = steps[j]!;
          if (end.tookData) expect(consumed).toBeLessThanOrEqual(allowance + slack(allowance));
          expect(consumed).toBeLessThanOrEqual(allowance + end.debtAfter + slack(allowance + end.debtAfter));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('msUntil: not available a little before, available 1 microsecond after', () => {
    fc.assert(
      fc.property(bucketArb, opsArb(true), fc.integer({ min: 1, max: 60_000 }), ({ rateBytesPerS, burstBytes }, ops, want) => {
        const bytes = Math.min(want, burstBytes);
        const make = (): { b: TokenBucket; t: number } => {
          const b = new TokenBucket(rateBytesPerS, burstBytes, 0);
          let t = 0;
          for (const op of ops) {
            t += op.dtMs;
            if (op.kind === 'take') b.tryTake(t, op.bytes);
            else b.charge(t, op.bytes);
          }
          return { b, t };
        };
        const { b, t } = make();
        const ms = b.msUntil(t, bytes);
        expect(ms).toBeGreaterThanOrEqual(0);
        if (ms === 0) {
          expect(b.tryTake(t, bytes)).toBe(true);
          return;
        }
        // Short by at least a thousandth of a byte (well above float noise), or at `t` itself.
        const earlyMs = Math.min(ms, Math.max(ms * 1e-6, 1 / rateBytesPerS));
        expect(make().b.tryTake(t + ms - earlyMs, bytes)).toBe(false);
        expect(b.tryTake(t + ms + 1e-3, bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('burstFor', () => {
  it.each([
    [1_250_000, 65_536, 71_786], // 10 Mbit/s: one chunk + 6250 B
    [12_500_000, 65_536, 128_036], // 100 Mbit/s
    [125, 1000, 1000], // 0.5 % of 125 B rounds down to 0
    [Infinity, 65_536, 65_536],
  ])('rate %d B/s, chunk %d B -> %d B', (rate, chunk, burst) => {
    expect(burstFor(rate, chunk)).toBe(burst);
  });
});
