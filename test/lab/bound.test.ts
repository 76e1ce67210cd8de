import { describe, expect, it } from 'vitest';
import { goodputFactor, labLowerBound, transferMs, TCP_PAYLOAD_PER_FRAME } from '../../lab/bound.js';
import type { ReceiverSpec } from '../../lab/types.js';

const MiB = 1 << 20;
const CHUNK = 65536;
const rx = (index: number, downBps: number): ReceiverSpec => ({ index, downBps, upBps: downBps });

describe('transferMs (piecewise-constant capacity)', () => {
  const steps = [
    { fromMs: 0, bytesPerS: 1000 },
    { fromMs: 1000, bytesPerS: 100 },
  ];
  it('integrates capacity over time', () => {
    expect(transferMs(steps, 500)).toBe(500);
    expect(transferMs(steps, 1000)).toBe(1000);
    expect(transferMs(steps, 1100)).toBe(2000); // 1000 B in the first second, 100 B in the next
    expect(transferMs(steps, 1100, 500)).toBe(6500); // from 500 ms: 500 B by 1 s, then 600 B at 100 B/s: done at 7 s
  });
});

describe('labLowerBound', () => {
  const factor = goodputFactor(CHUNK);

  it('uses payload goodput: link rate x 1448/1514 x chunk/(chunk+5)', () => {
    expect(factor).toBeCloseTo(TCP_PAYLOAD_PER_FRAME * (65536 / 65541), 12);
    const b = labLowerBound({ receivers: [rx(0, 8e6)], fragmentBytes: [MiB], events: [], rateKbps: 1e9, senderUpBps: 10e9, width: 1, chunkBytes: CHUNK });
    expect(b.seconds).toBeCloseTo(MiB / ((8e6 / 8) * factor), 9);
    expect(b.binding).toBe('slowest-node');
  });

  it('the sender limit counts frame headers but not TCP/IP ones (it measures what it writes)', () => {
    const b = labLowerBound({ receivers: [rx(0, 1e9), rx(1, 1e9)], fragmentBytes: [MiB, MiB], events: [], rateKbps: 8000, senderUpBps: 10e9, width: 2, chunkBytes: CHUNK });
    expect(b.seconds).toBeCloseTo((2 * MiB) / (1e6 * (65536 / 65541)), 9);
    expect(b.binding).toBe('rate');
  });

  it('a link that drops mid-run raises the bound by its integrated capacity', () => {
    const base = { fragmentBytes: [MiB, MiB], rateKbps: 1e9, senderUpBps: 10e9, width: 2, chunkBytes: CHUNK };
    const receivers = [rx(0, 12e6), rx(1, 12e6)];
    const none = labLowerBound({ ...base, receivers, events: [] });
    const drop = labLowerBound({ ...base, receivers, events: [{ atMs: 200, receivers: [1], downBps: 1e6 }] });
    const fast = (12e6 / 8) * factor;
    const slow = (1e6 / 8) * factor;
    expect(none.seconds).toBeCloseTo(MiB / fast, 9);
    expect(drop.seconds).toBeCloseTo(0.2 + (MiB - 0.2 * fast) / slow, 9);
  });

  it('a drop after the earliest possible finish cannot raise it', () => {
    const base = { fragmentBytes: [MiB], rateKbps: 1e9, senderUpBps: 10e9, width: 1, chunkBytes: CHUNK, receivers: [rx(0, 12e6)] };
    expect(labLowerBound({ ...base, events: [{ atMs: 2000, receivers: [0], downBps: 1e6 }] }).seconds).toBeCloseTo(
      labLowerBound({ ...base, events: [] }).seconds,
      12,
    );
  });

  it('width: each node holds a slot for its shortest possible time', () => {
    // 4 nodes of 1 MiB at 8 Mbit/s, 2 slots: sum of slot times / 2 = 2 node-times.
    const b = labLowerBound({ receivers: [0, 1, 2, 3].map((i) => rx(i, 8e6)), fragmentBytes: Array(4).fill(MiB), events: [], rateKbps: 1e9, senderUpBps: 10e9, width: 2, chunkBytes: CHUNK });
    expect(b.binding).toBe('width');
    expect(b.seconds).toBeCloseTo((2 * MiB) / ((8e6 / 8) * factor), 9);
  });
});
