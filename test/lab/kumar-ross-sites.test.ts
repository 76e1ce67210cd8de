import { describe, expect, it } from 'vitest';
import { kumarRossBound, type WholeFileBoundInput } from '../../lab/bound-whole.js';
import { protocolByName } from '../../lab/protocols/index.js';
import { parseScenario } from '../../lab/scenario/index.js';

// 8e6 bit/s = 1e6 payload bytes/s with goodputFactor 1.
const F = 1_000_000;
const MBps = (mb: number): number => mb * 8e6;
const node = (downMBps: number, upMBps: number) => ({ downBps: MBps(downMBps), upBps: MBps(upMBps) });
const input = (o: Partial<WholeFileBoundInput>): WholeFileBoundInput => ({
  fileBytes: F,
  sourceUpBps: MBps(10),
  nodes: [],
  events: [],
  goodputFactor: 1,
  ...o,
});

describe('kumarRossBound with sites: each term binds where it should', () => {
  it('site-down: every byte crosses a thin trunk into the site at least once (F / D_k)', () => {
    const b = kumarRossBound(input({ nodes: [node(10, 10), node(10, 10)], sites: [{ members: [0, 1], downBps: MBps(0.5), upBps: MBps(10) }] }));
    expect(b.binding).toBe('site-down');
    expect(b.seconds).toBeCloseTo(2, 9);
    expect(b.terms.siteDownS).toBeCloseTo(2, 9);
    expect(b.terms.siteAggregateS).toBeCloseTo(2 / 20.5, 9);
  });

  it('site-aggregate: members that barely upload make every copy come through the trunk (n_k F / (D_k + sum u))', () => {
    const nodes = [0, 1, 2, 3].map(() => node(10, 0.01));
    const b = kumarRossBound(input({ nodes, sites: [{ members: [0, 1, 2, 3], downBps: MBps(1), upBps: MBps(100) }] }));
    expect(b.binding).toBe('site-aggregate');
    expect(b.seconds).toBeCloseTo(4 / 1.04, 9);
    expect(b.terms.siteDownS).toBeCloseTo(1, 9);
  });

  it('aggregate-up: a site contributes to the others at most its trunk up, and inside at most (n_k - 1) F', () => {
    // Source 1 MB/s; site {0,1} uploads 20 MB/s behind a 0.5 MB/s trunk up; outside nodes 2, 3 upload 0.1 each.
    const nodes = [node(10, 10), node(10, 10), node(10, 0.1), node(10, 0.1)];
    const plain = kumarRossBound(input({ sourceUpBps: MBps(1), nodes }));
    expect(plain.terms.aggregateUpS).toBeCloseTo(4 / 21.2, 9);
    const b = kumarRossBound(input({ sourceUpBps: MBps(1), nodes, sites: [{ members: [0, 1], downBps: MBps(10), upBps: MBps(0.5) }] }));
    // 4F <= 1.2 T + min(20 T, F + 0.5 T)  =>  T = 3F / 1.7 MB/s
    expect(b.binding).toBe('aggregate-up');
    expect(b.seconds).toBeCloseTo(3 / 1.7, 6);
    expect(b.terms.sourceUpS).toBeCloseTo(1, 9);
  });

  it('aggregate-up: the members\' own uploads bind before the (n_k - 1) F allowance does', () => {
    // Site {0,1} uploads 0.2 MB/s in all, under its trunk up: min(0.2 T, F + 0.2 T) = 0.2 T.
    const nodes = [node(10, 0.1), node(10, 0.1), node(10, 0.1)];
    const b = kumarRossBound(input({ sourceUpBps: MBps(1), nodes, sites: [{ members: [0, 1], downBps: MBps(10), upBps: MBps(5) }] }));
    expect(b.terms.aggregateUpS).toBeCloseTo(3 / 1.3, 6);
    expect(b.binding).toBe('aggregate-up');
  });

  it('unshaped trunks give the plain Kumar-Ross terms back', () => {
    const nodes = [node(2, 0.5), node(3, 0.25), node(4, 1), node(1, 2)];
    const plain = kumarRossBound(input({ sourceUpBps: MBps(1), nodes }));
    const sites = kumarRossBound(input({ sourceUpBps: MBps(1), nodes, sites: [{ members: [1, 2], downBps: Infinity, upBps: Infinity }] }));
    expect(sites.seconds).toBeCloseTo(plain.seconds, 6);
    expect(sites.terms.aggregateUpS).toBeCloseTo(plain.terms.aggregateUpS, 6);
    expect(sites.terms.siteDownS).toBe(0);
  });

  it('site terms integrate link events of the members', () => {
    // 4 members upload 0.01 MB/s each until 1 s, then 1 MB/s each: 1.04 MB in the first second, then 5 MB/s.
    const nodes = [0, 1, 2, 3].map(() => node(10, 0.01));
    const b = kumarRossBound(
      input({ nodes, events: [{ atMs: 1000, receivers: [0, 1, 2, 3], upBps: MBps(1) }], sites: [{ members: [0, 1, 2, 3], downBps: MBps(1), upBps: MBps(100) }] }),
    );
    expect(b.binding).toBe('site-aggregate');
    expect(b.seconds).toBeCloseTo(1 + 2.96 / 5, 9);
  });

  it('refuses malformed sites', () => {
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], sites: [{ members: [1], downBps: 1e6, upBps: 1e6 }] }))).toThrow(/no node 1/);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], sites: [{ members: [0], downBps: 1e6, upBps: 1e6 }, { members: [0], downBps: 1e6, upBps: 1e6 }] }))).toThrow(/two sites/);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], sites: [{ members: [0], downBps: 0, upBps: 1e6 }] }))).toThrow(RangeError);
    expect(() => kumarRossBound(input({ nodes: [node(1, 1)], sites: [{ members: [], downBps: 1e6, upBps: 1e6 }] }))).toThrow(/no members/);
  });

  it('the BitTorrent plug-in passes a scenario\'s sites to the bound', () => {
    const t = parseScenario(
      `name: t
file: { size: 1MiB }
transfer: { job: whole-file }
strategies: [bittorrent/aria2]
receivers: { count: 3, down: 100mbit, up: 100mbit }
source: { up: 100mbit }
sites:
  - { name: a, select: { first: 2 }, up: 100mbit, down: 1mbit }
`,
      { netem: false },
    );
    const p = protocolByName('bittorrent')!;
    const b = p.lowerBound(t, undefined as never, 2 ** 20);
    expect(b.binding).toBe('site-down');
    expect(b.seconds).toBeGreaterThan(8); // 1 MiB through 1 Mbit/s of link rate
  });
});
