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
  byPort: new Map<number, { emit: (ev: string, ...a: unknown[]) => boolean }>(),
  drop: (_from: number, _to: number, _b: Buffer): boolean => false,
  nextPort: 5000,
}));

class FakeSocket extends EventEmitter {
  constructor(readonly port: number) {
    super();
  }
  send(buf: Buffer, port: number, _address: string): void {
    const copy = Buffer.from(buf);
    const from = this.port;
    setImmediate(() => {
      if (hub.drop(from, port, copy)) return;
      hub.byPort.get(port)?.emit('message', copy, { address: '127.0.0.1', port: from, family: 'IPv4', size: copy.length });
    });
  }
  close(): void {
    hub.byPort.delete(this.port);
  }
  setSendBufferSize(): void {}
  setRecvBufferSize(): void {}
  setMulticastInterface(): void {}
  setMulticastTTL(): void {}
  setMulticastLoopback(): void {}
  addMembership(): void {}
}

vi.mock('../../p2mp/io.js', async (orig) => {
  const real = await orig<typeof import('../../p2mp/io.js')>();
  return {
    ...real,
    bindUdp: async (_address: string, port: number) => {
      const p = port === 0 ? hub.nextPort++ : port;
      const s = new FakeSocket(p);
      hub.byPort.set(p, s);
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
  hub.byPort.clear();
});

describe('nak drivers, parity repairs (in-memory datagrams, real files)', () => {
  it('3 receivers at 10 % loss each way: every file is byte-identical, repairs were REPAIR frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nakfec-'));
    dirs.push(dir);
    const rng = createRng(9);
    const src = Buffer.alloc(300_000 + 123);
    for (let i = 0; i < src.length; i++) src[i] = Math.floor(rng.float() * 256);
    writeFileSync(join(dir, 'src.bin'), src);
    const lossy = createRng(10);
    let repairFrames = 0;
    let bnaks = 0;
    hub.drop = (_from, _to, b) => {
      const f = decodeNak(b);
      if (f?.type === 'repair') repairFrames++;
      if (f?.type === 'bnak') bnaks++;
      return lossy.float() < 0.1;
    };
    const ports = [7101, 7102, 7103];
    const rx = ports.map((port, i) => runNakReceiver({ port, file: join(dir, `out${i}.bin`), session: 77, out: quiet, idleMs: 20_000 }));
    const tx = await runNakSender({ receivers: ports.map((p) => `127.0.0.1:${p}`), port: 0, file: join(dir, 'src.bin'), segBytes: 1000, rateBps: 200e6, mode: 'unicast', session: 77, blockSegs: 16, out: quiet });
    const results = await Promise.all(rx);
    expect(tx.failed).toEqual([]);
    expect(results.every((r) => r.complete)).toBe(true);
    for (let i = 0; i < ports.length; i++) expect(readFileSync(join(dir, `out${i}.bin`)).equals(src)).toBe(true);
    expect(repairFrames).toBeGreaterThan(0);
    expect(bnaks).toBeGreaterThan(0);
  }, 30_000);
});
