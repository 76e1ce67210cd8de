import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Heap } from '../../core/heap.js';
import { burstFor } from '../../core/token-bucket.js';
import { maxMinRates, starRates, waterLevel } from '../../lab/sim/fair-share.js';
import { simulateTransfer, slowStartLossMs, type SimTransferOptions } from '../../lab/sim/engine.js';
import { simulatedRun } from '../../lab/sim/backend.js';
import { parseScenario } from '../../lab/scenario/parse.js';
import { STRATEGY_NAMES } from '../../sender/strategies/names.js';

const KiB = 1024;
const MiB = 1 << 20;
/** No start-up cost, no latency: only the fluid network decides. */
const IDEAL = { connectMs: 0, setupCpuMs: 0, setupCores: 2, rttMs: 0, finalizeMs: 0, progressTailMs: 5, linkEfficiency: 1, initialWindowBytes: 14480 };

function sim(o: Partial<SimTransferOptions> & Pick<SimTransferOptions, 'fragmentBytes' | 'capacityBytesPerS'>) {
  return simulateTransfer({ strategy: 'backpressure', windowBytes: 8 * MiB, model: IDEAL, ...o });
}

describe('the event queue', () => {
  it('pops in key order; equal keys in insertion order when the key has a sequence number', () => {
    const h = new Heap<{ t: number; seq: number }>((a, b) => a.t < b.t || (a.t === b.t && a.seq < b.seq));
    const times = [5, 1, 3, 1, 5, 0, 3, 3];
    times.forEach((t, seq) => h.push({ t, seq }));
    const out: string[] = [];
    while (h.size > 0) {
      const e = h.pop()!;
      out.push(`${e.t}:${e.seq}`);
    }
    expect(out).toEqual(['0:5', '1:1', '1:3', '3:2', '3:6', '3:7', '5:0', '5:4']);
  });

  it('sorts any input (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1000, max: 1000 })), (xs) => {
        const h = new Heap<number>((a, b) => a < b);
        for (const x of xs) h.push(x);
        const out: number[] = [];
        while (h.size > 0) out.push(h.pop()!);
        expect(out).toEqual([...xs].sort((a, b) => a - b));
      }),
    );
  });
});

describe('max-min fair sharing', () => {
  it('two flows on one link split it evenly', () => {
    expect(maxMinRates([{ links: [0] }, { links: [0] }], [10])).toEqual([5, 5]);
  });

  it('a flow limited elsewhere leaves the rest of the shared link to the other', () => {
    // Flow 0 crosses link 0 (10) and its own link 1 (2); flow 1 crosses link 0 only.
    expect(maxMinRates([{ links: [0, 1] }, { links: [0] }], [10, 2])).toEqual([2, 8]);
    // The same with a demand instead of a link.
    expect(maxMinRates([{ links: [0], demand: 3 }, { links: [0] }, { links: [0] }], [12])).toEqual([3, 4.5, 4.5]);
  });

  it('the classic line network: the long flow gets the bottleneck share', () => {
    // Links 0 and 1 of capacity 1; flow A crosses both, B only 0, C only 1: all get 1/2.
    expect(maxMinRates([{ links: [0, 1] }, { links: [0] }, { links: [1] }], [1, 1])).toEqual([0.5, 0.5, 0.5]);
  });

  it('starRates (the fan-out case) equals the general solver (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 1, max: 3e7, noNaN: true }),
        (caps, uplink) => {
          // Flow i crosses the uplink (link 0) and its own link i+1.
          const general = maxMinRates(caps.map((_, i) => ({ links: [0, i + 1] })), [uplink, ...caps]);
          const star = starRates(caps, uplink);
          star.forEach((r, i) => expect(r).toBeCloseTo(general[i]!, 3));
        },
      ),
    );
  });

  it('the water level is Infinity while the private links cannot fill the uplink', () => {
    expect(waterLevel([1, 2, 3], 10)).toBe(Infinity);
    expect(waterLevel([1, 5, 5], 7)).toBe(3);
  });
});

describe('the flow simulator against hand-computed cases', () => {
  it('one flow: size / capacity exactly', () => {
    const r = sim({ fragmentBytes: [MiB], capacityBytesPerS: [MiB] });
    expect(r.makespanMs).toBeCloseTo(1000, 6);
  });

  it('two flows on a shared uplink, the slow one freeing capacity when it ends', () => {
    // A: 256 KiB over its own 256 KiB/s link; B: 1 MiB over a fast link; uplink 1 MiB/s.
    // Max-min: A 256 KiB/s, B 768 KiB/s; A ends at 1 s with B at 768 KiB; B's last 256 KiB at 1 MiB/s.
    const r = sim({ fragmentBytes: [256 * KiB, MiB], capacityBytesPerS: [256 * KiB, 10 * MiB], uplinkBytesPerS: MiB });
    expect(r.nodes[0]!.doneMs).toBeCloseTo(1000, 6);
    expect(r.nodes[1]!.doneMs).toBeCloseTo(1250, 6);
  });

  it('two equal flows share the uplink evenly', () => {
    const r = sim({ fragmentBytes: [512 * KiB, 512 * KiB], capacityBytesPerS: [MiB, MiB], uplinkBytesPerS: MiB });
    expect(r.nodes[0]!.doneMs).toBeCloseTo(1000, 6);
    expect(r.nodes[1]!.doneMs).toBeCloseTo(1000, 6);
  });

  it('a link event mid-flow: the rest goes at the new rate', () => {
    const r = sim({ fragmentBytes: [MiB], capacityBytesPerS: [MiB], changes: [{ atMs: 500, index: 0, bytesPerS: MiB / 2 }] });
    expect(r.makespanMs).toBeCloseTo(1500, 6);
  });

  it('start-up, finishing and report latency add up as modelled', () => {
    const model = { ...IDEAL, connectMs: 10, finalizeMs: 5, rttMs: 2 };
    const r = sim({ fragmentBytes: [MiB], capacityBytesPerS: [MiB], model });
    // 10 ms set-up (no slow-start loss: 1 MiB/s x 2 ms is below the initial window), 1000 ms of
    // transfer, 5 ms to finish the file, 1 ms for the ACK to travel back.
    expect(r.makespanMs).toBeCloseTo(1016, 6);
  });

  it('slow start costs what its doubling rounds lose against full rate', () => {
    // 1 Gbit/s (125e6 B/s), 1 ms round trip: BDP 125,000 B = 8.6 initial windows: 4 rounds
    // carry 15 windows (217,200 B), which take 1.7376 ms at full rate, 4 ms in slow start.
    expect(slowStartLossMs(125e6, 1, 14480)).toBeCloseTo(4 - 1.7376, 9);
    expect(slowStartLossMs(1e6, 0.2, 14480)).toBe(0);
  });

  it('the aggregate limit: wire bytes / limit, and never a busier second than the limit allows', () => {
    const rate = 4 * MiB;
    const r = sim({ fragmentBytes: [4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB], capacityBytesPerS: [1e9, 1e9, 1e9, 1e9], rateBytesPerS: rate });
    // The last bytes may ride the bucket's burst; the link itself takes no time worth counting.
    expect(r.makespanMs).toBeGreaterThanOrEqual(((r.wireBytes - burstFor(rate, 64 * KiB)) / rate) * 1000);
    expect(r.makespanMs).toBeLessThan((r.wireBytes / rate) * 1000 + 20);
    expect(r.maxWindowBytes).toBeLessThanOrEqual(rate * 1.01 + 64 * KiB);
  });

  it('the window starves a flow when reports are late: bytes in flight are capped by what was reported', () => {
    // A 64 KiB window and a 100 ms round trip: at most 64 KiB per ~100 ms whatever the link.
    const r = sim({ fragmentBytes: [MiB], capacityBytesPerS: [100 * MiB], windowBytes: 64 * KiB, model: { ...IDEAL, rttMs: 100 } });
    expect(r.makespanMs).toBeGreaterThan(1400);
  });
});

const SMALL = `
name: sim-small
seed: 7
file: { size: 8MiB }
transfer: { rateKbps: 100000, width: 4 }
strategies: [${STRATEGY_NAMES.join(', ')}]
receivers:
  count: 8
  down: { uniform: { min: 5mbit, max: 40mbit } }
  groups:
    - select: { last: 1 }
      down: 3mbit
events:
  - at: 300ms
    select: { index: 2 }
    down: 2mbit
`;

describe('every strategy in the simulator against the lower bound', () => {
  const t = parseScenario(SMALL, { netem: false }, 'sim-small.yaml');
  for (const strategy of STRATEGY_NAMES) {
    it(`${strategy}: never below the bound, finishes every fragment, within 2x of it`, () => {
      const r = simulatedRun(t, strategy, 1);
      expect(r.efficiency).toBeGreaterThanOrEqual(1);
      expect(r.efficiency).toBeLessThan(2);
      expect(r.receivers.every((x) => x.doneS !== null && x.bytes === x.fragmentBytes)).toBe(true);
      expect(r.rateOvershoot).toBeLessThan(0.02);
    });
  }

  it('is deterministic: the same scenario and seed give the same result, bit for bit', () => {
    for (const strategy of STRATEGY_NAMES) {
      const a = simulatedRun(t, strategy, 1);
      const b = simulatedRun(t, strategy, 1);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    }
  });

  it('the scenario `sim:` block changes the model (a slower set-up: a later makespan)', () => {
    const base = simulatedRun(t, 'backpressure', 1);
    const slow = simulatedRun(t, 'backpressure', 1, { connectMs: 200 });
    expect(slow.makespanS).toBeGreaterThan(base.makespanS + 0.2);
  });
});

describe('connection set-up shared by processor sharing', () => {
  it('64 set-ups of 4 ms on 2 cores all end at 128 ms; one alone takes 4 ms', () => {
    const many = sim({ fragmentBytes: Array(64).fill(64 * KiB), capacityBytesPerS: Array(64).fill(100 * MiB), model: { ...IDEAL, setupCpuMs: 4, setupCores: 2 } });
    const starts = many.nodes.map((x) => x.startMs!);
    expect(Math.min(...starts)).toBeCloseTo(128, 6);
    expect(Math.max(...starts)).toBeCloseTo(128, 6);
    const one = sim({ fragmentBytes: [64 * KiB], capacityBytesPerS: [100 * MiB], model: { ...IDEAL, setupCpuMs: 4, setupCores: 2 } });
    expect(one.nodes[0]!.startMs).toBeCloseTo(4, 9);
  });

  it('a set-up that starts later finishes later, and the earlier ones speed up when it is alone', () => {
    // Width 1: one at a time, each alone on the cores: 4 ms each, the next starting when one is done.
    const r = sim({ fragmentBytes: [64 * KiB, 64 * KiB], capacityBytesPerS: [100 * MiB, 100 * MiB], width: 1, model: { ...IDEAL, setupCpuMs: 4, setupCores: 1 } });
    expect(r.nodes[0]!.startMs).toBeCloseTo(4, 9);
    expect(r.nodes[1]!.startMs! - r.nodes[0]!.doneMs!).toBeCloseTo(4, 9);
  });
});
