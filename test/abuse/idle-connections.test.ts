/**
 * Abuse: 10,000 idle connections from one stranger's address (127.0.0.2). The receiver's
 * per-address cap holds the line (the rest are refused at once), the HELLO deadline drops the
 * idle ones, and a legitimate sender (127.0.0.1) stores meanwhile.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMemory, fragments, checkUnchanged, legitSend, startTarget, type Target } from './helpers.js';

const CAP = 256;
let t: Target;

/** The soft limit on open files of this (test) process. */
function openFileLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

describe('abuse: 10,000 idle connections', () => {
  beforeAll(async () => {
    t = await startTarget(['--max-connections-per-peer', String(CAP), '--hello-timeout-ms', '3000']);
  });
  afterAll(async () => t?.stop());

  it('holds at most the per-address cap, drops the idle ones at the HELLO deadline, serves a legitimate sender', async () => {
    await legitSend(t);
    const before = fragments(t.out);
    const BATCH = 500;
    let total = 10_000;
    // Our own sockets: at most the cap held plus one batch in flight, plus vitest's own files.
    const limit = openFileLimit();
    if (limit < CAP + BATCH + 200) {
      total = 1000;
      process.stdout.write(`abuse: open-file limit ${limit} is too low for the full test; scaled down to ${total} connections in batches of ${BATCH}\n`);
    }
    const open = new Set<Socket>();
    let refused = 0;
    let peakHeld = 0;
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        const s = connect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.2' });
        let settled = false;
        const done = (): void => {
          if (!settled) {
            settled = true;
            resolve();
          }
        };
        s.on('connect', () => {
          s.resume(); // read, so a refusal (ERROR then FIN) closes our end too and frees our fd
          open.add(s);
          peakHeld = Math.max(peakHeld, open.size);
          done();
        });
        s.on('error', () => {});
        s.on('close', () => {
          open.delete(s);
          refused++;
          done();
        });
      });
    for (let sent = 0; sent < total; sent += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, total - sent) }, one));
      // The kernel completes every handshake; the receiver then refuses those over its cap at once.
      const settle = Date.now() + 3000;
      while (open.size > CAP && Date.now() < settle) await new Promise((r) => setTimeout(r, 20));
      expect(open.size).toBeLessThanOrEqual(CAP);
    }
    process.stdout.write(`abuse: ${total} idle connections: ${open.size} held by the receiver (cap ${CAP}), ${refused} refused or dropped\n`);
    expect(open.size).toBeLessThanOrEqual(CAP);
    // While the stranger holds its cap, a sender from another address is served.
    await legitSend(t);
    // The HELLO deadline (3 s) drops every idle one.
    const deadline = Date.now() + 6000;
    while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(open.size).toBe(0);
    checkUnchanged(t.out, before);
    checkMemory(t, `${total} idle connections`);
    for (const s of open) s.destroy();
  }, 120_000);
});
