/** Abuse: two writers for one fragment; forged END digests (with and without a key); a sender without the key. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../wire/errors.js';
import { runSend } from '../helpers/procs.js';
import { RawPeer, sha256 } from '../helpers/raw-peer.js';
import { checkMemory, checkUnchanged, fragments, legitSend, startTarget, type Target } from './helpers.js';

describe('abuse without a key', () => {
  let t: Target;
  beforeAll(async () => {
    t = await startTarget();
    await legitSend(t);
  });
  afterAll(async () => t?.stop());

  it('two writers for one fragment: never both acknowledged, what is stored is one writer\'s bytes exactly', async () => {
    const before = fragments(t.out);
    for (let round = 0; round < 5; round++) {
      const tid = randomBytes(16);
      const size = 2 << 20;
      const contents = [randomBytes(size), randomBytes(size)];
      const peers = await Promise.all([RawPeer.connect(t.port), RawPeer.connect(t.port)]);
      const h = { transferId: tid, index: 0, count: 1, lengthBytes: size, offsetBytes: 0 };
      await Promise.all(
        peers.map(async (p, i) => {
          const r = await p.hello(h);
          if (!('offset' in r)) return;
          p.data(contents[i]!.subarray(r.offset));
          p.end(sha256(contents[i]!));
          await p.waitFor('ack', 10_000);
        }),
      );
      const acked = peers.map((p) => p.frames.some((f) => f.type === 'ack'));
      expect(acked.filter(Boolean).length).toBeLessThanOrEqual(1);
      const frag = join(t.out, `${tid.toString('hex')}.0.frag`);
      if (existsSync(frag)) {
        const stored = readFileSync(frag);
        expect(stored.equals(contents[0]!) || stored.equals(contents[1]!)).toBe(true);
      }
      for (const p of peers) p.close();
    }
    checkUnchanged(t.out, before);
    await legitSend(t);
    checkMemory(t, 'two writers');
  }, 120_000);

  it('a forged END digest stores nothing; against a stored fragment it replaces nothing', async () => {
    const before = fragments(t.out);
    const tid = randomBytes(16);
    const bytes = randomBytes(100_000);
    const p = await RawPeer.connect(t.port);
    await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 });
    p.data(bytes);
    p.end(sha256(randomBytes(1)));
    expect(await p.waitFor('error')).toMatchObject({ code: ErrorCode.DigestMismatch });
    expect(existsSync(join(t.out, `${tid.toString('hex')}.0.frag`))).toBe(false);
    // Every stored fragment, attacked with a forged END for its own length: all refused.
    for (const name of before.keys()) {
      const [hex, index] = name.split('.');
      const size = readFileSync(join(t.out, name)).length;
      const q = await RawPeer.connect(t.port);
      await q.hello({ transferId: Buffer.from(hex!, 'hex'), index: Number(index), count: Number(index) + 1, lengthBytes: size, offsetBytes: 0 });
      q.end(sha256(randomBytes(1)));
      expect(await q.waitFor('error')).toMatchObject({ code: ErrorCode.DigestMismatch });
      q.close();
    }
    checkUnchanged(t.out, before);
    await legitSend(t);
    checkMemory(t, 'forged END digest');
  }, 60_000);
});

describe('abuse of a receiver with --auth-key', () => {
  let t: Target;
  let keyDir: string;
  let key: Buffer;
  let keyPath: string;
  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'fanout-key-'));
    key = Buffer.from(randomBytes(32).toString('base64'));
    keyPath = join(keyDir, 'key');
    writeFileSync(keyPath, key, { mode: 0o600 });
    t = await startTarget(['--auth-key', keyPath]);
    await legitSend(t, ['--auth-key', keyPath]);
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('fanout send without the key, or with another key, fails with Auth at once and writes nothing', async () => {
    const before = fragments(t.out);
    const names = readdirSync(t.out).sort();
    const file = join(t.work, 'x.bin');
    writeFileSync(file, randomBytes(100_000));
    const wrong = join(keyDir, 'wrong');
    writeFileSync(wrong, randomBytes(32).toString('base64'));
    for (const extra of [[], ['--auth-key', wrong]]) {
      const r = await runSend(['--file', file, '--nodes', `127.0.0.1:${t.port}`, '--rate-kbps', 'unlimited', ...extra]);
      expect(r.code).toBe(1);
      expect(r.summary!.failed[0].reason).toMatch(/Auth/);
      expect(r.summary!.nodes[0].attempts).toBe(1);
    }
    expect(readdirSync(t.out).sort()).toEqual(names);
    checkUnchanged(t.out, before);
    await legitSend(t, ['--auth-key', keyPath]);
    checkMemory(t, 'sender without the key');
  }, 60_000);

  it('a forged END (a digest with a MAC under another key) stores nothing; a peer without the key cannot cancel a live transfer', async () => {
    const before = fragments(t.out);
    const tid = randomBytes(16);
    const bytes = randomBytes(200_000);
    const h = { transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 };
    const live = await RawPeer.connect(t.port);
    expect(await live.hello(h, key)).toEqual({ offset: 0 });
    live.data(bytes.subarray(0, 100_000));
    const stranger = await RawPeer.connect(t.port);
    expect(await stranger.hello(h)).toMatchObject({ error: { code: ErrorCode.Auth } });
    live.data(bytes.subarray(100_000));
    live.end(sha256(Buffer.from('forged')), randomBytes(32));
    expect(await live.waitFor('error')).toMatchObject({ code: ErrorCode.Auth });
    expect(existsSync(join(t.out, `${tid.toString('hex')}.0.frag`))).toBe(false);
    // The same transfer with the right MAC resumes and is stored.
    const again = await RawPeer.connect(t.port);
    const r = await again.hello(h, key);
    if (!('offset' in r)) throw new Error(`refused: ${JSON.stringify(r)}`);
    again.data(bytes.subarray(r.offset));
    again.end(sha256(bytes), key);
    expect((await again.waitFor('ack'))?.type).toBe('ack');
    expect(readFileSync(join(t.out, `${tid.toString('hex')}.0.frag`)).equals(bytes)).toBe(true);
    checkUnchanged(t.out, before);
    await legitSend(t, ['--auth-key', keyPath]);
    checkMemory(t, 'forged END with a key');
  }, 60_000);
});
