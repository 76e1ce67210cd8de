import { describe, expect, it } from 'vitest';
import { kumarRossBound, payloadBytesPerS, sumSteps, type WholeFileBoundInput } from '../../lab/bound-whole.js';
import { TCP_PAYLOAD_PER_FRAME } from '../../lab/bound.js';

// Rates chosen so that bit/s / 8 is a round number of bytes/s: 8e6 bit/s = 1e6 B/s.
const F = 1_000_000;
const MBps = (mb: number): number => mb * 8e6; // bit/s for `mb` MB/s
const node = (downMBps: number, upMBps: number, extra: Partial<WholeFileBoundInput['nodes'][number]> = {}) => ({
  downBps: MBps(downMBps),
  upBps: MBps(upMBps),
  ...extra,
});
const input = (o: Partial<WholeFileBoundInput>): WholeFileBoundInput => ({
  fileBytes: F,
  sourceUpBps: MBps(10),
  nodes: [],
  events: [],
  goodputFactor: 1,
  ...o,
});

describe('kumarRossBound, constant rates', () => {
  it('source-up binds: F/u_s', () => {
    // u_s 1 MB/s: 1 s. Downs 10 MB/s: 0.1 s. Aggregate 2 MB / (1 + 10 + 10) MB/s = 0.0952 s.
    const b = kumarRossBound(input({ sourceUpBps: MBps(1), nodes: [node(10, 10), node(10, 10)] }));
    expect(b.binding).toBe('source-up');
    expect(b.seconds).toBeCloseTo(1, 12);
    expect(b.terms.sourceUpS).toBeCloseTo(1, 12);
    expect(b.terms.slowestDownS).toBeCloseTo(0.1, 12);
    expect(b.terms.aggregateUpS).toBeCloseTo(2 / 21, 12);
  });

  it('slowest-down binds: F/d_min', () => {
    // u_s 10 MB/s: 0.1 s. Downs 1 and 10 MB/s: 1 s. Aggregate 2 MB / 30 MB/s.
    const b = kumarRossBound(input({ nodes: [node(1, 10), node(10, 10)] }));
    expect(b.binding).toBe('slowest-down');
    expect(b.seconds).toBeCloseTo(1, 12);
    expect(b.terms).toEqual({ sourceUpS: expect.closeTo(0.1, 12), slowestDownS: expect.closeTo(1, 12), aggregateUpS: expect.closeTo(2 / 30, 12) });
  });

  it('aggregate-up binds: N*F/(u_s + sum u_i)', () => {
    // u_s 2 MB/s: 0.5 s. Downs 10 MB/s: 0.1 s. Aggregate 4 MB / (2 + 4 x 1) MB/s = 0.667 s.
    const b = kumarRossBound(input({ sourceUpBps: MBps(2), nodes: [node(10, 1), node(10, 1), node(10, 1), node(10, 1)] }));
    expect(b.binding).toBe('aggregate-up');
    expect(b.seconds).toBeCloseTo(4 / 6, 12);
    expect(b.terms.sourceUpS).toBeCloseTo(0.5, 12);
  });

  it('ties go to the first term listed', () => {
    // Every term is 1 s: F/1 MB/s, F/1 MB/s, 2F/(1 + 0.5 + 0.5) MB/s.
    const b = kumarRossBound(input({ sourceUpBps: MBps(1), nodes: [node(1, 0.5), node(1, 0.5)] }));
    expect(b.terms.sourceUpS).toBe(b.terms.slowestDownS);
    expect(b.binding).toBe('source-up');
    const c = kumarRossBound(input({ sourceUpBps: MBps(2), nodes: [node(1, 0.5), node(1, 0.5)] })); // agg 2/3 s < 1 s
    expect(c.binding).toBe('slowest-down');
  });

  it('applies the goodput factor to every link', () => {
    const plain = kumarRossBound(input({ sourceUpBps: MBps(2), nodes: [node(1, 1), node(10, 1)] }));
    const tcp = kumarRossBound(input({ sourceUpBps: MBps(2), nodes: [node(1, 1), node(10, 1)], goodputFactor: TCP_PAYLOAD_PER_FRAME }));
    expect(tcp.seconds).toBeCloseTo(plain.seconds / TCP_PAYLOAD_PER_FRAME, 12);
    expect(tcp.terms.sourceUpS).toBeCloseTo(0.5 / TCP_PAYLOAD_PER_FRAME, 12);
    expect(tcp.terms.aggregateUpS).toBeCloseTo(0.5 / TCP_PAYLOAD_PER_FRAME, 12);
  });

  it('with no nodes nothing has to move', () => {
    expect(kumarRossBound(input({ nodes: [] })).seconds).toBe(0);
  });
});

describe('kumarRossBound, link events (integrated capacity)', () => {
  it('a down-rate drop mid-run delays that node by its integrated capacity', () => {
    // Node 0: 1 MB/s for 0.5 s (0.5 MB), then 0.5 MB/s for the other 0.5 MB: 1 s more. 1.5 s.
    const b = kumarRossBound(
      input({ nodes: [node(1, 10), node(10, 10)], events: [{ atMs: 500, receivers: [0], downBps: MBps(0.5) }] }),
    );
    expect(b.terms.slowestDownS).toBeCloseTo(1.5, 12);
    expect(b.binding).toBe('slowest-down');
    expect(b.seconds).toBeCloseTo(1.5, 12);
  });

  it('an event after the node is done changes nothing; one on another node does not touch it', () => {
    const b = kumarRossBound(
      input({
        nodes: [node(1, 10), node(10, 10)],
        events: [
          { atMs: 1000, receivers: [0], downBps: MBps(0.001) },
          { atMs: 0, receivers: [1], downBps: MBps(2) }, // node 1: 0.5 s
        ],
      }),
    );
    expect(b.terms.slowestDownS).toBeCloseTo(1, 12);
  });

  it('an event at 0 replaces the initial rate; same-time events: the later in the list wins', () => {
    const b = kumarRossBound(
      input({
        nodes: [node(10, 10)],
        events: [
          { atMs: 0, receivers: [0], downBps: MBps(4) },
          { atMs: 0, receivers: [0], downBps: MBps(2) },
        ],
      }),
    );
    expect(b.terms.slowestDownS).toBeCloseTo(0.5, 12);
  });

  it('an up-rate event changes the aggregate term (sum of step functions)', () => {
    // u_s 2 MB/s, 4 nodes at 1 MB/s up: 6 MB/s for 0.25 s (1.5 MB). Node 0 goes to 3 MB/s:
    // 8 MB/s for the remaining 2.5 MB: 0.3125 s. Total 0.5625 s (source term 0.5 s).
    const nodes = [node(10, 1), node(10, 1), node(10, 1), node(10, 1)];
    const b = kumarRossBound(input({ sourceUpBps: MBps(2), nodes, events: [{ atMs: 250, receivers: [0], upBps: MBps(3) }] }));
    expect(b.binding).toBe('aggregate-up');
    expect(b.seconds).toBeCloseTo(0.5625, 12);
    // A drop at 250 ms of two nodes to 0.5 MB/s: 1.5 MB, then 5 MB/s for 2.5 MB: 0.5 s. 0.75 s.
    const d = kumarRossBound(input({ sourceUpBps: MBps(2), nodes, events: [{ atMs: 250, receivers: [1, 2], upBps: MBps(0.5) }] }));
    expect(d.terms.aggregateUpS).toBeCloseTo(0.75, 12);
  });

  it('sums step functions over the union of their breakpoints', () => {
    const s = sumSteps([
      [{ fromMs: 0, bytesPerS: 1 }],
      [
        { fromMs: 0, bytesPerS: 10 },
        { fromMs: 100, bytesPerS: 20 },
      ],
      [
        { fromMs: 0, bytesPerS: 100 },
        { fromMs: 50, bytesPerS: 200 },
      ],
    ]);
    expect(s).toEqual([
      { fromMs: 0, bytesPerS: 111 },
      { fromMs: 50, bytesPerS: 211 },
      { fromMs: 100, bytesPerS: 221 },
    ]);
  });
});

describe('kumarRossBound, loss and unshaped links', () => {
  it('loss down scales the node\'s down rate, loss up its up rate (events too)', () => {
    // 1 MB/s with 20 % loss: 0.8 MB/s, 1.25 s.
    const b = kumarRossBound(input({ nodes: [node(1, 10, { lossDownPct: 20 })] }));
    expect(b.terms.slowestDownS).toBeCloseTo(1.25, 12);
    // Aggregate case with 50 % loss up on every node: 4 MB / (2 + 4 x 0.5) MB/s = 1 s.
    const lossy = { lossUpPct: 50 };
    const c = kumarRossBound(input({ sourceUpBps: MBps(2), nodes: [node(10, 1, lossy), node(10, 1, lossy), node(10, 1, lossy), node(10, 1, lossy)] }));
    expect(c.terms.aggregateUpS).toBeCloseTo(1, 12);
    expect(c.binding).toBe('aggregate-up');
    // Loss down does not touch the up direction and vice versa.
    const d = kumarRossBound(input({ nodes: [node(1, 10, { lossUpPct: 90 })] }));
    expect(d.terms.slowestDownS).toBeCloseTo(1, 12);
    // An event's new rate is scaled by the node's loss too: 1 MB/s for 0.5 s at 50 % (0.25 MB),
    // then 3 MB/s at 50 % for 0.75 MB: 0.5 s. 1 s.
    const e = kumarRossBound(input({ nodes: [node(1, 10, { lossDownPct: 50 })], events: [{ atMs: 500, receivers: [0], downBps: MBps(3) }] }));
    expect(e.terms.slowestDownS).toBeCloseTo(1, 12);
  });

  it('payload bytes/s = bps/8 x factor x (1 - loss)', () => {
    expect(payloadBytesPerS(8e6, 0.5, 10)).toBeCloseTo(450_000, 9);
    expect(payloadBytesPerS(Infinity, 0.5, 10)).toBe(Infinity);
    expect(payloadBytesPerS(Infinity, 0.5, 100)).toBe(0);
  });

  it('an unshaped (Infinity) source up: its term and the aggregate vanish', () => {
    const b = kumarRossBound(input({ sourceUpBps: Infinity, nodes: [node(2, 0.001), node(4, 0.001)] }));
    expect(b.terms.sourceUpS).toBe(0);
    expect(b.terms.aggregateUpS).toBe(0);
    expect(b.binding).toBe('slowest-down');
    expect(b.seconds).toBeCloseTo(0.5, 12);
  });

  it('an unshaped node down needs no time; a node that becomes unshaped finishes then', () => {
    const b = kumarRossBound(
      input({ nodes: [node(1, 1, { downBps: Infinity }), node(0.5, 1)], events: [{ atMs: 300, receivers: [1], downBps: Infinity }] }),
    );
    expect(b.terms.slowestDownS).toBeCloseTo(0.3, 12);
  });

  it('100 % loss: never (Infinity)', () => {
    const b = kumarRossBound(input({ nodes: [node(1, 1, { lossDownPct: 100 })] }));
    expect(b.seconds).toBe(Infinity);
    expect(b.binding).toBe('slowest-down');
  });

  it('refuses nonsense', () => {
    expect(() => kumarRossBound(input({ nodes: [node(1, 1, { lossDownPct: 101 })] }))).toThrow(RangeError);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1, { lossUpPct: -1 })] }))).toThrow(RangeError);
    expect(() => kumarRossBound(input({ sourceUpBps: 0, nodes: [node(1, 1)] }))).toThrow(RangeError);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], events: [{ atMs: 10, receivers: [1], downBps: 1e6 }] }))).toThrow(/no node 1/);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], events: [{ atMs: -1, receivers: [0], downBps: 1e6 }] }))).toThrow(RangeError);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], goodputFactor: 0 }))).toThrow(RangeError);
  });
});
