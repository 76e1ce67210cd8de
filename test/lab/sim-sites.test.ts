import { describe, expect, it } from 'vitest';
import { maxMinRates } from '../../lab/sim/fair-share.js';
import { LinkTable, flowLinks } from '../../lab/sim/links.js';
import { simulatedRun } from '../../lab/sim/backend.js';
import { parseScenario } from '../../lab/scenario/index.js';
import type { Topology } from '../../lab/types.js';

const rx = (index: number, downBps: number, upBps = downBps) => ({ index, downBps, upBps });
/** Receivers 0,1 in site a; 2,3 in site b; 4 outside. */
const T: Pick<Topology, 'receivers' | 'sites' | 'sender'> = {
  receivers: [0, 1, 2, 3, 4].map((i) => rx(i, 80e6)),
  sender: { upBps: 100e6 },
  sites: [
    { name: 'a', receivers: [0, 1], upBps: 8e6, downBps: 16e6 },
    { name: 'b', receivers: [2, 3], upBps: Infinity, downBps: 24e6 },
  ],
};

describe('flowLinks', () => {
  it('source to a site member: the trunk down once', () => {
    expect(flowLinks(T, -1, 0)).toEqual([{ kind: 'up', node: -1 }, { kind: 'trunk-down', site: 0 }, { kind: 'down', node: 0 }]);
  });
  it('inside one site: no trunk at all', () => {
    expect(flowLinks(T, 0, 1)).toEqual([{ kind: 'up', node: 0 }, { kind: 'down', node: 1 }]);
  });
  it('site to site: up out of one, down into the other', () => {
    expect(flowLinks(T, 1, 3)).toEqual([{ kind: 'up', node: 1 }, { kind: 'trunk-up', site: 0 }, { kind: 'trunk-down', site: 1 }, { kind: 'down', node: 3 }]);
  });
  it('site to outside and to the source: the trunk up once', () => {
    expect(flowLinks(T, 2, 4)).toEqual([{ kind: 'up', node: 2 }, { kind: 'trunk-up', site: 1 }, { kind: 'down', node: 4 }]);
    expect(flowLinks(T, 0, -1)).toEqual([{ kind: 'up', node: 0 }, { kind: 'trunk-up', site: 0 }, { kind: 'down', node: -1 }]);
  });
  it('no sites: up and down only', () => {
    expect(flowLinks({ receivers: T.receivers }, -1, 3)).toEqual([{ kind: 'up', node: -1 }, { kind: 'down', node: 3 }]);
  });
  it('refuses unknown nodes and self-flows', () => {
    expect(() => flowLinks(T, -1, 5)).toThrow(/no node 5/);
    expect(() => flowLinks(T, -2, 0)).toThrow(/no node -2/);
    expect(() => flowLinks(T, 1, 1)).toThrow(/itself/);
  });
});

describe('LinkTable + maxMinRates', () => {
  const links = new LinkTable(T, 1 / 8); // bytes/s of link rate
  it('numbers every link and leaves unshaped ones out of a flow', () => {
    expect(links.names[links.index({ kind: 'trunk-down', site: 1 })]).toBe('site b trunk down');
    expect(links.capacities[links.index({ kind: 'trunk-up', site: 0 })]).toBe(1e6);
    // source down is unshaped: a flow to the source crosses only its own up and trunk up
    expect(links.flow(0, -1).map((l) => links.names[l])).toEqual(['receiver 0 up', 'site a trunk up']);
    // site b's trunk up is unshaped
    expect(links.flow(2, 4).map((l) => links.names[l])).toEqual(['receiver 2 up', 'receiver 4 down']);
  });
  it('flows into a site share its trunk; a flow inside the site does not', () => {
    const flows = [{ links: links.flow(-1, 0) }, { links: links.flow(-1, 1) }, { links: links.flow(0, 1) }];
    const rates = maxMinRates(flows, links.capacities);
    // trunk down a: 2e6 B/s for the two flows from the source; 0 -> 1 is limited by 1's down (10e6) shared with the source's flow to 1
    expect(rates[0]).toBeCloseTo(1e6, 6);
    expect(rates[1]).toBeCloseTo(1e6, 6);
    expect(rates[2]).toBeCloseTo(9e6, 6);
  });
  it('what leaves a site shares its trunk up', () => {
    const flows = [{ links: links.flow(0, 4) }, { links: links.flow(1, 2) }, { links: links.flow(2, 4) }];
    const rates = maxMinRates(flows, links.capacities);
    expect(rates[0]! + rates[1]!).toBeCloseTo(1e6, 6); // trunk up a: 8 Mbit/s
    expect(rates[2]).toBeCloseTo(10e6 - rates[0]!, 6); // 4's down: 80 Mbit/s, shared with 0 -> 4
  });
});

describe('fragments simulation with sites', () => {
  const yaml = (sites: string) => `name: t
backend: sim
file: { size: 4MiB }
transfer: { rateKbps: 1000000 }
strategies: [backpressure]
receivers: { count: 4, down: 80mbit }
source: { up: 1gbit }
${sites}`;

  it('a thin trunk limits what its receivers get together, and the run stays above the bound', () => {
    const plain = simulatedRun(parseScenario(yaml(''), { netem: false }), 'backpressure', 1);
    const sited = simulatedRun(parseScenario(yaml('sites: [{ name: a, select: { first: 2 }, up: 8mbit, down: 8mbit }]'), { netem: false }), 'backpressure', 1);
    // 2 MiB through 8 Mbit/s of link rate (payload ~0.95 MB/s): about 2.2 s, against ~0.22 s without.
    expect(plain.makespanS).toBeLessThan(0.5);
    expect(sited.makespanS).toBeGreaterThan(2);
    expect(sited.makespanS).toBeLessThan(2.6);
    expect(sited.boundTerm).toBe('site-down');
    expect(sited.efficiency).toBeGreaterThanOrEqual(1);
    // receivers outside the site are not held back by it
    expect(sited.receivers[3]!.doneS!).toBeLessThan(0.5);
  });
});
