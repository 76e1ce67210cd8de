import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FloodDecoder, FloodProtocolError, HEADER_BYTES, MAX_HAVE_BODY, bitAt, bitfieldOf, encode, type Frame } from '../../protocols/floodclone/wire.js';

const buf = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ role: fc.constantFrom('node' as const, 'source' as const), nodeId: u32, listenPort: fc.integer({ min: 0, max: 65535 }), fileHash: buf(32, 32) }).map((r): Frame => ({ type: 'hello', ...r })),
  u32.map((nodeId): Frame => ({ type: 'welcome', nodeId })),
  fc
    .record({ chunkBytes: fc.integer({ min: 1, max: 1024 }), n: fc.integer({ min: 1, max: 8 }), tail: fc.integer({ min: 0, max: 1023 }), fileHash: buf(32, 32) })
    .map(({ chunkBytes, n, tail, fileHash }): Frame => {
      const fileBytes = (n - 1) * chunkBytes + 1 + (tail % chunkBytes);
      return { type: 'manifest', fileBytes, chunkBytes, fileHash, hashes: Array.from({ length: n }, (_, k) => Buffer.alloc(32, k)) };
    }),
  fc.array(fc.record({ id: u32, host: fc.constantFrom('198.18.0.2', '127.0.0.1', '::1', 'node-a'), port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 5 }).map((peers): Frame => ({ type: 'peers', peers })),
  fc.array(u32, { maxLength: 20 }).map((chunks): Frame => ({ type: 'have', chunks })),
  buf(0, 16).map((bits): Frame => ({ type: 'bitfield', bits })),
  u32.map((chunk): Frame => ({ type: 'request', chunk })),
  u32.map((chunk): Frame => ({ type: 'cancel', chunk })),
  u32.map((chunk): Frame => ({ type: 'cancelled', chunk })),
  fc.constant<Frame>({ type: 'nofresh' }),
  fc.record({ chunk: u32, data: buf(0, 64) }).map((r): Frame => ({ type: 'chunk', ...r })),
  fc.constant<Frame>({ type: 'alldone' }),
  fc.record({ code: fc.integer({ min: 0, max: 255 }), message: fc.string({ maxLength: 40 }) }).map((r): Frame => ({ type: 'error', ...r })),
);

const norm = (f: Frame): unknown => JSON.parse(JSON.stringify(f, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v)));

describe('floodclone wire', () => {
  it('round-trips every frame, whatever the byte boundaries', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map(encode));
        const d = new FloodDecoder();
        d.chunkLimit = 1024;
        d.fromSource = true;
        const out: Frame[] = [];
        let at = 0;
        let k = 0;
        while (at < bytes.length) {
          const n = cuts[k++ % cuts.length]!;
          out.push(...d.push(bytes.subarray(at, at + n)));
          at += n;
        }
        expect(out.map(norm)).toEqual(frames.map(norm));
        expect(d.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes either decode or raise FloodProtocolError, holding at most one frame', () => {
    const chunkLimit = 4096;
    // The largest frame a decoder may hold with this chunk limit (the manifest's limit is checked apart).
    const bound = HEADER_BYTES + Math.max(MAX_HAVE_BODY, chunkLimit + 4);
    fc.assert(
      fc.property(fc.array(buf(0, 300), { maxLength: 20 }), (parts) => {
        const d = new FloodDecoder();
        d.chunkLimit = chunkLimit;
        try {
          for (const p of parts) {
            d.push(p);
            expect(d.bufferedBytes).toBeLessThanOrEqual(bound);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(FloodProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a length over its type before buffering the body', () => {
    const d = new FloodDecoder();
    d.chunkLimit = 1000;
    const h = Buffer.from([11, 0, 0, 0x10, 0]); // CHUNK of 4096 bytes, limit 1000
    expect(() => d.push(h)).toThrow(FloodProtocolError);
    const d2 = new FloodDecoder();
    expect(() => d2.push(Buffer.from([99, 0, 0, 0, 0]))).toThrow(/unknown frame type/);
    const d3 = new FloodDecoder(); // no manifest yet: no chunk at all
    expect(() => d3.push(Buffer.from([11, 0, 0, 0, 5]))).toThrow(FloodProtocolError);
  });

  it('rejects malformed bodies with a reason', () => {
    const bad = (type: number, body: Buffer): (() => void) => () => new FloodDecoder().push(Buffer.concat([Buffer.from([type, 0, 0, 0, body.length]), body]));
    expect(bad(1, Buffer.alloc(44))).toThrow(/magic/);
    expect(bad(5, Buffer.alloc(3))).toThrow(/HAVE/);
    expect(bad(4, Buffer.from([0, 0, 0, 1, 0, 80, 9, 65]))).toThrow(/at most 0/); // PEERS: only from the source
    const peers = new FloodDecoder();
    peers.fromSource = true;
    expect(() => peers.push(Buffer.from([4, 0, 0, 0, 8, 0, 0, 0, 1, 0, 80, 9, 65]))).toThrow(/PEERS/);
    // A manifest whose hash count does not match its size (from the source: from a peer it is refused at the header).
    const m = Buffer.alloc(44 + 32);
    m.writeBigUInt64BE(100n, 0);
    m.writeUInt32BE(10, 8);
    const h = Buffer.alloc(5);
    h.writeUInt8(3, 0);
    h.writeUInt32BE(m.length, 1);
    expect(() => new FloodDecoder().push(Buffer.concat([h, m]))).toThrow(/at most 0/);
    const src = new FloodDecoder();
    src.fromSource = true;
    expect(() => src.push(Buffer.concat([h, m]))).toThrow(/hashes/);
  });

  it('counts payload and control bytes apart', () => {
    const d = new FloodDecoder();
    d.chunkLimit = 100;
    d.push(Buffer.concat([encode({ type: 'request', chunk: 3 }), encode({ type: 'chunk', chunk: 3, data: Buffer.alloc(100) })]));
    expect(d.payloadBytes).toBe(100);
    expect(d.controlBytes).toBe(9 + 9);
  });

  it('bitfields are most significant bit first', () => {
    const bits = bitfieldOf([1, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect([...bits]).toEqual([0x81, 0x80]);
    expect(bitAt(bits, 8)).toBe(true);
    expect(bitAt(bits, 9)).toBe(false);
    expect(bitAt(bits, 100)).toBe(false);
  });
});
