/**
 * Real bring-up and teardown (root only): 4 receivers, checked with ip/tc listings and one TCP
 * connection from the sender's namespace to a receiver's address, then nothing left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
const ledgerDir = mkdtempSync(join(tmpdir(), 'fanout-e2e-'));

async function labNamespaces(): Promise<string[]> {
  return parseNetnsList((await cmd.run(['ip', '-j', 'netns', 'list'])).stdout).filter((n) => n.startsWith(`${prefix}-`));
}

async function rootLinksWithPrefix(): Promise<string[]> {
  const links = JSON.parse((await cmd.run(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

/** Run `node -e code` inside a namespace; resolves with its stdout. */
function nodeIn(ns: string, code: string, args: string[] = []): { out: Promise<string>; ready: Promise<void> } {
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

afterAll(async () => {
  if (isRoot && (await labNamespaces()).length > 0) await runClean(cmd, { ledgerDir, prefixes: [prefix] });
  rmSync(ledgerDir, { recursive: true, force: true });
});

describe('netns backend on this machine', () => {
  it.skipIf(!isRoot)('brings 4 hosts up, shapes, changes a rate, and leaves nothing behind (needs root)', async () => {
    const receivers = [10e6, 20e6, 30e6, 40e6].map((r, i) => ({ index: i, downBps: r, upBps: r / 2 }));
    const net = await NetnsNetwork.up({ receivers, sender: { upBps: 500e6 } }, { commander: cmd, ledgerDir, prefix });
    try {
      expect((await labNamespaces()).sort()).toEqual([`${prefix}-br`, `${prefix}-r0`, `${prefix}-r1`, `${prefix}-r2`, `${prefix}-r3`, `${prefix}-s`]);
      expect(await rootLinksWithPrefix()).toEqual([]); // nothing of ours in the machine's own namespace
      expect(existsSync(net.ledgerPath)).toBe(true);

      const down2 = (await cmd.run(['tc', '-n', `${prefix}-br`, 'class', 'show', 'dev', `${prefix}-r2`])).stdout;
      expect(down2).toMatch(/class htb 1:1 root prio 0 rate 30Mbit ceil 30Mbit burst \d+b cburst \d+b/);
      const up1 = (await cmd.run(['tc', '-n', `${prefix}-r1`, 'class', 'show', 'dev', 'eth0'])).stdout;
      expect(up1).toContain('rate 10Mbit ceil 10Mbit');
      const addr = JSON.parse((await cmd.run(['ip', '-n', `${prefix}-r3`, '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as {
        addr_info: { family: string; local: string; prefixlen: number }[];
      }[];
      expect(addr[0]!.addr_info.filter((a) => a.family === 'inet')).toEqual([
        expect.objectContaining({ local: '198.18.0.5', prefixlen: 15 }),
      ]);

      // one TCP round trip sender -> receiver 3 across the bridge
      const r3 = net.receivers[3]!;
      const server = nodeIn(
        r3.ns,
        `const s=require('net').createServer(c=>{c.on('data',d=>{c.end('pong:'+d);s.close()})}).listen(5001,process.argv[1],()=>console.log('ready'))`,
        [r3.address],
      );
      await server.ready;
      const client = nodeIn(
        net.senderNs,
        `const c=require('net').connect(5001,process.argv[1],()=>c.write('ping'));c.on('data',d=>process.stdout.write(String(d)))`,
        [r3.address],
      );
      expect(await client.out).toBe('pong:ping');
      await server.out;

      await net.setReceiverRate(2, { downBps: 5e6 });
      expect((await cmd.run(['tc', '-n', `${prefix}-br`, 'class', 'show', 'dev', `${prefix}-r2`])).stdout).toContain('rate 5Mbit ceil 5Mbit');
    } finally {
      await net.down();
    }
    expect(await labNamespaces()).toEqual([]);
    expect(await rootLinksWithPrefix()).toEqual([]);
    expect(existsSync(net.ledgerPath)).toBe(false);
  });
});
