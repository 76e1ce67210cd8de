/**
 * Real sites on netns (root only): a site of 3 receivers behind a 10 Mbit/s (in) / 5 Mbit/s (out)
 * trunk, one receiver on the core, every host link 100 Mbit/s. Plain TCP streams from Node
 * sockets, goodput measured at the receiving end over the middle of each stream, show that the
 * trunk limits what enters and leaves the site *in aggregate*, and that traffic between two
 * members of the site does not touch it. Then nothing is left behind.
 *
 * Timings are noisy on a shared 2-core machine: the checks are loose on purpose (the trunk caps
 * within 15 %, intra-site at least 4x the trunk); the figures are printed for the record.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runClean } from '../../lab/clean.js';
import { RealCommander } from '../../lab/commander.js';
import { NetnsNetwork } from '../../lab/netns/backend.js';
import { execInNamespace, parseNetnsList } from '../../lab/netns/commands.js';
import { makeRunPrefix } from '../../lab/netns/plan.js';

const isRoot = process.getuid?.() === 0;
const cmd = new RealCommander();
const prefix = makeRunPrefix();
const ledgerDir = mkdtempSync(join(tmpdir(), 'fanout-sites-e2e-'));
const PORT = 5301;
const STREAM_MS = 5000;

async function labNamespaces(): Promise<string[]> {
  return parseNetnsList((await cmd.run(['ip', '-j', 'netns', 'list'])).stdout).filter((n) => n.startsWith(`${prefix}-`));
}

/** Starts `node -e code args` in `ns`, recorded in the run's ledger; resolves its stdout when it exits. */
async function nodeIn(net: NetnsNetwork, ns: string, code: string, args: string[]): Promise<{ out: Promise<string>; ready: Promise<void> }> {
  const argv = execInNamespace(ns, [process.execPath, '-e', code, ...args]);
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await net.recordProcess(p.pid!, { ns, cmdline: argv });
  let out = '';
  let onFirst: () => void = () => {};
  const ready = new Promise<void>((r) => (onFirst = r));
  p.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    onFirst();
  });
  return { out: new Promise((r) => p.on('close', () => r(out))), ready };
}

// Sink: accepts `n` connections on addr:PORT; for each, the bytes that arrived in each 100 ms of
// the machine's clock (one clock for every namespace), so flows are compared over one window.
const SINK = `
const [addr, n] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const out = [];
const s = require('net').createServer((c) => {
  const buckets = {};
  c.on('data', (d) => { const b = Math.floor(Date.now() / 100); buckets[b] = (buckets[b] || 0) + d.length; });
  c.on('close', () => {
    out.push(buckets);
    if (out.length === n) { console.log(JSON.stringify(out)); s.close(); }
  });
}).listen(${PORT}, addr, () => console.log('ready'));
`;
// Source: streams to addr:PORT for STREAM_MS, then closes.
const SOURCE = `
const [addr, ms] = process.argv.slice(1);
const buf = Buffer.alloc(65536, 7);
const c = require('net').connect(${PORT}, addr, () => {
  const end = Date.now() + Number(ms);
  const pump = () => { while (Date.now() < end) { if (!c.write(buf)) return c.once('drain', pump); } c.destroy(); };
  pump();
});
`;

/**
 * Streams from each `from` namespace to its `to` receiver at once. Returns each flow's goodput,
 * bit/s, over the window all of them were running (1 s after the last first byte to 0.5 s before
 * the first stream's end), so a sum over flows is a sum over one and the same time. Order: by
 * destination in order of first appearance, flows to one destination in the order they closed
 * (the callers only sum those).
 */
async function streams(net: NetnsNetwork, flows: { from: string; to: number }[]): Promise<number[]> {
  const byDest = new Map<number, number>();
  for (const f of flows) byDest.set(f.to, (byDest.get(f.to) ?? 0) + 1);
  const sinks = new Map<number, { out: Promise<string>; ready: Promise<void> }>();
  for (const [to, n] of byDest) {
    const r = net.receivers[to]!;
    sinks.set(to, await nodeIn(net, r.ns, SINK, [r.address, String(n)]));
  }
  await Promise.all([...sinks.values()].map((s) => s.ready));
  for (const f of flows) await nodeIn(net, f.from, SOURCE, [net.receivers[f.to]!.address, String(STREAM_MS)]);
  const all: Record<string, number>[] = [];
  for (const s of sinks.values()) all.push(...(JSON.parse((await s.out).trim().split('\n').pop()!) as Record<string, number>[]));
  const keys = all.map((b) => Object.keys(b).map(Number));
  const from = Math.max(...keys.map((k) => Math.min(...k))) + 10; // 1 s after the last flow's first byte
  const to = Math.min(...keys.map((k) => Math.min(...k))) + STREAM_MS / 100 - 5; // 0.5 s before the first flow's end
  if (!(to > from)) throw new Error(`the flows did not overlap long enough (${from}..${to})`);
  return all.map((b) => {
    let bytes = 0;
    for (let k = from; k < to; k++) bytes += b[k] ?? 0;
    return (bytes * 8) / ((to - from) / 10);
  });
}

afterAll(async () => {
  if (isRoot && (await labNamespaces()).length > 0) await runClean(cmd, { ledgerDir, prefixes: [prefix] });
  rmSync(ledgerDir, { recursive: true, force: true });
});

const mbit = (bps: number): string => `${(bps / 1e6).toFixed(1)} Mbit/s`;

describe('sites on netns (needs root)', () => {
  it.skipIf(!isRoot)('a trunk limits the site in aggregate, each way; traffic inside the site does not cross it', { timeout: 90_000 }, async () => {
    const receivers = [0, 1, 2, 3].map((index) => ({ index, downBps: 100e6, upBps: 100e6 }));
    const sites = [{ name: 'office', receivers: [0, 1, 2], upBps: 5e6, downBps: 10e6 }];
    const net = await NetnsNetwork.up({ receivers, sender: { upBps: 200e6 }, sites }, { commander: cmd, ledgerDir, prefix });
    try {
      const s = net.senderNs;
      const ns = (i: number): string => net.receivers[i]!.ns;
      // Into the site: two streams from the source share the 10 Mbit/s trunk down.
      const into = await streams(net, [{ from: s, to: 0 }, { from: s, to: 1 }]);
      // Inside the site: 0 -> 1 alone, then 1 -> 2 while the source streams into 0 across the trunk.
      const [inside] = await streams(net, [{ from: ns(0), to: 1 }]);
      const mixed = await streams(net, [{ from: ns(1), to: 2 }, { from: s, to: 0 }]);
      // Out of the site: two members stream to the core receiver, sharing the 5 Mbit/s trunk up.
      const out = await streams(net, [{ from: ns(0), to: 3 }, { from: ns(1), to: 3 }]);
      // Outside both: source -> receiver 3 is not slowed by the site.
      const [core] = await streams(net, [{ from: s, to: 3 }]);
      const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
      console.log(
        `sites smoke (noisy machine): into site 2 flows ${into.map(mbit).join(' + ')} = ${mbit(sum(into))} (trunk down 10 Mbit/s); ` +
          `inside 0->1 ${mbit(inside!)}; inside 1->2 ${mbit(mixed[0]!)} while source->0 ${mbit(mixed[1]!)}; ` +
          `out of site 2 flows = ${mbit(sum(out))} (trunk up 5 Mbit/s); source->core receiver ${mbit(core!)} (link 100 Mbit/s)`,
      );
      expect(sum(into)).toBeLessThan(10e6 * 1.15);
      expect(sum(into)).toBeGreaterThan(10e6 * 0.6);
      expect(sum(out)).toBeLessThan(5e6 * 1.15);
      expect(sum(out)).toBeGreaterThan(5e6 * 0.6);
      expect(inside!).toBeGreaterThan(40e6);
      expect(mixed[0]!).toBeGreaterThan(40e6);
      expect(mixed[1]!).toBeLessThan(10e6 * 1.15);
      expect(core!).toBeGreaterThan(40e6);
      // The shaping is where the plan says: trunk down on the core end, up on the site end.
      expect((await cmd.run(['tc', '-n', `${prefix}-br`, 'class', 'show', 'dev', `${prefix}-t0`])).stdout).toContain('rate 10Mbit ceil 10Mbit');
      expect((await cmd.run(['tc', '-n', `${prefix}-br`, 'class', 'show', 'dev', `${prefix}-u0`])).stdout).toContain('rate 5Mbit ceil 5Mbit');
    } finally {
      await net.down();
    }
    expect(await labNamespaces()).toEqual([]);
  });
});
