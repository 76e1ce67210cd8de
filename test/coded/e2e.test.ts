/**
 * End to end over loopback: the real `fanout coded serve` and three `fanout coded join` processes
 * (built CLI; npm test builds first), real UDP and TCP on 127.0.0.1, and in this test process a
 * hostile node: it registers with the server as a client, so the server names it to the others as
 * a peer, and answers every `ask` with well-formed DATA datagrams of random coefficients and
 * payload (garbage recoded packets); it also sprays each client's UDP port with random bytes,
 * truncated datagrams and packets of another session. Every client must still store the file byte
 * for byte, count what it dropped, and exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlReader, coeffBytes, encodeControl, encodeData, type Manifest } from '../../coded/wire.js';
import { FANOUT, randomBasePort } from '../helpers/procs.js';

interface Proc {
  child: ChildProcess;
  lines: Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  exited: Promise<number | null>;
  stderr: string;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [FANOUT, 'coded', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, lines: [], exited: new Promise((r) => child.once('exit', (c) => r(c))), stderr: '' };
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      p.lines.push(JSON.parse(l));
    } catch {
      // not ours
    }
  });
  child.stderr!.on('data', (b: Buffer) => (p.stderr += b.toString()));
  return p;
}

async function waitFor(p: Proc, event: string, ms: number): Promise<Record<string, unknown>> {
  const until = Date.now() + ms;
  for (;;) {
    const hit = p.lines.find((l) => l.event === event);
    if (hit) return hit;
    if (Date.now() > until) throw new Error(`no ${event} within ${ms} ms; stderr: ${p.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A node that registers as a client and answers asks with garbage; returns its teardown. */
async function hostile(serverPort: number, ctlPort: number): Promise<{ stop: () => void; garbageSent: () => number; manifest: Manifest }> {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const timers: NodeJS.Timeout[] = [];
  let sent = 0;
  let manifest: Manifest | null = null;
  const peers: Server = createServer((s: Socket) => {
    const reader = new ControlReader();
    let peerUdp = 0;
    s.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) {
        if (m.t === 'peer-hello') peerUdp = m.udp;
        if (m.t === 'ask' && manifest && peerUdp) {
          const mf = manifest;
          const seg = m.seg;
          const port = peerUdp;
          let n = 0;
          const t = setInterval(() => {
            if (n++ > 400) return clearInterval(t);
            const coeffs = randomBytes(coeffBytes(mf.field, mf.k));
            udp.send(encodeData({ session: mf.session, segment: seg, from: 99, rank: mf.k }, coeffs, randomBytes(mf.symbolBytes)), port, '127.0.0.1');
            sent++;
          }, 2);
          timers.push(t);
        }
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => peers.listen(ctlPort, '127.0.0.1', r));
  const sock = connect({ host: '127.0.0.1', port: serverPort });
  const reader = new ControlReader();
  manifest = await new Promise<Manifest>((resolve) => {
    sock.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) if (m.t === 'manifest') resolve(m);
    });
    sock.write(encodeControl({ t: 'hello', node: 99, udp: udp.address().port, ctl: ctlPort, downKbps: 1000 }));
  });
  // On every segment the others will want: the server names it to them as a peer.
  for (let s = 0; s < Math.min(16, manifest.hashes.length); s++) sock.write(encodeControl({ t: 'want', seg: s, kbps: 1000 }));
  sock.on('error', () => {});
  return {
    manifest,
    garbageSent: () => sent,
    stop: () => {
      for (const t of timers) clearInterval(t);
      sock.destroy();
      peers.close();
      udp.close();
    },
  };
}

describe.each(['rlnc', 'sparse'])('coded/%s over loopback UDP: 3 clients and a hostile peer', (variant) => {
  const procs: Proc[] = [];
  let dir = '';
  let stopHostile: (() => void) | null = null;
  afterEach(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    stopHostile?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every client stores the file byte for byte, drops and counts the garbage, and exits 0', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-coded-'));
    const src = randomBytes(1_300_000);
    writeFileSync(join(dir, 'src.bin'), src);
    const base = randomBasePort(8);
    const server = start(['serve', '--file', join(dir, 'src.bin'), '--listen', `127.0.0.1:${base}`, '--rate-kbps', '60000', '--variant', variant]);
    procs.push(server);
    await waitFor(server, 'ready', 10_000);
    const bad = await hostile(base, base + 7);
    stopHostile = bad.stop;
    const clients = [1, 2, 3].map((i) => {
      const p = start(['join', '--server', `127.0.0.1:${base}`, '--node', String(i), '--listen', `127.0.0.1:${base + i}`, '--out', join(dir, `n${i}`), '--down-kbps', '40000', '--up-kbps', '20000', '--variant', variant, '--wait-go']);
      procs.push(p);
      return p;
    });
    for (const c of clients) await waitFor(c, 'ready', 10_000);
    for (const c of clients) c.child.kill('SIGUSR1');
    // Noise at every client's data port while they work.
    const noise = createSocket('udp4');
    const spray = setInterval(() => {
      for (const i of [1, 2, 3]) {
        noise.send(randomBytes(1 + Math.floor(Math.random() * 1400)), base + i, '127.0.0.1');
        const other = encodeData({ session: (bad.manifest.session + 1) >>> 0, segment: 0, from: 0, rank: 1 }, new Uint8Array(coeffBytes(bad.manifest.field, bad.manifest.k)), new Uint8Array(bad.manifest.symbolBytes));
        noise.send(other, base + i, '127.0.0.1');
        noise.send(other.subarray(0, 30), base + i, '127.0.0.1');
      }
    }, 5);
    const codes = await Promise.all(clients.map((c) => c.exited));
    clearInterval(spray);
    noise.close();
    expect(codes, clients.map((c) => c.stderr).join('\n')).toEqual([0, 0, 0]);
    let dropped = 0;
    let fromPeers = 0;
    let hashFailures = 0;
    for (const [k, c] of clients.entries()) {
      expect(readFileSync(join(dir, `n${k + 1}`, 'src.bin')).equals(src)).toBe(true);
      expect(readdirSync(join(dir, `n${k + 1}`))).toEqual(['src.bin']); // the temp name is gone
      const final = c.lines.find((l) => l.event === 'final')!;
      expect(final.counters.received).toBeGreaterThan(0);
      expect(final.counters.headerBytesPerPacket).toBe(variant === 'rlnc' ? 18 + 64 : 18 + 8);
      dropped += Object.values(final.counters.dropped as Record<string, number>).reduce((a, b) => a + b, 0);
      fromPeers += final.counters.fromPeers;
      hashFailures += final.counters.hashFailures;
      expect(c.lines.some((l) => l.event === 'done')).toBe(true);
      // first-byte carries the time the first packet came, not when a progress tick noticed it (or
      // the done line's, for a transfer shorter than a tick): early in the transfer.
      const at = (e: string): number => c.lines.find((l) => l.event === e)!.wallMs as number;
      expect(at('first-byte')).toBeGreaterThanOrEqual(at('go'));
      expect(at('first-byte') - at('go')).toBeLessThan(0.5 * (at('done') - at('go')));
    }
    expect(dropped).toBeGreaterThan(0);
    expect(fromPeers).toBeGreaterThan(0); // they cooperated
    // The hostile peer was asked and its garbage got in somewhere: caught by the segment hashes.
    expect(bad.garbageSent()).toBeGreaterThan(0);
    expect(hashFailures).toBeGreaterThan(0);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.lines.find((l) => l.event === 'final')!.packetsSent).toBeGreaterThan(0);
  }, 90_000);
});
