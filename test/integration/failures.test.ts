/**
 * Failing nodes, over real loopback TCP: one refuses connections, one accepts and never reads.
 * The sender retries with backoff, gives each up after its retries, and every other node
 * completes; the summary names the failed nodes and why; the exit status is 1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBasePort, runSend, startReceiver, type Receiver } from '../helpers/procs.js';

describe('nodes that refuse or stop reading', () => {
  let dir: string;
  let rx: Receiver;
  let mute: Server;
  const muteSockets: Socket[] = [];
  let base: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-fail-'));
    writeFileSync(join(dir, 'src.bin'), randomBytes(4 << 20));
    base = randomBasePort(8);
    rx = await startReceiver(['--listen', `127.0.0.1:${base}-${base + 5}`, '--out', join(dir, 'out')]);
    // Port base+7: accepts, never reads, never answers (a hung node). Port base+6: nothing listens.
    mute = createServer((s) => {
      s.pause();
      muteSockets.push(s);
    });
    await new Promise<void>((r) => mute.listen(base + 7, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    await rx?.stop();
    for (const s of muteSockets) s.destroy();
    await new Promise((r) => mute?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries with backoff, gives up on them, completes the others, exits 1 naming them', async () => {
    const tid = randomBytes(16).toString('hex');
    const nodes = Array.from({ length: 8 }, (_, i) => `127.0.0.1:${base + i}`).join(',');
    const r = await runSend([
      '--file', join(dir, 'src.bin'), '--nodes', nodes, '--rate-kbps', 'unlimited', '--strategy', 'backpressure',
      '--transfer-id', tid, '--retries', '2', '--stall-timeout-ms', '800', '--connect-timeout-ms', '800',
    ]);
    expect(r.code).toBe(1);
    const s = r.summary!;
    expect(s.ok).toBe(false);
    expect(s.failed.map((f: { index: number }) => f.index).sort()).toEqual([6, 7]);
    const refused = s.failed.find((f: { index: number }) => f.index === 6);
    const hung = s.failed.find((f: { index: number }) => f.index === 7);
    expect(refused.reason).toMatch(/ECONNREFUSED.*gave up after 3 attempts/);
    expect(hung.reason).toMatch(/(no answer to connect or HELLO|stalled).*gave up after 3 attempts/);
    // Backoff between attempts: three error events per failed node, retryInMs growing, the last null.
    for (const index of [6, 7]) {
      const errs = r.events.filter((e) => e.event === 'error' && e.index === index);
      expect(errs.map((e) => e.retryInMs)).toEqual([250, 500, null]);
    }
    // Everybody else stored their fragment, byte for byte.
    const src = readFileSync(join(dir, 'src.bin'));
    const size = (4 << 20) / 8;
    for (let i = 0; i < 6; i++) {
      const stored = readFileSync(join(dir, 'out', `${tid}.${i}.frag`));
      expect(stored.equals(src.subarray(i * size, (i + 1) * size)), `fragment ${i}`).toBe(true);
      expect(s.nodes[i].doneS).not.toBeNull();
    }
    expect(s.nodes[6].doneS).toBeNull();
    expect(s.nodes[7].attempts).toBe(3);
  });
});
