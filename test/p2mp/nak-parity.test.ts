/**
 * p2mp-ftp/nak parity repairs, in virtual time: the sender's per-block repair counts, the
 * receiver's checks, open-block cap and decoding (with the project's codec, as the driver will
 * use it), garbage REPAIR frames, and whole transfers through the simulator (the same machines).
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder } from '../../coded/codec/index.js';
import { simulateNak, type NakSimInput } from '../../lab/protocols/p2mp-ftp/sim-nak.js';
import { NakReceiver } from '../../p2mp/nak-receiver.js';
import { NakSender, type NakSenderTx } from '../../p2mp/nak-sender.js';
import { MAX_BLOCK_SEGS, decodeNak, encodeNak } from '../../p2mp/nak-wire.js';
import { createRng } from '../../lab/rng.js';

const reseal = (b: Buffer): Buffer => {
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(crc32(b), 8);
  return b;
};

describe('REPAIR and BNAK frames', () => {
  it('a repair with k = 0, k > MAX_BLOCK_SEGS, or no payload after its coefficients is dropped', () => {
    const ok = encodeNak(7, { type: 'repair', block: 3, coeffs: Buffer.from([1, 2, 3]), payload: Buffer.alloc(10, 9) });
    expect(decodeNak(ok)).toMatchObject({ type: 'repair', block: 3 });
    const k0 = Buffer.from(ok);
    k0.writeUInt16BE(0, 16);
    expect(decodeNak(reseal(k0))).toBeNull();
    const kBig = Buffer.from(ok);
    kBig.writeUInt16BE(MAX_BLOCK_SEGS + 1, 16);
    expect(decodeNak(reseal(kBig))).toBeNull();
    const kAll = Buffer.from(ok);
    kAll.writeUInt16BE(13, 16); // coefficients would swallow the payload
    expect(decodeNak(reseal(kAll))).toBeNull();
    expect(() => encodeNak(7, { type: 'repair', block: 0, coeffs: new Uint8Array(0), payload: Buffer.alloc(1) })).toThrow(RangeError);
  });

  it('a STATUS with a block size above MAX_BLOCK_SEGS is dropped', () => {
    const st = encodeNak(1, { type: 'status', fileBytes: 1000, segBytes: 100, sentSegs: 0, sha256: Buffer.alloc(32), blockSegs: 32 });
    expect(decodeNak(st)).toMatchObject({ blockSegs: 32 });
    st.writeUInt16BE(MAX_BLOCK_SEGS + 1, 58);
    expect(decodeNak(reseal(st))).toBeNull();
  });

  it('fuzz: a resealed repair with any k field and length decodes consistently or is null', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 400 }), (k, extra) => {
        const b = Buffer.alloc(18 + extra, 5);
        b.writeUInt16BE(0x504d, 0);
        b.writeUInt8(2, 2);
        b.writeUInt8(6, 3);
        b.writeUInt16BE(k, 16);
        const f = decodeNak(reseal(b));
        if (f === null) return;
        expect(f.type).toBe('repair');
        if (f.type !== 'repair') return;
        expect(f.coeffs.length).toBe(k);
        expect(k).toBeGreaterThanOrEqual(1);
        expect(k).toBeLessThanOrEqual(MAX_BLOCK_SEGS);
        expect(f.payload.length).toBe(extra - k);
        expect(f.payload.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });
});

const opts = { receivers: 3, fileBytes: 100 * 10 + 5, segBytes: 100, mode: 'multicast' as const, rateBps: 1e9, linkRateBps: 1e9, blockSegs: 8 };

/** Sends all new data (no loss): returns the sender and its data txs. */
function sendAll(o: ConstructorParameters<typeof NakSender>[0]): NakSender {
  const s = new NakSender(o, 0);
  let t = 0;
  while (s.sentSegs < s.segments) {
    for (let tx = s.poll(t); tx; tx = s.poll(t)) void tx;
    t += 1;
  }
  return s;
}

function drain(s: NakSender, t0: number): NakSenderTx[] {
  const out: NakSenderTx[] = [];
  for (let t = t0; t < t0 + 200; t++) for (let tx = s.poll(t); tx; tx = s.poll(t)) if (tx.kind === 'repair' || tx.kind === 'data') out.push(tx);
  return out;
}

describe('NakSender, parity mode', () => {
  it('sends a block as many group repairs as its neediest receiver needs, not the sum', () => {
    const s = sendAll(opts);
    expect(s.segments).toBe(11);
    s.onBlockNak(500, 0, [{ block: 0, deficit: 2 }]);
    s.onBlockNak(500, 1, [{ block: 0, deficit: 3 }]);
    s.onBlockNak(500, 2, [{ block: 0, deficit: 1 }, { block: 1, deficit: 2 }]);
    const txs = drain(s, 500);
    const b0 = txs.filter((x) => x.kind === 'repair' && x.block === 0);
    const b1 = txs.filter((x) => x.kind === 'repair' && x.block === 1);
    expect(b0.length).toBe(3);
    // groupRepairAt is 2: block 0 goes to the group while two or more need it, then to receiver 1 alone.
    expect(b0.map((x) => x.to)).toEqual(['group', 'group', [1]]);
    // One receiver needs block 1 (the 3-segment tail): unicast, capped at the block's length.
    expect(b1.map((x) => x.to)).toEqual([[2], [2]]);
    expect(s.repairQueueLength).toBe(0);
  });

  it('ignores blocks not yet sent in full, deficits above the block length, and repeats while queued', () => {
    const s = new NakSender(opts, 0);
    s.poll(0); // STATUS
    s.poll(0); // segment 0
    s.onBlockNak(1, 0, [{ block: 0, deficit: 1 }]);
    expect(s.repairQueueLength).toBe(0);
    const full = sendAll(opts);
    full.onBlockNak(500, 0, [{ block: 1, deficit: 60_000 }]);
    full.onBlockNak(500, 0, [{ block: 1, deficit: 1 }]);
    expect(drain(full, 500).length).toBe(3);
  });

  it('refuses a block size the wire cannot carry', () => {
    expect(() => new NakSender({ ...opts, blockSegs: MAX_BLOCK_SEGS + 1 }, 0)).toThrow(RangeError);
  });
});

const announce = (blockSegs: number) => ({ fileBytes: 1005, segBytes: 100, sha256: Buffer.alloc(32), blockSegs });

describe('NakReceiver, parity mode', () => {
  it('checks each repair: block index, coefficient count, payload length (counted invalid)', () => {
    const r = new NakReceiver({}, 0);
    expect(r.acceptRepair(0, 0, 8, 100)).toBe('unannounced');
    r.onStatus(0, announce(8), 11);
    expect(r.acceptRepair(0, 2, 3, 100)).toBe('invalid'); // block 2 does not exist
    expect(r.acceptRepair(0, 1, 8, 100)).toBe('invalid'); // block 1 has 3 segments
    expect(r.acceptRepair(0, 0, 8, 99)).toBe('invalid'); // payload is always segBytes
    expect(r.acceptRepair(0, 1, 3, 100)).toBe('new');
    expect(r.invalid).toBe(3);
  });

  it('NAKs per block its deficit, once per holdoff, only for blocks sent in full', () => {
    const r = new NakReceiver({ nakIntervalMs: 10, holdoffMs: 50 }, 0);
    r.onStatus(0, announce(8), 0);
    for (const s of [0, 2, 3, 4, 5, 6, 8, 9]) r.onData(0, s, 100);
    expect(r.poll(0)).toEqual({ kind: 'bnak', held: 8, needs: [{ block: 0, deficit: 2 }] });
    r.onData(1, 10, 5);
    expect(r.poll(20)).toBeNull(); // nothing new to ask for, and no heartbeat due yet
    expect(r.poll(60)).toEqual({ kind: 'bnak', held: 9, needs: [{ block: 0, deficit: 2 }] });
  });

  it('while new data still comes, asks for a block again after a holdoff doubled per NAK; a repair of it, or the end of the new data, sets it back', () => {
    const r = new NakReceiver({ nakIntervalMs: 10, holdoffMs: 50, heartbeatMs: 10_000 }, 0);
    r.onStatus(0, { fileBytes: 4000, segBytes: 100, sha256: Buffer.alloc(32), blockSegs: 8 }, 0); // 40 segments, 5 blocks
    for (let s = 2; s < 16; s++) r.onData(0, s, 100); // 0 and 1 lost
    const nakTimes: number[] = [];
    for (let t = 0; t <= 800; t++) if (r.poll(t)?.kind === 'bnak') nakTimes.push(t);
    expect(nakTimes).toEqual([0, 50, 150, 350, 750]); // holdoffs 50, 100, 200, 400
    expect(r.nextWakeMs(801)).toBe(750 + 800);
    expect(r.acceptRepair(900, 0, 8, 100)).toBe('new');
    r.repairAdded(0, true); // deficit 2 -> 1
    expect(r.nextWakeMs(901)).toBe(950);
    expect(r.poll(949)).toBeNull();
    expect(r.poll(950)).toEqual({ kind: 'bnak', held: 14, needs: [{ block: 0, deficit: 1 }] });
    // The rest of the file arrives: from then on, one holdoff each time.
    for (let s = 16; s < 40; s++) r.onData(960, s, 100);
    const late: number[] = [];
    for (let t = 961; t <= 1200; t++) if (r.poll(t)?.kind === 'bnak') late.push(t);
    expect(late).toEqual([1000, 1050, 1100, 1150, 1200]);
  });

  it('fuzz: any (block, k, payload length) is taken only when it is exactly a block of the file; the rest are counted invalid', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 200 })), { maxLength: 40 }), (frames) => {
        const r = new NakReceiver({ maxOpenBlocks: 4 }, 0);
        r.onStatus(0, announce(8), 11);
        let bad = 0;
        for (const [block, k, len] of frames) {
          const v = r.acceptRepair(0, block, k, len);
          const valid = (block === 0 && k === 8 && len === 100) || (block === 1 && k === 3 && len === 100);
          if (!valid) {
            bad++;
            expect(v).toBe('invalid');
          } else expect(v).toBe('new');
          expect(r.openBlocks).toBeLessThanOrEqual(2);
        }
        expect(r.invalid).toBe(bad);
      }),
      { numRuns: 500 },
    );
  });

  it('a segment of an open block that its decoder finds dependent adds no rank', () => {
    const r = new NakReceiver({}, 0);
    r.onStatus(0, announce(8), 11);
    for (const s of [0, 1, 2, 3, 4, 5]) r.onData(0, s, 100);
    expect(r.deficit(0)).toBe(2);
    expect(r.acceptRepair(0, 0, 8, 100)).toBe('new');
    r.repairAdded(0, true);
    expect(r.deficit(0)).toBe(1);
    r.onData(0, 6, 100);
    r.dataAdded(6, false); // e.g. the repair was a combination of segments 0..6 only
    expect(r.deficit(0)).toBe(1);
    expect(r.takeDecoded()).toEqual([]);
    r.onData(0, 7, 100);
    r.dataAdded(7, true);
    expect(r.takeDecoded()).toEqual([{ block: 0, segs: [] }]); // nothing lost left: the decoder is freed
    expect(r.isOpen(0)).toBe(false);
  });

  it('caps the open blocks (a repair for another block is dropped and counted)', () => {
    const r = new NakReceiver({ maxOpenBlocks: 1 }, 0);
    r.onStatus(0, { fileBytes: 3200, segBytes: 100, sha256: Buffer.alloc(32), blockSegs: 8 }, 32);
    expect(r.acceptRepair(0, 0, 8, 100)).toBe('new');
    r.repairAdded(0, true);
    expect(r.acceptRepair(0, 1, 8, 100)).toBe('full');
    expect(r.repairsDropped).toBe(1);
    expect(r.openBlocks).toBe(1);
  });

  it('with the codec: the held segments and coded repairs decode the lost ones, byte for byte', () => {
    const rng = createRng(42);
    const B = 16;
    const segBytes = 64;
    const src = Buffer.alloc(B * segBytes);
    for (let i = 0; i < src.length; i++) src[i] = Math.floor(rng.float() * 256);
    const p = { field: 'gf256' as const, k: B, symbolBytes: segBytes };
    const enc = new Encoder(p, src, () => rng.float());
    const r = new NakReceiver({}, 0);
    r.onStatus(0, { fileBytes: src.length, segBytes, sha256: Buffer.alloc(32), blockSegs: B }, B);
    const lost = new Set([1, 5, 6, 15]);
    const dec = new Decoder(p);
    const unit = (s: number): Uint8Array => {
      const c = new Uint8Array(B);
      c[s] = 1;
      return c;
    };
    for (let s = 0; s < B; s++) if (!lost.has(s)) r.onData(0, s, segBytes);
    let repairs = 0;
    while (r.takeDecoded().length === 0 && repairs < 20) {
      const pkt = enc.coded();
      const wire = decodeNak(encodeNak(1, { type: 'repair', block: 0, coeffs: pkt.coeffs, payload: pkt.payload }));
      if (wire === null || wire.type !== 'repair') throw new Error('repair did not round-trip');
      expect(r.acceptRepair(0, wire.block, wire.coeffs.length, wire.payload.length)).toBe('new');
      if (repairs === 0) for (let s = 0; s < B; s++) if (!lost.has(s)) dec.add({ coeffs: unit(s), payload: src.subarray(s * segBytes, (s + 1) * segBytes) });
      r.repairAdded(0, dec.add({ coeffs: wire.coeffs, payload: wire.payload }) === 'innovative');
      repairs++;
      if (r.allHeld) break;
    }
    expect(repairs).toBe(lost.size); // dense GF(2^8): dependence has probability ~1/256 per repair
    expect(r.allHeld).toBe(true);
    expect(Buffer.from(dec.data()).equals(src)).toBe(true);
    expect(r.acceptRepair(0, 0, B, segBytes)).toBe('duplicate');
    enc.dispose();
    dec.dispose();
  });
});

describe('simulated transfers, parity repairs', () => {
  const input = (blockSegs: number, lossPct: number): NakSimInput => ({
    fileBytes: 2 * 2 ** 20,
    segBytes: 1400,
    mode: 'multicast',
    rateBps: 97e6,
    linkRateBps: 9.7e6,
    blockSegs,
    rttMs: 0.2,
    sourceUpBps: 100e6,
    sourceDownBps: 100e6,
    receivers: Array.from({ length: 16 }, () => ({ downBps: 10e6, upBps: 10e6, lossDownPct: lossPct, lossUpPct: lossPct })),
    seed: 3,
    repeat: 0,
  });

  it('every receiver completes at 10 % loss both ways, with fewer repair sends than plain retransmissions', () => {
    const parity = simulateNak(input(32, 10));
    const plain = simulateNak(input(0, 10));
    expect(parity.doneMs.every((d) => d !== null)).toBe(true);
    expect(plain.doneMs.every((d) => d !== null)).toBe(true);
    const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
    expect(sum(parity.repairsOnLink)).toBeGreaterThan(0);
    expect(parity.repairSent).toBeLessThan(plain.repairSent);
    // (Makespans are about equal at 16 receivers; parity's gain grows with the receivers: see the README.)
  });

  it('a tiny open-block cap still completes (dropped repairs are NAKed again)', () => {
    const out = simulateNak({ ...input(16, 10), maxOpenBlocks: 1, fileBytes: 256 * 1024 });
    expect(out.doneMs.every((d) => d !== null)).toBe(true);
  });
});
