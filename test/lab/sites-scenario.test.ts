import { describe, expect, it } from 'vitest';
import { ScenarioError, parseScenario, type ScenarioCaps } from '../../lab/scenario/index.js';
import { siteOfReceiver } from '../../lab/scenario/sites.js';

const CAPS: ScenarioCaps = { netem: false };

const BASE = `
name: t
file: { size: 1MiB }
transfer: { job: whole-file }
strategies: [bittorrent/aria2]
receivers:
  count: 6
  down: 20mbit
`;

function problems(text: string): string[] {
  try {
    parseScenario(text, CAPS, 'x.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
    throw e;
  }
  throw new Error('expected a ScenarioError, got a Topology');
}

describe('scenario sites', () => {
  it('become plain data on the Topology: names, resolved receivers, trunk rates', () => {
    const t = parseScenario(
      `${BASE}sites:
  - { name: office, select: { first: 2 }, up: 5mbit, down: 10mbit }
  - { name: home, select: { indexes: [4, 3] }, up: 1mbit, down: 2mbit }
`,
      CAPS,
    );
    expect(t.sites).toEqual([
      { name: 'office', receivers: [0, 1], upBps: 5e6, downBps: 10e6 },
      { name: 'home', receivers: [3, 4], upBps: 1e6, downBps: 2e6 },
    ]);
    expect([...siteOfReceiver(t.sites).entries()]).toEqual([[0, 0], [1, 0], [3, 1], [4, 1]]);
  });

  it('are absent when the scenario has none', () => {
    expect(parseScenario(BASE, CAPS).sites).toBeUndefined();
  });

  it('draw a distribution once per site, deterministically', () => {
    const text = `${BASE}sites:
  - { name: a, select: { index: 0 }, up: { uniform: { min: 1mbit, max: 9mbit } }, down: 10mbit }
`;
    const one = parseScenario(text, CAPS).sites![0]!;
    expect(one.upBps).toBeGreaterThanOrEqual(1e6);
    expect(one.upBps).toBeLessThanOrEqual(9e6);
    expect(parseScenario(text, CAPS).sites![0]!.upBps).toBe(one.upBps);
  });

  it('report a receiver in two sites, with both paths', () => {
    expect(
      problems(`${BASE}sites:
  - { name: a, select: { first: 3 }, up: 5mbit, down: 5mbit }
  - { name: b, select: { index: 2 }, up: 5mbit, down: 5mbit }
`),
    ).toEqual(['sites[1].select: receiver 2 is already in site a (sites[0]): a receiver is in at most one site']);
  });

  it('report duplicate and malformed names', () => {
    expect(
      problems(`${BASE}sites:
  - { name: a, select: { index: 0 }, up: 5mbit, down: 5mbit }
  - { name: a, select: { index: 1 }, up: 5mbit, down: 5mbit }
  - { name: "Bad Name", select: { index: 2 }, up: 5mbit, down: 5mbit }
`),
    ).toEqual([
      'sites[1].name: site a is already defined (sites[0])',
      'sites[2].name: "Bad Name" is not a valid site name: use lowercase letters, digits and dashes (at most 32)',
    ]);
  });

  it('report a selector that selects nothing or points past the receivers', () => {
    const p = problems(`${BASE}sites:
  - { name: a, select: { index: 9 }, up: 5mbit, down: 5mbit }
  - { name: b, select: { first: 7 }, up: 5mbit, down: 5mbit }
`);
    expect(p).toEqual([
      'sites[0].select.index: index 9 is out of range: there are 6 receivers (indexes 0..5)',
      'sites[1].select.first: 7 is more than the 6 receivers',
    ]);
  });

  it('report bad and missing rates and unknown keys', () => {
    const p = problems(`${BASE}sites:
  - { name: a, select: { index: 0 }, up: fast, down: 0mbit }
  - { name: b, select: { index: 1 }, rate: 5mbit }
`);
    expect(p).toContain('sites[0].up: expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got "fast"');
    expect(p.some((l) => l.startsWith('sites[0].down: a rate must be at least 1bit'))).toBe(true);
    expect(p).toContain('sites[1].rate: unknown key (allowed: name, select, up, down)');
    expect(p.some((l) => l.startsWith('sites[1].up: required ('))).toBe(true);
    expect(p.some((l) => l.startsWith('sites[1].down: required ('))).toBe(true);
  });

  it('must be a list of mappings', () => {
    expect(problems(`${BASE}sites: { name: a }\n`)).toEqual(['sites: expected a list of sites ({ name, select, up, down }); got a mapping']);
    expect(problems(`${BASE}sites: [5]\n`)).toEqual(['sites[0]: expected a mapping with keys name, select, up, down; got the number 5']);
  });

  it('let groups and events select a site\'s receivers by name', () => {
    const t = parseScenario(
      `${BASE}  groups:
    - { select: { site: home }, up: 2mbit }
events:
  - { at: 1s, select: { site: office }, down: 1mbit }
sites:
  - { name: office, select: { first: 2 }, up: 5mbit, down: 10mbit }
  - { name: home, select: { indexes: [4, 3] }, up: 1mbit, down: 2mbit }
`,
      CAPS,
    );
    expect(t.receivers.map((r) => r.upBps)).toEqual([20e6, 20e6, 20e6, 2e6, 2e6, 20e6]);
    expect(t.events).toEqual([{ atMs: 1000, receivers: [0, 1], downBps: 1e6 }]);
  });

  it('report an unknown site name where one is referred to, and a site selected by site', () => {
    expect(
      problems(`${BASE}  groups:
    - { select: { site: attic }, up: 2mbit }
events:
  - { at: 1s, select: { site: 5 }, down: 1mbit }
sites:
  - { name: office, select: { site: office }, up: 5mbit, down: 10mbit }
`),
    ).toEqual([
      'receivers.groups[0].select.site: unknown site "attic" (sites: office)',
      'events[0].select.site: unknown site the number 5 (sites: office)',
      "sites[0].select.site: a site's receivers are chosen by index (first, last, index, indexes, every), not by another site",
    ]);
    expect(problems(`${BASE}  groups:
    - { select: { site: office }, up: 2mbit }
`)).toEqual([
      'receivers.groups[0].select.site: unknown site "office" (this scenario has no sites)',
    ]);
  });
});
