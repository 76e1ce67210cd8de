import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FragmentPlanError, planFragments } from '../../core/fragments.js';

const MiB = 1 << 20;

describe('planFragments', () => {
  it('64 MiB over 64 nodes: 64 fragments of 1 MiB', () => {
    const plan = planFragments(64 * MiB, 64);
    expect(plan).toHaveLength(64);
    expect(plan.every((p, i) => p.index === i && p.offsetBytes === i * MiB && p.sizeBytes === MiB)).toBe(true);
    expect(plan[63]).toEqual({ index: 63, offsetBytes: 63 * MiB, sizeBytes: MiB });
  });

  it('10 bytes over 4 nodes: 3, 3, 3, 1', () => {
    expect(planFragments(10, 4)).toEqual([
      { index: 0, offsetBytes: 0, sizeBytes: 3 },
      { index: 1, offsetBytes: 3, sizeBytes: 3 },
      { index: 2, offsetBytes: 6, sizeBytes: 3 },
      { index: 3, offsetBytes: 9, sizeBytes: 1 },
    ]);
  });

  it('one node gets the whole file; as many bytes as nodes gives one byte each', () => {
    expect(planFragments(12345, 1)).toEqual([{ index: 0, offsetBytes: 0, sizeBytes: 12345 }]);
    expect(planFragments(5, 5).map((p) => p.sizeBytes)).toEqual([1, 1, 1, 1, 1]);
  });

  it('fewer bytes than nodes is a FragmentPlanError', () => {
    expect(() => planFragments(3, 4)).toThrow(FragmentPlanError);
    expect(() => planFragments(3, 4)).toThrow('the file has 3 bytes, fewer than the 4 nodes: every node must get at least one byte');
    expect(() => planFragments(0, 1)).toThrow('the file has 0 bytes, fewer than the 1 nodes: every node must get at least one byte');
  });

  it('9 bytes over 6 nodes: ceil(9/6) = 2 leaves the sixth node empty, and says so', () => {
    // 2,2,2,2,1,0: enough bytes for every node, but not in ceil-sized fragments.
    expect(() => planFragments(9, 6)).toThrow(FragmentPlanError);
    expect(() => planFragments(9, 6)).toThrow(
      '9 bytes in fragments of ceil(9/6) = 2 bytes leave node 6 of 6 without a byte; use fewer nodes or a larger file',
    );
    // More than one node left empty: the first empty one is named.
    expect(() => planFragments(10, 7)).toThrow('leave node 6 of 7 without a byte');
  });

  it('bad node counts and sizes', () => {
    expect(() => planFragments(10, 0)).toThrow('need at least one node (got 0)');
    expect(() => planFragments(10, 1.5)).toThrow('need at least one node (got 1.5)');
    expect(() => planFragments(10, Number.NaN)).toThrow('need at least one node (got NaN)');
    expect(() => planFragments(10.5, 2)).toThrow(FragmentPlanError);
    expect(() => planFragments(Number.POSITIVE_INFINITY, 2)).toThrow(FragmentPlanError);
  });

  it('property: contiguous, ceil-sized but for the last, summing to the file; or refused exactly when ceil leaves a node empty', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        (nodes, extra) => {
          const fileBytes = Math.min(Number.MAX_SAFE_INTEGER, nodes + extra);
          const size = Math.ceil(fileBytes / nodes);
          const feasible = (nodes - 1) * size < fileBytes;
          if (!feasible) {
            expect(() => planFragments(fileBytes, nodes)).toThrow(FragmentPlanError);
            return;
          }
          const plan = planFragments(fileBytes, nodes);
          expect(plan).toHaveLength(nodes);
          const wrong: string[] = [];
          let offset = 0;
          for (const [i, p] of plan.entries()) {
            if (p.index !== i) wrong.push(`fragment ${i} has index ${p.index}`);
            if (p.offsetBytes !== offset) wrong.push(`fragment ${i} at ${p.offsetBytes}, expected ${offset}`);
            if (p.sizeBytes < 1) wrong.push(`fragment ${i} is empty`);
            if (i < nodes - 1 ? p.sizeBytes !== size : p.sizeBytes > size) wrong.push(`fragment ${i} has ${p.sizeBytes} bytes (ceil ${size})`);
            offset += p.sizeBytes;
          }
          expect(wrong).toEqual([]);
          expect(offset).toBe(fileBytes);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: fewer bytes than nodes is always refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (nodes, frac) => {
        const fileBytes = Math.floor(frac * nodes);
        expect(() => planFragments(fileBytes, nodes)).toThrow(`the file has ${fileBytes} bytes, fewer than the ${nodes} nodes`);
      }),
      { numRuns: 200 },
    );
  });
});
