import { describe, expect, it } from 'vitest';
import { bridgeSetupLines, bridgeShapingLines, shapingInvocations } from '../../lab/netns/commands.js';
import { PlanError, bridgeNsInterfaces, planNetwork } from '../../lab/netns/plan.js';
import { SafetyError, checkLabInterface, checkPlanInterfaces, parseLinkList, type LinkInfo } from '../../lab/netns/safety.js';
import { undoActions, type LedgerEntry } from '../../lab/ledger.js';
import { htbClassArgs } from '../../lab/shaping.js';

const P = 'fl0a1b';
const topo = {
  receivers: [0, 1, 2, 3].map((index) => ({ index, downBps: 50e6, upBps: 20e6 })),
  sender: { upBps: 100e6 },
  sites: [{ name: 'office', receivers: [1, 2], upBps: 4e6, downBps: 8e6 }],
};
const plan = planNetwork(topo, P);

describe('netns plan with sites', () => {
  it('puts a bridge and a trunk per site in the bridge namespace and the site receivers on it', () => {
    expect(plan.sites).toEqual([
      { index: 0, name: 'office', bridge: `${P}-b0`, coreEnd: `${P}-t0`, siteEnd: `${P}-u0`, downBps: 8e6, upBps: 4e6, receivers: [1, 2] },
    ]);
    expect(plan.receivers.map((r) => r.siteBridge)).toEqual([undefined, `${P}-b0`, `${P}-b0`, undefined]);
    expect(bridgeNsInterfaces(plan)).toEqual([
      { name: `${P}-br`, master: null },
      { name: `${P}-b0`, master: null },
      { name: `${P}-t0`, master: `${P}-br` },
      { name: `${P}-u0`, master: `${P}-b0` },
      { name: `${P}-s`, master: `${P}-br` },
      { name: `${P}-r0`, master: `${P}-br` },
      { name: `${P}-r1`, master: `${P}-b0` },
      { name: `${P}-r2`, master: `${P}-b0` },
      { name: `${P}-r3`, master: `${P}-br` },
    ]);
  });

  it('builds the site bridge and trunk before enslaving ports to it', () => {
    const lines = bridgeSetupLines(plan);
    expect(lines.slice(0, 8)).toEqual([
      'link set lo up',
      `link add ${P}-br type bridge mcast_snooping 0 mcast_querier 0`,
      `link set ${P}-br addrgenmode none`,
      `link add ${P}-b0 type bridge mcast_snooping 0 mcast_querier 0`,
      `link set ${P}-b0 addrgenmode none`,
      `link add ${P}-t0 type veth peer name ${P}-u0`,
      `link set ${P}-t0 addrgenmode none master ${P}-br up`,
      `link set ${P}-u0 addrgenmode none master ${P}-b0 up`,
    ]);
    expect(lines).toContain(`link set ${P}-r1 addrgenmode none master ${P}-b0 up`);
    expect(lines).toContain(`link set ${P}-r0 addrgenmode none master ${P}-br up`);
    expect(lines.slice(-2)).toEqual([`link set ${P}-b0 up`, `link set ${P}-br up`]);
  });

  it('shapes the trunk with HTB: down on the core end, up on the site end', () => {
    const lines = bridgeShapingLines(plan);
    expect(lines.slice(-4)).toEqual([
      `qdisc replace dev ${P}-t0 root handle 1: htb default 1`,
      `class replace dev ${P}-t0 ${htbClassArgs(8e6)}`,
      `qdisc replace dev ${P}-u0 root handle 1: htb default 1`,
      `class replace dev ${P}-u0 ${htbClassArgs(4e6)}`,
    ]);
    // every tc batch names a lab namespace
    for (const inv of shapingInvocations(plan)) expect(inv.argv.slice(0, 3)).toEqual(['tc', '-n', expect.stringMatching(/^fl0a1b-/)]);
  });

  it('leaves an unshaped trunk direction alone', () => {
    const p = planNetwork({ ...topo, sites: [{ name: 'x', receivers: [0], upBps: Infinity, downBps: 8e6 }] }, P);
    expect(bridgeShapingLines(p).filter((l) => l.includes(`${P}-u0`))).toEqual([]);
    expect(bridgeShapingLines(p).filter((l) => l.includes(`${P}-t0`))).toHaveLength(2);
  });

  it('refuses bad sites before anything is built', () => {
    expect(() => planNetwork({ ...topo, sites: [{ name: 'x', receivers: [4], upBps: 1e6, downBps: 1e6 }] }, P)).toThrow(PlanError);
    expect(() => planNetwork({ ...topo, sites: [{ name: 'x', receivers: [0], upBps: 0, downBps: 1e6 }] }, P)).toThrow(/sites\[0\]\.upBps/);
    expect(() =>
      planNetwork({ ...topo, sites: [{ name: 'x', receivers: [0], upBps: 1e6, downBps: 1e6 }, { name: 'y', receivers: [0], upBps: 1e6, downBps: 1e6 }] }, P),
    ).toThrow(/already in sites\[0\]/);
  });
});

describe('safety check with sites', () => {
  const host = parseLinkList(JSON.stringify([{ ifindex: 1, ifname: 'lo' }, { ifindex: 2, ifname: 'eth0', address: '02:00:00:00:00:0a' }]));
  const listing = (override: Record<string, string | undefined> = {}): Map<string, LinkInfo[]> => {
    const entries = bridgeNsInterfaces(plan).map((x, i) => {
      const master = x.name in override ? override[x.name] : x.master;
      return { ifindex: 2 + i, ifname: x.name, ...(master ? { master } : {}) };
    });
    const m = new Map<string, LinkInfo[]>([[plan.bridgeNs, parseLinkList(JSON.stringify(entries))]]);
    for (const h of [plan.sender, ...plan.receivers]) m.set(h.ns, host);
    return m;
  };

  it('accepts the trunk ends, the site bridge and the site ports on their own bridges', () => {
    expect(() => checkPlanInterfaces(plan, listing())).not.toThrow();
    expect(checkLabInterface(plan, listing(), plan.bridgeNs, `${P}-t0`).ifname).toBe(`${P}-t0`);
  });

  it('refuses a site port or trunk end enslaved to the wrong bridge', () => {
    expect(() => checkLabInterface(plan, listing({ [`${P}-r1`]: `${P}-br` }), plan.bridgeNs, `${P}-r1`)).toThrow(`not a port of the lab's bridge ${P}-b0`);
    expect(() => checkLabInterface(plan, listing({ [`${P}-u0`]: `${P}-br` }), plan.bridgeNs, `${P}-u0`)).toThrow(SafetyError);
    expect(() => checkLabInterface(plan, listing({ [`${P}-t0`]: undefined }), plan.bridgeNs, `${P}-t0`)).toThrow('master: none');
  });

  it('refuses a trunk name the plan does not have', () => {
    expect(() => checkLabInterface(plan, listing(), plan.bridgeNs, `${P}-t1`)).toThrow('not an interface the plan puts in');
  });
});

describe('teardown with sites', () => {
  it('the site objects go with the bridge namespace: undo deletes namespaces only', () => {
    const entries: LedgerEntry[] = [
      { kind: 'run', prefix: P, pid: 1, startedAtMs: 0 },
      { kind: 'netns', name: plan.bridgeNs },
      { kind: 'netns', name: `${P}-r1` },
      ...bridgeNsInterfaces(plan).map((x) => ({ kind: 'link' as const, ns: plan.bridgeNs, name: x.name })),
    ];
    const actions = undoActions(entries);
    expect(actions.every((a) => a.kind === 'delete-netns')).toBe(true);
    expect(actions.map((a) => (a as { name: string }).name).sort()).toEqual([plan.bridgeNs, `${P}-r1`].sort());
  });
});
