import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError, RecordingCommander } from '../../lab/commander.js';
import { NetnsNetwork, mapLimit } from '../../lab/netns/backend.js';
import { planNetwork, type NetnsPlan } from '../../lab/netns/plan.js';
import { SafetyError, checkLabInterface, lastJsonArray, parseLinkList, type LinkInfo } from '../../lab/netns/safety.js';
import type { ProcessOps } from '../../lab/netns/teardown.js';

const topo = {
  receivers: [
    { index: 0, downBps: 10_000_000, upBps: 5_000_000 },
    { index: 1, downBps: 50_000_000, upBps: 20_000_000 },
  ],
  sender: { upBps: 1_000_000_000 },
};
const P = 'fl0a1b';
const plan: NetnsPlan = planNetwork(topo, P);

/** `ip -j link show` JSON as iproute2 6.1 prints it (trimmed to the fields that matter). */
function bridgeListing(ports: { name: string; master?: string }[]): string {
  const entries: object[] = [
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], link_type: 'loopback' },
    { ifindex: 2, ifname: `${P}-br`, flags: ['UP'], link_type: 'ether' },
    ...ports.map((p, i) => ({ ifindex: 3 + i, link_index: 2, ifname: p.name, ...(p.master ? { master: p.master } : {}), link_type: 'ether', link_netnsid: i })),
  ];
  return JSON.stringify(entries);
}
const allPorts = [`${P}-s`, `${P}-r0`, `${P}-r1`].map((name) => ({ name, master: `${P}-br` }));
const hostListing = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], link_type: 'loopback' },
  { ifindex: 2, link_index: 3, ifname: 'eth0', flags: ['UP'], link_type: 'ether', address: '02:00:00:00:00:0a', link_netnsid: 0 },
]);

function listings(bridge: string, hosts: Record<string, string> = {}): Map<string, LinkInfo[]> {
  const m = new Map<string, LinkInfo[]>([[plan.bridgeNs, parseLinkList(bridge)]]);
  for (const ns of [plan.sender.ns, ...plan.receivers.map((r) => r.ns)]) m.set(ns, parseLinkList(hosts[ns] ?? hostListing));
  return m;
}

describe('safety check', () => {
  const ok = listings(bridgeListing(allPorts));

  it('accepts the lab bridge ports in the bridge namespace and eth0 in host namespaces', () => {
    expect(checkLabInterface(plan, ok, `${P}-br`, `${P}-r1`).ifname).toBe(`${P}-r1`);
    expect(checkLabInterface(plan, ok, `${P}-r0`, 'eth0').ifindex).toBe(2);
  });

  it('refuses an interface without the prefix', () => {
    const withEth0 = listings(bridgeListing([...allPorts, { name: 'eth0', master: `${P}-br` }]));
    expect(() => checkLabInterface(plan, withEth0, `${P}-br`, 'eth0')).toThrow(SafetyError);
    expect(() => checkLabInterface(plan, withEth0, `${P}-br`, 'eth0')).toThrow('name does not carry the prefix fl0a1b-');
    expect(() => checkLabInterface(plan, ok, `${P}-br`, 'fl9999-r0')).toThrow('name does not carry the prefix');
  });

  it('refuses an interface listed in another namespace than expected', () => {
    // r0's port is missing from the bridge namespace's listing (say it sits in the root namespace)
    const moved = listings(bridgeListing(allPorts.filter((p) => p.name !== `${P}-r0`)));
    expect(() => checkLabInterface(plan, moved, `${P}-br`, `${P}-r0`)).toThrow('not listed in that namespace');
    // a receiver's eth0 that is not in its namespace
    const noEth0 = listings(bridgeListing(allPorts), { [`${P}-r1`]: JSON.stringify([{ ifindex: 1, ifname: 'lo' }]) });
    expect(() => checkLabInterface(plan, noEth0, `${P}-r1`, 'eth0')).toThrow('not listed in that namespace');
  });

  it('refuses namespaces that are not this run, and non-eth0 names in hosts', () => {
    expect(() => checkLabInterface(plan, ok, 'fl9999-r0', 'eth0')).toThrow('namespace is not one of run fl0a1b');
    expect(() => checkLabInterface(plan, ok, 'myns', 'eth0')).toThrow(SafetyError);
    expect(() => checkLabInterface(plan, ok, `${P}-r7`, 'eth0')).toThrow('not a namespace of this plan');
    expect(() => checkLabInterface(plan, ok, `${P}-r0`, 'lo')).toThrow('a host namespace holds only eth0');
    expect(() => checkLabInterface(plan, ok, `${P}-r0`, `${P}-r0`)).toThrow(SafetyError);
  });

  it('refuses a prefixed port that is not on the lab bridge', () => {
    const loose = listings(bridgeListing(allPorts.map((p) => (p.name === `${P}-r1` ? { name: p.name } : p))));
    expect(() => checkLabInterface(plan, loose, `${P}-br`, `${P}-r1`)).toThrow("not a port of the lab's bridge fl0a1b-br (master: none)");
  });

  it('refuses when no listing was taken', () => {
    expect(() => checkLabInterface(plan, new Map(), `${P}-br`, `${P}-r0`)).toThrow('no listing');
  });

  it('reads the last JSON array of a batch output', () => {
    expect(lastJsonArray('[{"ifindex":1,"ifname":"lo"}]\n[{"ifindex":2,"ifname":"eth0"}]\n')).toBe('[{"ifindex":2,"ifname":"eth0"}]');
    expect(() => lastJsonArray('')).toThrow(SyntaxError);
  });
});

describe('NetnsNetwork with a recording commander', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-netns-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const noProcs: ProcessOps = { readCmdline: async () => null, kill: () => {} };
  let present: string[] = [];

  function commander(bridge = bridgeListing(allPorts)): RecordingCommander {
    present = [];
    return new RecordingCommander()
      .on({ match: (a) => a.join(' ') === `ip -n ${P}-br -j link show`, stdout: `${bridge}\n` })
      .on({ match: (a) => a[0] === 'ip' && a[1] === '-j' && a[2] === '-n', stdout: `${hostListing}\n` })
      .on({
        match: (a) => a.join(' ') === 'ip -batch -',
        stdout: (_a, input) => {
          present = input!.trim().split('\n').map((l) => l.replace('netns add ', ''));
          return '';
        },
      })
      .on({ match: (a) => a.join(' ') === 'ip -j netns list', stdout: () => JSON.stringify(present.map((name) => ({ name }))) });
  }

  it('records each namespace once it exists, every link before the command that makes it', async () => {
    const ledgerFile = join(dir, `${P}.jsonl`);
    const seen: string[][] = [];
    const rec = commander();
    const original = rec.run.bind(rec);
    rec.run = async (argv, opts) => {
      seen.push(existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').trim().split('\n') : []);
      return original(argv, opts);
    };
    const net = await NetnsNetwork.up(topo, { commander: rec, ledgerDir: dir, prefix: P, processOps: noProcs });
    // call 0 lists namespaces (is the prefix free?) before any ledger exists
    expect(rec.calls[0]!.argv).toEqual(['ip', '-j', 'netns', 'list']);
    expect(seen.shift()).toEqual([]);
    // first making call (netns add batch): only the header; the namespaces are recorded once made
    expect(seen[0]!.map((l) => JSON.parse(l).kind)).toEqual(['run']);
    expect(seen[1]!.slice(0, 5).map((l) => JSON.parse(l).kind)).toEqual(['run', 'netns', 'netns', 'netns', 'netns']);
    // second call (bridge batch): the bridge, 3 ports and 3 eth0 already written
    expect(seen[1]!.slice(5).map((l) => JSON.parse(l))).toEqual([
      { kind: 'link', ns: `${P}-br`, name: `${P}-br` },
      { kind: 'link', ns: `${P}-br`, name: `${P}-s` },
      { kind: 'link', ns: `${P}-br`, name: `${P}-r0` },
      { kind: 'link', ns: `${P}-br`, name: `${P}-r1` },
      { kind: 'link', ns: `${P}-s`, name: 'eth0' },
      { kind: 'link', ns: `${P}-r0`, name: 'eth0' },
      { kind: 'link', ns: `${P}-r1`, name: 'eth0' },
    ]);
    expect(net.senderNs).toBe(`${P}-s`);
    expect(net.senderAddress).toBe('198.18.0.1');
    expect(net.receivers).toEqual([
      { index: 0, ns: `${P}-r0`, address: '198.18.0.2' },
      { index: 1, ns: `${P}-r1`, address: '198.18.0.3' },
    ]);
    await net.down();
  });

  it('runs bring-up, a timed event, and teardown with the exact commands', async () => {
    const rec = commander();
    const net = await NetnsNetwork.up(topo, { commander: rec, ledgerDir: dir, prefix: P, processOps: noProcs });
    const upLines = rec.lines().sort();
    expect(upLines).toEqual(
      [
        'ip -j netns list',
        'ip -batch -',
        `ip -n ${P}-br -batch -`,
        `ip -n ${P}-br -j link show`,
        `ip -j -n ${P}-s -batch -`,
        `ip -j -n ${P}-r0 -batch -`,
        `ip -j -n ${P}-r1 -batch -`,
        `ip -n ${P}-s -batch -`,
        `ip -n ${P}-r0 -batch -`,
        `ip -n ${P}-r1 -batch -`,
        `tc -n ${P}-br -batch -`,
        `tc -n ${P}-s -batch -`,
        `tc -n ${P}-r0 -batch -`,
        `tc -n ${P}-r1 -batch -`,
      ].sort(),
    );
    // order: namespaces, then bridge, then the rest; shaping only after every listing
    expect(rec.lines().slice(0, 3)).toEqual(['ip -j netns list', 'ip -batch -', `ip -n ${P}-br -batch -`]);
    const firstTc = rec.lines().findIndex((l) => l.startsWith('tc'));
    // the listings (bridge + 3 hosts), then every host's pinned neighbours, then shaping
    expect(rec.lines().slice(3, firstTc)).toHaveLength(7);
    const pins = rec.calls.find((c) => c.argv.join(' ') === `ip -n ${P}-r0 -batch -`)!;
    expect(pins.input).toBe(
      `neigh replace 198.18.0.1 lladdr 02:00:00:00:00:0a dev eth0 nud permanent\nneigh replace 198.18.0.3 lladdr 02:00:00:00:00:0a dev eth0 nud permanent\n`,
    );

    rec.calls.length = 0;
    await net.applyEvent({ atMs: 1500, receivers: [1], downBps: 20_000_000, upBps: 8_000_000 });
    expect(rec.calls.map((c) => c.argv.join(' ')).sort()).toEqual([
      `tc -n ${P}-br class change dev ${P}-r1 parent 1: classid 1:1 htb rate 20000000bit ceil 20000000bit burst 4100b cburst 4100b`,
      `tc -n ${P}-r1 class change dev eth0 parent 1: classid 1:1 htb rate 8000000bit ceil 8000000bit burst 2600b cburst 2600b`,
    ]);

    rec.calls.length = 0;
    await net.setReceiverRate(0, { downBps: Infinity });
    expect(rec.lines()).toEqual([`tc -n ${P}-br qdisc del dev ${P}-r0 root`]);
    rec.calls.length = 0;
    await net.setReceiverRate(0, { downBps: 3_000_000 });
    expect(rec.calls).toEqual([
      {
        argv: ['tc', '-n', `${P}-br`, '-batch', '-'],
        input:
          `qdisc replace dev ${P}-r0 root handle 1: htb default 1\n` +
          `class replace dev ${P}-r0 parent 1: classid 1:1 htb rate 3000000bit ceil 3000000bit burst 1975b cburst 1975b\n`,
      },
    ]);
    await expect(net.setReceiverRate(5, { downBps: 1 })).rejects.toThrow('no receiver 5');

    rec.calls.length = 0;
    await net.down();
    expect(rec.calls).toEqual([
      { argv: ['ip', '-j', 'netns', 'list'] },
      { argv: ['ip', '-force', '-batch', '-'], input: `netns del ${P}-r1\nnetns del ${P}-r0\nnetns del ${P}-s\nnetns del ${P}-br\n` },
    ]);
    expect(existsSync(join(dir, `${P}.jsonl`))).toBe(false);
    expect(await net.down()).toBeNull();
    await expect(net.setReceiverRate(0, { downBps: 1e6 })).rejects.toThrow('network is down');
  });

  it('refuses to shape when a listing does not prove the interface is the lab one, and tears down', async () => {
    const rec = commander(bridgeListing(allPorts.filter((p) => p.name !== `${P}-r1`)));
    await expect(NetnsNetwork.up(topo, { commander: rec, ledgerDir: dir, prefix: P, processOps: noProcs })).rejects.toThrow(SafetyError);
    expect(rec.lines().some((l) => l.startsWith('tc'))).toBe(false);
    expect(rec.lines().slice(-2)).toEqual(['ip -j netns list', 'ip -force -batch -']);
    expect(existsSync(join(dir, `${P}.jsonl`))).toBe(false);
  });

  it('tears down what exists when bring-up fails half way', async () => {
    let listed = 0;
    const failing = new RecordingCommander([
      { match: (a) => a.join(' ') === `ip -n ${P}-br -batch -`, error: new CommandError(['ip'], 2, 'RTNETLINK answers: File exists') },
      // before bring-up only 'myns' exists; after the failure, br and s were made (r0, r1 not)
      { match: (a) => a.join(' ') === 'ip -j netns list', stdout: () => JSON.stringify((listed++ === 0 ? [] : [{ name: `${P}-br` }, { name: `${P}-s` }]).concat([{ name: 'myns' }])) },
    ]);
    await expect(NetnsNetwork.up(topo, { commander: failing, ledgerDir: dir, prefix: P, processOps: noProcs })).rejects.toThrow('File exists');
    expect(failing.calls.at(-1)).toEqual({ argv: ['ip', '-force', '-batch', '-'], input: `netns del ${P}-s\nnetns del ${P}-br\n` });
  });

  it('refuses a prefix some namespace already uses, before making anything', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.join(' ') === 'ip -j netns list', stdout: `[{"name":"${P}-r3"}]` }]);
    await expect(NetnsNetwork.up(topo, { commander: rec, ledgerDir: dir, prefix: P, processOps: noProcs })).rejects.toThrow(
      `prefix ${P} is in use by namespace ${P}-r3`,
    );
    expect(rec.lines()).toEqual(['ip -j netns list']);
    expect(existsSync(join(dir, `${P}.jsonl`))).toBe(false);
  });

  it('kills recorded processes first, only when their cmdline still matches', async () => {
    const rec = commander();
    const killed: number[] = [];
    const ops: ProcessOps = {
      readCmdline: async (pid) => (pid === 101 ? ['node', 'receiver.js'] : pid === 102 ? ['bash'] : null),
      kill: (pid) => void killed.push(pid),
    };
    const net = await NetnsNetwork.up(topo, { commander: rec, ledgerDir: dir, prefix: P, processOps: ops });
    await net.recordProcess(101, { ns: `${P}-r0`, cmdline: ['node', 'receiver.js'] });
    await net.recordProcess(102, { ns: `${P}-r1`, cmdline: ['node', 'receiver.js'] });
    await net.recordProcess(103);
    const report = await net.down();
    expect(killed).toEqual([101]);
    expect(report!.skippedPids).toEqual([
      { pid: 103, reason: 'gone' },
      { pid: 102, reason: 'now another program: bash' },
    ]);
    expect(report!.deletedNamespaces).toEqual([`${P}-r1`, `${P}-r0`, `${P}-s`, `${P}-br`]);
  });
});

describe('mapLimit', () => {
  it('keeps at most limit in flight and returns results in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return x * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
  });

  it('rejects with the first error after all settle', async () => {
    let done = 0;
    await expect(
      mapLimit([1, 2, 3], 2, async (x) => {
        if (x === 1) throw new Error('one');
        await new Promise((r) => setTimeout(r, 5));
        done++;
      }),
    ).rejects.toThrow('one');
    expect(done).toBe(2);
  });
});
