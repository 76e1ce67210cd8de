/**
 * The nak drivers' parity path (encoding at the sender, per-block decoders at the receivers) over
 * an in-memory datagram hub instead of sockets (bindUdp is mocked: no socket is opened), with
 * seeded loss, on real files: every receiver's file must come out byte-identical.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRng } from '../../lab/rng.js';

const hub = vi.hoisted(() => ({
  sockets: new Set<{ addr: string; port: number; groups: Set<string>; emit: (ev: string, ...a: unknown[]) => boolean }>(),
  drop: (_b: Buffer): boolean => false,
  nextPort: 5000,
}));

/** A socket on the hub: unicast to addr:port, multicast to every member of the group on that port. */
class FakeSocket extends EventEmitter {
  readonly groups = new Set<string>();
  constructor(
    public addr: string,
    readonly port: number,
  ) {
    super();
  }
  send(buf: Buffer, port: number, address: string): void {
    const copy = Buffer.from(buf);
    const rinfo = { address: this.addr, port: this.port, family: 'IPv4', size: copy.length };
    const multicast = Number(address.split('.')[0]) >= 224;
    for (const s of hub.sockets) {
      if (s === this || s.port !== port || (multicast ? !s.groups.has(address) : s.addr !== address)) continue;
      setImmediate(() => {
        if (!hub.drop(copy)) s.emit('message', copy, rinfo);
      });
    }
  }
  close(): void {
    hub.sockets.delete(this);
  }
  setSendBufferSize(): void {}
  setRecvBufferSize(): void {}
  setMulticastInterface(): void {}
  setMulticastTTL(): void {}
  setMulticastLoopback(): void {}
  addMembership(group: string, iface: string): void {
    this.groups.add(group);
    this.addr = iface;
  }
}

vi.mock('../../p2mp/io.js', async (orig) => {
  const real = await orig<typeof import('../../p2mp/io.js')>();
  return {
    ...real,
    bindUdp: async (address: string, port: number) => {
      const s = new FakeSocket(address, port === 0 ? hub.nextPort++ : port);
      hub.sockets.add(s);
      return s;
    },
  };
});

const { runNakReceiver, runNakSender } = await import('../../p2mp/nak-driver.js');
const { decodeNak } = await import('../../p2mp/nak-wire.js');

const quiet = { text: (): void => {}, event: (): void => {} };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  hub.sockets.clear();
});

async function transfer(mode: 'unicast' | 'multicast'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nakfec-'));
  dirs.push(dir);
  const rng = createRng(9);
  const src = Buffer.alloc(300_000 + 123);
  for (let i = 0; i < src.length; i++) src[i] = Math.floor(rng.float() * 256);
  writeFileSync(join(dir, 'src.bin'), src);
  const lossy = createRng(10);
  let repairFrames = 0;
  let bnaks = 0;
  hub.drop = (b) => {
    const f = decodeNak(b);
    if (f?.type === 'repair') repairFrames++;
    if (f?.type === 'bnak') bnaks++;
    if (f?.type === 'data' && f.data.length !== 1000 && f.data.length !== 123) throw new Error('bad segment');
    return lossy.float() < 0.1;
  };
  const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const group = mode === 'multicast' ? { group: '239.255.77.35' } : {};
  const rx = hosts.map((h, i) => runNakReceiver({ port: 7736, bind: h, ...group, file: join(dir, `out${i}.bin`), session: 77, out: quiet, idleMs: 20_000 }));
  const tx = await runNakSender({ receivers: hosts.map((h) => `${h}:7736`), port: 7736, bind: '127.0.0.1', ...group, file: join(dir, 'src.bin'), segBytes: 1000, rateBps: 200e6, mode, session: 77, blockSegs: 16, out: quiet });
  const results = await Promise.all(rx);
  expect(tx.failed).toEqual([]);
  expect(results.every((r) => r.complete)).toBe(true);
  for (let i = 0; i < hosts.length; i++) expect(readFileSync(join(dir, `out${i}.bin`)).equals(src)).toBe(true);
  // No plain retransmission in parity mode: every lost segment came back through a decoder.
  expect(tx.newSent).toBe(Math.ceil(src.length / 1000));
  expect(repairFrames).toBeGreaterThan(0);
  expect(bnaks).toBeGreaterThan(0);
}

describe('nak drivers, parity repairs (in-memory datagrams, real files, 10 % loss each way)', () => {
  it('unicast: every file is byte-identical, recovered through REPAIR frames', async () => {
    await transfer('unicast');
  }, 30_000);

  it('multicast: every file is byte-identical, recovered through REPAIR frames', async () => {
    await transfer('multicast');
  }, 30_000);
});
