/** The simulator's scaling parts: bottleneck max-min equals progressive filling; the partial mesh. */
import { describe, expect, it } from 'vitest';
import { maxMinRates } from '../../lab/sim/fair-share.js';
import { bottleneckRates, meshOf, simulateFlood } from '../../protocols/floodclone/sim.js';

describe('floodclone simulator at scale', () => {
  it('bottleneckRates gives the same max-min rates as maxMinRates on random networks', () => {
    let x = 7;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31), x / 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const L = 3 + Math.floor(rnd() * 12);
      const caps = Array.from({ length: L }, () => 1 + Math.floor(rnd() * 100));
      const flows = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => {
        const set = new Set<number>();
        const k = 1 + Math.floor(rnd() * 3);
        while (set.size < Math.min(k, L)) set.add(Math.floor(rnd() * L));
        return [...set];
      });
      const want = maxMinRates(flows.map((links) => ({ links })), caps);
      const got = bottleneckRates(flows, caps);
      got.forEach((r, f) => expect(r).toBeCloseTo(want[f]!, 6));
    }
  });

  it('meshOf: a full mesh by default, else a symmetric degree-regular graph without self-loops', () => {
    expect(meshOf(4)).toEqual([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]);
    const m = meshOf(100, 8);
    for (let k = 0; k < 100; k++) {
      expect(new Set(m[k]).size).toBe(8);
      expect(m[k]).not.toContain(k);
      for (const j of m[k]!) expect(m[j]).toContain(k);
    }
    expect(() => meshOf(10, 3)).toThrow(/even/);
  });

  it('a partial mesh still delivers the whole file to every node', () => {
    const r = simulateFlood({ fileBytes: 2 << 20, chunkBytes: 64 << 10, sourceUp: 2e6, nodes: Array.from({ length: 40 }, () => ({ up: 1e6, down: 4e6 })), degree: 6 });
    expect(r.doneMs.every((d) => d !== null)).toBe(true);
    expect(r.duplicates).toBe(0);
  });
});
