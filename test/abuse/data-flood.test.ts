/** Abuse: a flood of one-byte DATA frames, and HELLOs with random ids. */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawPeer, sha256 } from '../helpers/raw-peer.js';
import { checkMemory, checkUnchanged, fragments, legitSend, startTarget, type Target } from './helpers.js';

let t: Target;

describe('abuse: tiny DATA frames and random HELLOs', () => {
  beforeAll(async () => {
    t = await startTarget(['--hello-timeout-ms', '2000']);
    await legitSend(t);
  });
  afterAll(async () => t?.stop());

  it('a flood of one-byte DATA frames (1 MiB of payload, 6 MiB of frames) stores intact in bounded memory', async () => {
    const before = fragments(t.out);
    const tid = randomBytes(16);
    const bytes = randomBytes(1 << 20);
    const p = await RawPeer.connect(t.port);
    expect(await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 })).toEqual({ offset: 0 });
    // Build the frames in 64 KiB-payload slabs and respect backpressure, as a fast peer would.
    for (let i = 0; i < bytes.length; i += 65536) {
      const slab = Buffer.alloc(65536 * 6);
      for (let j = 0; j < 65536; j++) {
        slab.writeUInt8(3, j * 6);
        slab.writeUInt32BE(1, j * 6 + 1);
        slab[j * 6 + 5] = bytes[i + j]!;
      }
      if (!p.send(slab)) await new Promise((r) => p.socket.once('drain', r));
    }
    p.end(sha256(bytes));
    expect((await p.waitFor('ack', 60_000))?.type).toBe('ack');
    expect(readFileSync(join(t.out, `${tid.toString('hex')}.0.frag`)).equals(bytes)).toBe(true);
    checkUnchanged(t.out, before);
    await legitSend(t);
    checkMemory(t, 'one-byte DATA flood');
  }, 120_000);

  it('2,000 HELLOs with random ids and lengths leave no .part behind and disturb nothing', async () => {
    const before = fragments(t.out);
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const p = await RawPeer.connect(t.port + (round % 2));
          // Lengths up to 64 GiB: the large ones are refused by the free-space reserve, the rest admitted.
          const lengthBytes = randomInt(1, 2 ** 36);
          await p.hello({ transferId: randomBytes(16), index: randomInt(0, 1000), count: 1000, lengthBytes, offsetBytes: 0 }).catch(() => null);
          p.close();
        }),
      );
    }
    // A session that stored nothing leaves no .part (before, every HELLO left one for ever).
    const parts = (): string[] => readdirSync(t.out).filter((n) => n.endsWith('.part'));
    const deadline = Date.now() + 5000;
    while (parts().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(parts()).toEqual([]);
    checkUnchanged(t.out, before);
    await legitSend(t);
    checkMemory(t, 'random HELLOs');
  }, 120_000);
});
