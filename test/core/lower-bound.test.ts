import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fluidLowerBound, type LowerBoundInput } from '../../core/lower-bound.js';

const bound = (fragmentBytes: number[], capacityBytesPerS: number[], rateBytesPerS: number, width: number) =>
  fluidLowerBound({ fragmentBytes, capacityBytesPerS, rateBytesPerS, width });

describe('fluidLowerBound: each term binding, by hand', () => {
  it('the sender rate binds: 2 x 1000 B at 500 B/s = 4 s', () => {
    // rate 2000/500 = 4; slowest 1000/1000 = 1; width (1 + 1)/2 = 1
    expect(bound([1000, 1000], [1000, 1000], 500, 2)).toEqual({
      seconds: 4,
      binding: 'rate',
      terms: { rateS: 4, slowestNodeS: 1, widthS: 1 },
    });
  });

  it('the slowest node binds: 1000 B at 100 B/s = 10 s', () => {
    // rate 1100/1e6 = 0.0011; slowest max(10, 0.1) = 10; width (10 + 0.1)/2 = 5.05
    const b = bound([1000, 100], [100, 1000], 1e6, 2);
    expect(b.seconds).toBe(10);
    expect(b.binding).toBe('slowest-node');
    expect(b.terms.rateS).toBeCloseTo(0.0011, 12);
    expect(b.terms.widthS).toBeCloseTo(5.05, 12);
  });

  it('the width binds: 4 nodes of 1 s each through 1 slot = 4 s; through 2 slots = 2 s', () => {
    expect(bound([100, 100, 100, 100], [100, 100, 100, 100], 1e9, 1)).toEqual({
      seconds: 4,
      binding: 'width',
      terms: { rateS: 400 / 1e9, slowestNodeS: 1, widthS: 4 },
    });
    expect(bound([100, 100, 100, 100], [100, 100, 100, 100], 1e9, 2)).toMatchObject({ seconds: 2, binding: 'width' });
  });

  it('a realistic mix: 8 x 1 MiB, half the nodes at 1 MB/s and half at 4 MB/s, 10 MB/s limit, width 2', () => {
    const MiB = 1 << 20;
    const b = bound(Array(8).fill(MiB), [1e6, 1e6, 1e6, 1e6, 4e6, 4e6, 4e6, 4e6], 10e6, 2);
    // rate 8 MiB / 10 MB/s = 0.8388608; slowest 1.048576; width (4 * 1.048576 + 4 * 0.262144) / 2 = 2.62144
    expect(b.binding).toBe('width');
    expect(b.seconds).toBeCloseTo(2.62144, 12);
    expect(b.terms.rateS).toBeCloseTo(0.8388608, 12);
    expect(b.terms.slowestNodeS).toBeCloseTo(1.048576, 12);
  });

  it('ties go to the earlier term (rate, then slowest node)', () => {
    // rate 2, slowest 2, width 2
    expect(bound([200, 200], [100, 100], 200, 2).binding).toBe('rate');
    // rate 1, slowest 2, width 2
    expect(bound([200, 200], [100, 100], 400, 2).binding).toBe('slowest-node');
  });

  it('Infinity rate and capacities mean unconstrained', () => {
    expect(bound([500, 500], [Infinity, 100], Infinity, 1)).toEqual({
      seconds: 5,
      binding: 'slowest-node',
      terms: { rateS: 0, slowestNodeS: 5, widthS: 5 },
    });
    expect(bound([500], [Infinity], Infinity, 1).seconds).toBe(0);
  });

  it('no fragments: zero', () => {
    expect(bound([], [], 100, 4)).toEqual({ seconds: 0, binding: 'rate', terms: { rateS: 0, slowestNodeS: 0, widthS: 0 } });
  });
});

describe('fluidLowerBound: width larger than the node count', () => {
  it('counts only as many slots as there are nodes', () => {
    const at3 = bound([300, 600, 900], [100, 100, 100], 1e9, 3);
    const at100 = bound([300, 600, 900], [100, 100, 100], 1e9, 100);
    expect(at100).toEqual(at3);
    // (3 + 6 + 9) / 3 = 6, not 18 / 100
    expect(at100.terms.widthS).toBe(6);
    expect(at100).toMatchObject({ seconds: 9, binding: 'slowest-node' });
  });

  it('property: the bound never grows with width and never falls below any single term', () => {
    const input = fc
      .integer({ min: 1, max: 20 })
      .chain((n) =>
        fc.record({
          fragmentBytes: fc.array(fc.integer({ min: 1, max: 1e9 }), { minLength: n, maxLength: n }),
          capacityBytesPerS: fc.array(fc.integer({ min: 1, max: 1e9 }), { minLength: n, maxLength: n }),
          rateBytesPerS: fc.integer({ min: 1, max: 1e10 }),
          width: fc.integer({ min: 1, max: 40 }),
        }),
      );
    fc.assert(
      fc.property(input, (i: LowerBoundInput) => {
        const b = fluidLowerBound(i);
        const wider = fluidLowerBound({ ...i, width: i.width + 1 });
        expect(wider.seconds).toBeLessThanOrEqual(b.seconds);
        expect(b.seconds).toBe(Math.max(b.terms.rateS, b.terms.slowestNodeS, b.terms.widthS));
        const total = i.fragmentBytes.reduce((a, s) => a + s, 0);
        expect(b.terms.rateS).toBeCloseTo(total / i.rateBytesPerS, 9);
        // The width term can never be below the average per-node time over all nodes run in parallel.
        expect(b.terms.widthS).toBeGreaterThanOrEqual(
          i.fragmentBytes.reduce((a, s, k) => a + s / i.capacityBytesPerS[k]!, 0) / i.fragmentBytes.length - 1e-9,
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('fluidLowerBound: bad input', () => {
  it.each<[string, LowerBoundInput, string]>([
    ['lengths differ', { fragmentBytes: [1, 2], capacityBytesPerS: [1], rateBytesPerS: 1, width: 1 }, 'fragmentBytes and capacityBytesPerS differ in length'],
    ['width 0', { fragmentBytes: [1], capacityBytesPerS: [1], rateBytesPerS: 1, width: 0 }, 'width must be >= 1 (got 0)'],
    ['width NaN', { fragmentBytes: [1], capacityBytesPerS: [1], rateBytesPerS: 1, width: Number.NaN }, 'width must be >= 1 (got NaN)'],
    ['rate 0', { fragmentBytes: [1], capacityBytesPerS: [1], rateBytesPerS: 0, width: 1 }, 'rate must be > 0 (got 0)'],
    ['rate -1', { fragmentBytes: [1], capacityBytesPerS: [1], rateBytesPerS: -1, width: 1 }, 'rate must be > 0 (got -1)'],
    ['rate NaN', { fragmentBytes: [1], capacityBytesPerS: [1], rateBytesPerS: Number.NaN, width: 1 }, 'rate must be > 0 (got NaN)'],
    ['capacity 0', { fragmentBytes: [1, 1], capacityBytesPerS: [5, 0], rateBytesPerS: 1, width: 1 }, 'capacity of node 1 must be > 0 (got 0)'],
    ['capacity NaN', { fragmentBytes: [1], capacityBytesPerS: [Number.NaN], rateBytesPerS: 1, width: 1 }, 'capacity of node 0 must be > 0 (got NaN)'],
  ])('%s', (_name, input, message) => {
    expect(() => fluidLowerBound(input)).toThrow(new RangeError(message));
  });
});
