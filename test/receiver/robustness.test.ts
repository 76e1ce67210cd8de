/**
 * The receiver's robustness defects of issue 14, one test each, against an in-process
 * ReceiverServer on 127.0.0.1. Each of these failed before its fix (see the commit that added it).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, truncateSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReceiverServer, type ReceiverOptions } from '../../receiver/server.js';
import { FragmentSender } from '../../sender/driver.js';
import { ErrorCode } from '../../wire/errors.js';
import { FrameDecoder } from '../../wire/decoder.js';
import { encodeAccept, encodeAck, type Frame } from '../../wire/frames.js';
import { randomBasePort } from '../helpers/procs.js';
import { RawPeer, sha256 } from '../helpers/raw-peer.js';

let dir: string;
let server: ReceiverServer | null = null;
let port = 0;

async function startServer(extra: Partial<ReceiverOptions> = {}): Promise<ReceiverServer> {
  port = randomBasePort(1);
  server = new ReceiverServer({ listen: { host: '127.0.0.1', firstPort: port, lastPort: port }, outDir: dir, store: { minFreeBytes: 0 }, ...extra });
  await server.start();
  return server;
}

const openSockets = (s: ReceiverServer): number => (s as unknown as { sockets: Set<unknown> }).sockets.size;
const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-robust-'));
});
afterEach(async () => {
  await server?.close();
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

const TID = (): Buffer => randomBytes(16);

/** Stores `bytes` as fragment `index` of `tid` through a RawPeer; returns the peer. */
async function store(tid: Buffer, index: number, bytes: Buffer, key?: Buffer): Promise<RawPeer> {
  const p = await RawPeer.connect(port);
  const r = await p.hello({ transferId: tid, index, count: index + 1, lengthBytes: bytes.length, offsetBytes: 0 }, key);
  expect(r).toEqual({ offset: 0 });
  p.data(bytes);
  p.end(sha256(bytes), key);
  const ack = await p.waitFor('ack');
  expect(ack?.type, JSON.stringify(p.error())).toBe('ack');
  return p;
}

describe('receiver robustness (issue 14)', () => {
  it('destroys the socket after the ACK even when the peer never closes its side', async () => {
    const s = await startServer();
    const tid = TID();
    const p = await RawPeer.connect(port, { allowHalfOpen: true });
    const bytes = randomBytes(1000);
    await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 });
    p.data(bytes);
    p.end(sha256(bytes));
    expect((await p.waitFor('ack'))?.type).toBe('ack');
    expect(await until(() => openSockets(s) === 0, 1500)).toBe(true);
    p.close();
  });

  it('destroys the socket after an ERROR at once, not a second later', async () => {
    const s = await startServer();
    const p = await RawPeer.connect(port, { allowHalfOpen: true });
    p.send(Buffer.from([0xff, 0, 0, 0, 0]));
    expect((await p.waitFor('error'))?.type).toBe('error');
    expect(await until(() => openSockets(s) === 0, 300)).toBe(true);
    p.close();
  });

  it('drops a connection that has not sent HELLO by the deadline, however it trickles bytes', async () => {
    const s = await startServer({ helloTimeoutMs: 400 });
    const p = await RawPeer.connect(port);
    const hello = Buffer.from([1, 0, 0, 0, 46]); // a HELLO header, then its body one byte at a time
    p.send(hello);
    const trickle = setInterval(() => !p.closed && p.send(Buffer.from([0x46])), 100);
    try {
      expect(await p.waitClosed(2000)).toBe(true);
      expect(p.error()).toMatchObject({ code: ErrorCode.Timeout });
      expect(openSockets(s)).toBe(0);
    } finally {
      clearInterval(trickle);
    }
  });

  it('a listener error after listen is reported, not an uncaught exception', async () => {
    const events: unknown[] = [];
    const s = await startServer({ onEvent: (e) => events.push(e) });
    const srv = (s as unknown as { servers: Server[] }).servers[0]!;
    expect(() => srv.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
    expect(events).toContainEqual(expect.objectContaining({ event: 'error', message: 'listener: EMFILE' }));
  });

  it('two new connections for one live fragment: only one is left writing (10 rounds: the race is timing-dependent)', async () => {
    await startServer();
    for (let round = 0; round < 10; round++) {
      const tid = TID();
      const h = { transferId: tid, index: 0, count: 1, lengthBytes: 1 << 20, offsetBytes: 0 };
      const a = await RawPeer.connect(port);
      expect(await a.hello(h)).toEqual({ offset: 0 });
      a.data(randomBytes(1000));
      const [b, c] = await Promise.all([RawPeer.connect(port), RawPeer.connect(port)]);
      const [rb, rc] = await Promise.all([b.hello(h), c.hello(h)]);
      await new Promise((r) => setTimeout(r, 150));
      const live = [
        [b, rb],
        [c, rc],
      ].filter(([p, r]) => 'offset' in (r as object) && (p as RawPeer).error() === undefined && !(p as RawPeer).closed);
      expect(live.length, `round ${round}`).toBe(1);
      for (const p of [a, b, c]) p.close();
    }
  });

  it('a complete fragment is never replaced: another length is refused (Conflict), the file kept', async () => {
    await startServer();
    const tid = TID();
    const good = randomBytes(5000);
    (await store(tid, 0, good)).close();
    const evil = randomBytes(3000);
    const p = await RawPeer.connect(port);
    const r = await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: evil.length, offsetBytes: 0 });
    if ('offset' in r) {
      p.data(evil);
      p.end(sha256(evil));
      await p.waitFor('ack', 2000);
    }
    expect(p.error()).toMatchObject({ code: ErrorCode.Conflict });
    expect(readFileSync(join(dir, `${tid.toString('hex')}.0.frag`)).equals(good)).toBe(true);
    p.close();
  });

  it('the same length with another digest is refused and the stored fragment kept', async () => {
    await startServer();
    const tid = TID();
    const good = randomBytes(5000);
    (await store(tid, 0, good)).close();
    const p = await RawPeer.connect(port);
    const r = await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: good.length, offsetBytes: 0 });
    expect(r).toEqual({ offset: good.length });
    p.end(sha256(randomBytes(10)));
    expect((await p.waitFor('error'))).toMatchObject({ code: ErrorCode.DigestMismatch });
    expect(readFileSync(join(dir, `${tid.toString('hex')}.0.frag`)).equals(good)).toBe(true);
  });

  it('does not follow a symbolic link planted as the .part file', async () => {
    await startServer();
    const tid = TID();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(dir, `.${tid.toString('hex')}.0.part`));
    const p = await RawPeer.connect(port);
    const r = await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: 100, offsetBytes: 0 });
    if ('offset' in r) {
      p.data(Buffer.alloc(100, 0x41));
      await p.waitFor('error', 1000);
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(p.error()).toMatchObject({ code: ErrorCode.Storage });
  });

  it('a HELLO that sends nothing leaves no .part behind', async () => {
    await startServer();
    for (let i = 0; i < 20; i++) {
      const p = await RawPeer.connect(port);
      await p.hello({ transferId: TID(), index: 0, count: 1, lengthBytes: 1 << 20, offsetBytes: 0 });
      p.close();
    }
    expect(await until(() => readdirSync(dir).length === 0, 2000)).toBe(true);
  });

  it('a disk quota refuses a transfer that would exceed it (Quota), and frees it when a transfer ends', async () => {
    await startServer({ store: { maxTotalBytes: 1 << 20, minFreeBytes: 0 } });
    const a = await RawPeer.connect(port);
    expect(await a.hello({ transferId: TID(), index: 0, count: 1, lengthBytes: 600_000, offsetBytes: 0 })).toEqual({ offset: 0 });
    const b = await RawPeer.connect(port);
    const rb = await b.hello({ transferId: TID(), index: 0, count: 1, lengthBytes: 600_000, offsetBytes: 0 });
    expect(rb).toMatchObject({ error: { code: ErrorCode.Quota } });
    a.close(); // sent nothing: its reservation is released
    await new Promise((r) => setTimeout(r, 200));
    (await store(TID(), 0, randomBytes(600_000))).close();
  });

  it('--max-fragment-bytes refuses a larger fragment', async () => {
    await startServer({ maxFragmentBytes: 1000 });
    const p = await RawPeer.connect(port);
    expect(await p.hello({ transferId: TID(), index: 0, count: 1, lengthBytes: 1001, offsetBytes: 0 })).toMatchObject({ error: { code: ErrorCode.Refused } });
  });

  it('stale .part files expire; fresh ones and .frag files stay', async () => {
    const old = join(dir, `.${'a'.repeat(32)}.0.part`);
    const fresh = join(dir, `.${'b'.repeat(32)}.0.part`);
    const frag = join(dir, `${'c'.repeat(32)}.0.frag`);
    for (const f of [old, fresh, frag]) writeFileSync(f, 'x');
    const { utimesSync } = await import('node:fs');
    utimesSync(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    utimesSync(frag, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    await startServer({ store: { partExpiryMs: 60_000, minFreeBytes: 0 } });
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(frag)).toBe(true);
  });

  it('sends ACCEPT before hashing a resumed prefix (a 2 GiB sparse .part)', async () => {
    await startServer();
    const tid = TID();
    const part = join(dir, `.${tid.toString('hex')}.0.part`);
    writeFileSync(part, '');
    truncateSync(part, 2 ** 31);
    const p = await RawPeer.connect(port);
    const t0 = performance.now();
    const r = await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: 2 ** 31 + 10, offsetBytes: 0 });
    const ms = performance.now() - t0;
    expect(r).toEqual({ offset: 2 ** 31 });
    expect(ms).toBeLessThan(300);
    p.close();
  });

  it('one-byte DATA frames are gathered: stored intact', async () => {
    await startServer();
    const tid = TID();
    const bytes = randomBytes(20_000);
    const p = await RawPeer.connect(port);
    await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 });
    p.data(bytes, 1);
    p.end(sha256(bytes));
    expect((await p.waitFor('ack'))?.type).toBe('ack');
    expect(readFileSync(join(dir, `${tid.toString('hex')}.0.frag`)).equals(bytes)).toBe(true);
  });
});

describe('authentication', () => {
  const key = randomBytes(32);

  it('stores for a sender with the key; the ACK carries a MAC', async () => {
    await startServer({ authKey: key });
    const tid = TID();
    const bytes = randomBytes(100_000);
    const p = await store(tid, 0, bytes, key);
    const ack = p.frames.find((f) => f.type === 'ack') as Extract<Frame, { type: 'ack' }>;
    expect(ack.mac?.equals(p.ackMacFor(key, sha256(bytes)))).toBe(true);
    expect(readFileSync(join(dir, `${tid.toString('hex')}.0.frag`)).equals(bytes)).toBe(true);
  });

  it('refuses a HELLO without a proof, and a wrong key, with ERROR Auth, before touching the disk or a live transfer', async () => {
    await startServer({ authKey: key });
    const tid = TID();
    const live = await RawPeer.connect(port);
    expect(await live.hello({ transferId: tid, index: 0, count: 1, lengthBytes: 1 << 20, offsetBytes: 0 }, key)).toEqual({ offset: 0 });
    const h = { transferId: tid, index: 0, count: 1, lengthBytes: 1 << 20, offsetBytes: 0 };
    const plain = await RawPeer.connect(port);
    expect(await plain.hello(h)).toMatchObject({ error: { code: ErrorCode.Auth } });
    expect(await plain.waitClosed(1000)).toBe(true);
    const wrong = await RawPeer.connect(port);
    expect(await wrong.hello(h, undefined, randomBytes(32))).toMatchObject({ error: { code: ErrorCode.Auth } });
    expect(live.error()).toBeUndefined();
    expect(live.closed).toBe(false);
    live.close();
  });

  it('a forged END (digest without the right MAC) stores nothing', async () => {
    await startServer({ authKey: key });
    const tid = TID();
    const bytes = randomBytes(10_000);
    const p = await RawPeer.connect(port);
    await p.hello({ transferId: tid, index: 0, count: 1, lengthBytes: bytes.length, offsetBytes: 0 }, key);
    p.data(bytes);
    p.end(sha256(bytes), randomBytes(32));
    expect(await p.waitFor('error')).toMatchObject({ code: ErrorCode.Auth });
    expect(existsSync(join(dir, `${tid.toString('hex')}.0.frag`))).toBe(false);
  });

  it('FragmentSender with the key stores through an authenticating receiver; without it fails with Auth, not retried', async () => {
    await startServer({ authKey: key });
    const file = join(dir, 'src.bin');
    const bytes = randomBytes(300_000);
    writeFileSync(file, bytes);
    const nodes = [{ host: '127.0.0.1', port, label: `127.0.0.1:${port}` }];
    const ok = await new FragmentSender({ file, nodes, rateKbps: Infinity, strategy: 'backpressure', authKey: key }).run();
    expect(ok.ok).toBe(true);
    expect(readFileSync(join(dir, `${ok.transferId}.0.frag`)).equals(bytes)).toBe(true);
    const bad = await new FragmentSender({ file, nodes, rateKbps: Infinity, strategy: 'backpressure', backoffMs: 10 }).run();
    expect(bad.ok).toBe(false);
    expect(bad.failed[0]!.reason).toMatch(/Auth/);
    expect(bad.nodes[0]!.attempts).toBe(1);
  });
});

describe('the sender checks the ACK', () => {
  let fake: Server | null = null;
  afterEach(() => fake?.close());

  it('fails an attempt whose ACK names another digest', async () => {
    const p = randomBasePort(1);
    fake = createServer((sock) => {
      const d = new FrameDecoder();
      sock.on('error', () => {});
      sock.on('data', (b) => {
        for (const f of d.push(b)) {
          if (f.type === 'hello') sock.write(encodeAccept(0));
          if (f.type === 'end') sock.end(encodeAck(Buffer.alloc(32, 7)));
        }
      });
    });
    await new Promise<void>((r) => fake!.listen(p, '127.0.0.1', () => r()));
    const file = join(dir, 'src.bin');
    writeFileSync(file, randomBytes(10_000));
    const s = await new FragmentSender({ file, nodes: [{ host: '127.0.0.1', port: p, label: 'fake' }], rateKbps: Infinity, strategy: 'backpressure', retries: 0 }).run();
    expect(s.ok).toBe(false);
    expect(s.failed[0]!.reason).toMatch(/acknowledged digest/);
  });
});
