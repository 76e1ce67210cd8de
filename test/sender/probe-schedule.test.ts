/**
 * probe-prioritise's schedule decisions (issue 13, point 4), in virtual time: when to park after a
 * probe, what a park costs, and in which order parked fragments start again. The network is the
 * lab's flow simulator (lab/sim/engine.ts), so set-up costs follow its model.
 */
import { describe, expect, it } from 'vitest';
import { fluidLowerBound } from '../../core/lower-bound.js';
import { simulateTransfer, type SimTransferOptions } from '../../lab/sim/engine.js';
import { ProbePrioritise } from '../../sender/strategies/probe-prioritise.js';
import type { StrategyContext } from '../../sender/strategies/types.js';

const MiB = 1 << 20;
const mbit = (m: number): number => (m * 1e6) / 8;

/** Deterministic lognormal-like rates: median 10 Mbit/s, 2..60 Mbit/s, slow ones scattered. */
function spreadRates(n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const z = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
    const u = z - Math.floor(z); // 0..1, scattered
    const g = (u - 0.5) * 3.4; // about -1.7..1.7
    return mbit(Math.min(60, Math.max(2, 10 * Math.exp(0.6 * g))));
  });
}

function run(strategy: SimTransferOptions['strategy'], caps: number[], width: number, model: SimTransferOptions['model'] = {}) {
  return simulateTransfer({ strategy, fragmentBytes: caps.map(() => MiB), capacityBytesPerS: caps, width, model });
}

function widthBound(caps: number[], width: number): number {
  return fluidLowerBound({ fragmentBytes: caps.map(() => MiB), capacityBytesPerS: caps, rateBytesPerS: Infinity, width }).seconds * 1000;
}

describe('probe-prioritise with fewer slots than nodes', () => {
  it('beats the in-order strategies on spread rates and ends near the width bound, each fragment parked at most once', () => {
    const caps = spreadRates(48);
    const pp = run('probe-prioritise', caps, 6);
    const seq = run('sequential', caps, 6);
    const bp = run('backpressure', caps, 6);
    expect(pp.makespanMs).toBeLessThan(seq.makespanMs);
    expect(pp.makespanMs).toBeLessThan(bp.makespanMs);
    expect(pp.makespanMs).toBeLessThan(1.06 * widthBound(caps, 6));
    expect(new Set(pp.parks).size).toBe(pp.parks.length);
    const c = (pp.strategy as ProbePrioritise).costs();
    expect(c.parks).toBe(pp.parks.length);
    expect(c.extraSetups).toBe(pp.parks.length); // every park is resumed once
    expect(c.probeBytes).toBeGreaterThan(0);
  });

  it('parks nothing when every node is alike (list order already ends every slot together)', () => {
    // Set-ups of 40 ms: probing everyone ahead is not "cheap", so only the schedule can ask for parks.
    const caps = Array(32).fill(mbit(20));
    const pp = run('probe-prioritise', caps, 4, { connectMs: 40 });
    const seq = run('sequential', caps, 4, { connectMs: 40 });
    expect(pp.parks).toEqual([]);
    expect(pp.makespanMs).toBeLessThanOrEqual(seq.makespanMs * 1.01);
  });

  it('parks (almost) nothing when set-ups queue for a shared CPU: each park would delay every set-up', () => {
    // 600 nodes, width 60, set-ups of 20 ms CPU on one core: 12 s of set-ups, about the makespan.
    const caps = spreadRates(600);
    const model = { setupCpuMs: 20, setupCores: 1 };
    const pp = run('probe-prioritise', caps, 60, model);
    const bp = run('backpressure', caps, 60, model);
    expect(pp.parks.length).toBeLessThan(30);
    expect(pp.makespanMs).toBeLessThan(bp.makespanMs * 1.02);
    // The same network with set-ups that do not queue: probing ahead pays, and it parks.
    const cheap = run('probe-prioritise', caps, 60, { setupCpuMs: 20, setupCores: 1000 });
    expect(cheap.parks.length).toBeGreaterThan(100);
    expect(cheap.makespanMs).toBeLessThan(run('backpressure', caps, 60, { setupCpuMs: 20, setupCores: 1000 }).makespanMs);
  });

  it('does not hold a slot idle after the probe when no park is possible (nobody waits)', () => {
    const ctx: StrategyContext = {
      fragments: [0, 1].map((index) => ({ index, sizeBytes: MiB })),
      width: 2,
      rateBytesPerS: Infinity,
      chunkBytes: 64 * 1024,
      windowBytes: 512 * 1024,
      progressEveryBytes: 16 * 1024,
    };
    const s = new ProbePrioritise(ctx, { probeBytes: 64 * 1024 });
    for (const i of [0, 1]) {
      s.onConnecting(0, i);
      s.onOpen(1, i, 0);
    }
    expect(s.pickWrite(1)?.maxBytes).toBe(64 * 1024); // the probe
    s.onSent(1, 0, 64 * 1024);
    s.onSent(1, 1, 64 * 1024);
    // Probes sent, not yet delivered, nobody waiting for a slot: both carry on at once.
    expect(s.pickWrite(2)).not.toBeNull();
    expect(s.takeParkRequests(2)).toEqual([]);
  });

  it('holds after the probe and parks a short node while unprobed ones wait and probing is cheap; keeps it once decided', () => {
    const ctx: StrategyContext = {
      fragments: Array.from({ length: 8 }, (_, index) => ({ index, sizeBytes: MiB })),
      width: 2,
      rateBytesPerS: Infinity,
      chunkBytes: 64 * 1024,
      windowBytes: 512 * 1024,
      progressEveryBytes: 16 * 1024,
    };
    const s = new ProbePrioritise(ctx, { probeBytes: 64 * 1024 });
    for (const i of [0, 1]) {
      s.onConnecting(0, i);
      s.onOpen(1, i, 0);
      s.onSent(1, i, 64 * 1024);
    }
    // Sent its probe, not delivered, 6 unprobed wait: nothing else to write (held).
    expect(s.pickWrite(2)).toBeNull();
    // Node 0 delivers its probe at 4 MB/s (a full fragment in ~260 ms); node 1 is slower (2 s).
    s.onDelivered(9, 0, 16 * 1024);
    s.onDelivered(17, 0, 64 * 1024);
    expect(s.takeParkRequests(17)).toEqual([0]);
    s.onClosed(17, 0, 'parked');
    expect(s.costs().parks).toBe(1);
    // Node 1 is held until its probe is delivered, then decided once.
    s.onDelivered(40, 1, 16 * 1024);
    s.onDelivered(130, 1, 64 * 1024);
    // 6 nodes' unknown work is left: even this slower node can resume after them and end in time.
    expect(s.takeParkRequests(130)).toEqual([1]);
    s.onClosed(130, 1, 'parked');
    expect(s.takeParkRequests(131)).toEqual([]);
    expect(s.costs()).toMatchObject({ parks: 2, probeBytes: 128 * 1024 });
  });
});
