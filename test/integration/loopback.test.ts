/**
 * Loopback integration: the real sender and receivers over real TCP on 127.0.0.1.
 * 63 nodes in one receiver process (one port each) plus one slow receiver process with
 * --read-rate-kbps, 64 MiB, the seed's shape. Uses the built CLI (npm test builds first).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fluidLowerBound } from '../../core/lower-bound.js';
import { randomBasePort, runSend, startReceiver, type Receiver } from '../helpers/procs.js';

const MiB = 1 << 20;
const RATE_KBPS = 200_000;
const SLOW_KBPS = 3_000;
const CHUNK = 65536;
const HEADER = 5;

describe('64 loopback nodes, one slow', () => {
  let dir: string;
  let src: Buffer;
  let fast: Receiver;
  let slow: Receiver;
  let nodes: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-loopback-'));
    src = randomBytes(64 * MiB);
    writeFileSync(join(dir, 'src.bin'), src);
    const base = randomBasePort(64);
    fast = await startReceiver(['--listen', `127.0.0.1:${base}-${base + 62}`, '--out', join(dir, 'fast')]);
    slow = await startReceiver(['--listen', `127.0.0.1:${base + 63}`, '--out', join(dir, 'slow'), '--read-rate-kbps', String(SLOW_KBPS)]);
    nodes = Array.from({ length: 64 }, (_, i) => `127.0.0.1:${base + i}`).join('\n');
    writeFileSync(join(dir, 'nodes.txt'), `# 63 fast, one slow last\n${nodes}\n`);
  });

  afterAll(async () => {
    await fast?.stop();
    await slow?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // The bound from the receivers' read rates: the slow one reads SLOW_KBPS of wire bytes, of which
  // CHUNK/(CHUNK+HEADER) is payload; the others are not limited (loopback).
  const bound = fluidLowerBound({
    fragmentBytes: Array(64).fill(MiB),
    capacityBytesPerS: [...Array(63).fill(Infinity), ((SLOW_KBPS * 1000) / 8) * (CHUNK / (CHUNK + HEADER))],
    rateBytesPerS: (RATE_KBPS * 1000) / 8,
    width: 64,
  }).seconds;

  for (const [strategy, tolerance] of [
    ['backpressure', 1.15],
    ['probe-prioritise', 1.15],
    ['round-robin', null],
  ] as const) {
    it(`${strategy}: every fragment byte-identical, rate honoured${tolerance ? ', makespan within 15 % of the bound' : ''}`, async () => {
      const tid = randomBytes(16).toString('hex');
      const r = await runSend([
        '--file', join(dir, 'src.bin'), '--nodes', join(dir, 'nodes.txt'), '--rate-kbps', String(RATE_KBPS),
        '--strategy', strategy, '--transfer-id', tid,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const s = r.summary!;
      expect(s.ok).toBe(true);
      expect(s.payloadBytes).toBe(64 * MiB);
      for (let i = 0; i < 64; i++) {
        const stored = readFileSync(join(dir, i === 63 ? 'slow' : 'fast', `${tid}.${i}.frag`));
        expect(stored.equals(src.subarray(i * MiB, (i + 1) * MiB)), `fragment ${i}`).toBe(true);
      }
      // The rate: no 1 s window above the limit by more than 1 % plus one chunk; and the limit is
      // reached (the busiest second is at least 97 % of it).
      const limitBytesPerS = (RATE_KBPS * 1000) / 8;
      expect(s.maxWindowBytes).toBeLessThanOrEqual(1.01 * limitBytesPerS + CHUNK + HEADER);
      expect(s.maxWindowBytes).toBeGreaterThanOrEqual(0.97 * limitBytesPerS);
      expect(s.makespanS).toBeGreaterThan(0.99 * bound); // timer granularity: 1 %
      if (tolerance) expect(s.makespanS, `bound ${bound.toFixed(3)} s`).toBeLessThan(tolerance * bound);
      // Events: one connected, first-byte and acked per node, times in order.
      for (const kind of ['connected', 'first-byte', 'acked']) {
        expect(r.events.filter((e) => e.event === kind)).toHaveLength(64);
      }
      const node = s.nodes[63];
      expect(node.startS).toBeLessThanOrEqual(node.firstByteS);
      expect(node.firstByteS).toBeLessThan(node.doneS);
      expect(s.wireBytes).toBeGreaterThan(s.payloadBytes);
      expect(s.maxRssBytes).toBeGreaterThan(0);
    });
  }
});

describe('a receiver killed and restarted mid-transfer', () => {
  it('is resumed from the offset it reports, and every byte arrives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-resume-'));
    try {
      const src = randomBytes(8 * MiB);
      writeFileSync(join(dir, 'src.bin'), src);
      const base = randomBasePort(8);
      const listen = ['--listen', `127.0.0.1:${base}-${base + 7}`, '--out', join(dir, 'out')];
      let rx = await startReceiver(listen);
      const tid = randomBytes(16).toString('hex');
      let killed = false;
      let restarted: Promise<void> | null = null;
      const run = runSend(
        ['--file', join(dir, 'src.bin'), '--nodes', Array.from({ length: 8 }, (_, i) => `127.0.0.1:${base + i}`).join(','),
          '--rate-kbps', '20000', '--strategy', 'backpressure', '--transfer-id', tid],
        (ev) => {
          // Kill the receiver (SIGKILL: no goodbye) once about half the data is out, restart it 300 ms later.
          if (!killed && ev.event === 'first-byte' && ev.index === 7) {
            killed = true;
            restarted = (async () => {
              await new Promise((r) => setTimeout(r, 1200));
              await rx.stop('SIGKILL');
              await new Promise((r) => setTimeout(r, 300));
              rx = await startReceiver(listen);
            })();
          }
        },
      );
      const r = await run;
      await restarted;
      await rx.stop();
      expect(r.code, r.stderr).toBe(0);
      const errors = r.events.filter((e) => e.event === 'error');
      expect(errors.length).toBeGreaterThan(0);
      const resumed = r.events.filter((e) => e.event === 'connected' && e.attempt > 1 && e.offsetBytes > 0);
      expect(resumed.length).toBeGreaterThan(0);
      for (let i = 0; i < 8; i++) {
        const stored = readFileSync(join(dir, 'out', `${tid}.${i}.frag`));
        expect(stored.equals(src.subarray(i * MiB, (i + 1) * MiB)), `fragment ${i}`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
