/**
 * IP multicast on the lab's bridge (root only): a Node UDP sender in the source's namespace sends
 * to a group, Node receivers in three receiver namespaces count what arrives. Checks what the
 * bounds assume: a multicast packet crosses the source's up link once (its eth0 sends one copy per
 * datagram, not one per receiver), the bridge gives each receiver's port one copy, and each
 * receiver then gets min(u_s, d_i) (shaping on its own down link): smoke, noisy machine, so the
 * rates are checked within 15 %.
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
const ledgerDir = mkdtempSync(join(tmpdir(), 'fanout-mcast-'));
const GROUP = '239.72.9.9';
const PORT = 5400;
const PAYLOAD = 1000;
/** Payload bytes per link byte for a 1000-byte datagram: + UDP 8, IPv4 20, Ethernet 14. */
const GOODPUT = PAYLOAD / (PAYLOAD + 42);

afterAll(async () => {
  const left = parseNetnsList((await cmd.run(['ip', '-j', 'netns', 'list'])).stdout).filter((n) => n.startsWith(`${prefix}-`));
  if (isRoot && left.length > 0) await runClean(cmd, { ledgerDir, prefixes: [prefix] });
  rmSync(ledgerDir, { recursive: true, force: true });
});

/** `node -e code args` in a namespace; resolves with its stdout once it exits; `ready` at its first line. */
function nodeIn(ns: string, code: string, args: string[]): { out: Promise<string>; ready: Promise<void> } {
  const [file, ...rest] = execInNamespace(ns, [process.execPath, '-e', code, ...args]);
  const p = spawn(file!, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let onFirst: () => void = () => {};
  const ready = new Promise<void>((r) => (onFirst = r));
  p.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    onFirst();
  });
  return { out: new Promise((r) => p.on('close', () => r(out))), ready };
}

/** Counts datagrams for `ms` after the first, then prints {n, bytes, spanMs}. */
const RECEIVER = `
const [group, port, addr, ms] = process.argv.slice(1);
const s = require('dgram').createSocket({ type: 'udp4', reuseAddr: true });
let n = 0, bytes = 0, first = 0, last = 0;
s.on('message', (m) => { const t = Date.now(); if (n === 0) { first = t; setTimeout(() => { console.log(JSON.stringify({ n, bytes, spanMs: last - first })); s.close(); }, Number(ms)); } n++; bytes += m.length; last = t; });
s.bind(Number(port), () => { s.addMembership(group, addr); console.log('ready'); });
`;

/** Sends `count` datagrams of `size` bytes to the group from `addr`, at most 64 in flight (the qdisc paces it). */
const SENDER = `
const [group, port, addr, count, size] = process.argv.slice(1);
const s = require('dgram').createSocket('udp4');
s.bind(0, addr, () => {
  s.setMulticastInterface(addr); s.setMulticastTTL(1);
  const buf = Buffer.alloc(Number(size), 7);
  let sent = 0, done = 0;
  const pump = () => { while (sent < Number(count) && sent - done < 64) { sent++; s.send(buf, Number(port), group, () => { done++; if (done === Number(count)) { console.log('sent ' + done); s.close(); } else pump(); }); } };
  pump();
});
`;

async function txPackets(ns: string, dev: string): Promise<number> {
  const j = JSON.parse((await cmd.run(['ip', '-n', ns, '-s', '-j', 'link', 'show', 'dev', dev])).stdout) as { stats64: { tx: { packets: number } } }[];
  return j[0]!.stats64.tx.packets;
}

describe('multicast on the lab bridge', () => {
  it.skipIf(!isRoot)('costs the source one copy and each receiver its own link, at min(u_s, d_i) (needs root)', async () => {
    const downs = [5e6, 10e6, 40e6];
    const upS = 20e6;
    const receivers = downs.map((d, i) => ({ index: i, downBps: d, upBps: d }));
    const net = await NetnsNetwork.up({ receivers, sender: { upBps: upS } }, { commander: cmd, ledgerDir, prefix });
    try {
      const settings = JSON.parse((await cmd.run(['ip', '-n', `${prefix}-br`, '-d', '-j', 'link', 'show', 'dev', `${prefix}-br`])).stdout) as { linkinfo: { info_data: { mcast_snooping: number; mcast_querier: number } } }[];
      expect(settings[0]!.linkinfo.info_data).toMatchObject({ mcast_snooping: 0, mcast_querier: 0 });
      const route = (await cmd.run(['ip', '-n', net.receivers[0]!.ns, 'route', 'show', '224.0.0.0/4'])).stdout;
      expect(route).toMatch(/^224\.0\.0\.0\/4 dev eth0/);

      const count = 3000; // 3 MB: 1.25 s through the source's 20 Mbit/s
      const sBefore = await txPackets(net.senderNs, 'eth0');
      const portsBefore = await Promise.all(net.receivers.map((r) => txPackets(`${prefix}-br`, `${prefix}-r${r.index}`)));
      const rx = net.receivers.map((r) => nodeIn(r.ns, RECEIVER, [GROUP, String(PORT), r.address, '2000']));
      await Promise.all(rx.map((r) => r.ready));
      const tx = nodeIn(net.senderNs, SENDER, [GROUP, String(PORT), net.senderAddress, String(count), String(PAYLOAD)]);
      expect(await tx.out).toContain(`sent ${count}`);
      const got = (await Promise.all(rx.map((r) => r.out))).map((o) => JSON.parse(o.split('\n').find((l) => l.startsWith('{'))!) as { n: number; bytes: number; spanMs: number });
      await new Promise((r) => setTimeout(r, 2000)); // the source's and the ports' queues drain
      const sSent = (await txPackets(net.senderNs, 'eth0')) - sBefore;
      const portsSent = (await Promise.all(net.receivers.map((r) => txPackets(`${prefix}-br`, `${prefix}-r${r.index}`)))).map((v, i) => v - portsBefore[i]!);

      // One copy left the source per datagram (a few IGMP reports aside), not one per receiver.
      expect(sSent).toBeGreaterThanOrEqual(count);
      expect(sSent).toBeLessThan(count * 1.05);
      // The bridge put at most one copy of each on every receiver's port.
      for (const p of portsSent) expect(p).toBeLessThan(count * 1.05);
      const msg = JSON.stringify({ got, sSent, portsSent });
      if (process.env['FANOUT_SHOW']) process.stderr.write(`multicast smoke: ${msg}\n`);
      got.forEach((g, i) => {
        const want = (Math.min(upS, downs[i]!) / 8) * GOODPUT; // payload bytes/s
        const rate = g.bytes / (g.spanMs / 1000);
        expect(rate / want, `receiver ${i} (down ${downs[i]! / 1e6} Mbit/s): ${msg}`).toBeGreaterThan(0.85);
        expect(rate / want, `receiver ${i} (down ${downs[i]! / 1e6} Mbit/s): ${msg}`).toBeLessThan(1.15);
      });
      // The receiver above the source's rate got (nearly) everything; the 5 Mbit/s one, in its 2 s, well under.
      expect(got[2]!.n, msg).toBeGreaterThan(count * 0.98);
      expect(got[0]!.n, msg).toBeLessThan(count * 0.75);
    } finally {
      await net.down();
    }
  }, 60_000);
});
