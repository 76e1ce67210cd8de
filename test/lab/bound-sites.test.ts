import { describe, expect, it } from 'vitest';
import { goodputFactor, labLowerBound } from '../../lab/bound.js';
import type { ReceiverSpec } from '../../lab/types.js';

const MiB = 1 << 20;
const CHUNK = 65536;
const rx = (index: number, downBps: number): ReceiverSpec => ({ index, downBps, upBps: downBps });

describe('labLowerBound (fragments) with sites', () => {
  const factor = goodputFactor(CHUNK);
  const base = { events: [], rateKbps: 1e9, senderUpBps: 10e9, width: 4, chunkBytes: CHUNK };

  it('site-down: every fragment of a site crosses its trunk (sum of its fragments / trunk down)', () => {
    const receivers = [0, 1, 2, 3].map((i) => rx(i, 80e6));
    const without = labLowerBound({ ...base, receivers, fragmentBytes: Array(4).fill(MiB) });
    expect(without.binding).toBe('slowest-node');
    const b = labLowerBound({ ...base, receivers, fragmentBytes: Array(4).fill(MiB), sites: [{ members: [0, 2, 3], downBps: 8e6 }] });
    expect(b.binding).toBe('site-down');
    expect(b.seconds).toBeCloseTo((3 * MiB) / (1e6 * factor), 9);
  });

  it('a wide trunk changes nothing', () => {
    const receivers = [rx(0, 8e6), rx(1, 8e6)];
    const plain = labLowerBound({ ...base, receivers, fragmentBytes: [MiB, MiB] });
    const wide = labLowerBound({ ...base, receivers, fragmentBytes: [MiB, MiB], sites: [{ members: [0, 1], downBps: 1e9 }] });
    expect(wide).toEqual(plain);
    expect(labLowerBound({ ...base, receivers, fragmentBytes: [MiB, MiB], sites: [{ members: [0, 1], downBps: Infinity }] })).toEqual(plain);
  });
});
