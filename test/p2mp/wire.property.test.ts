/**
 * Both P2MP-FTP wire decoders fuzzed: any bytes, truncated or corrupted valid datagrams decode to
 * null or to a well-formed value, never a throw; valid frames round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_BLOCK_SEGS, MAX_RANGES, decodeNak, encodeNak, type NakFrame } from '../../p2mp/nak-wire.js';
import { decodeSaw, encodeAck, encodeData } from '../../p2mp/saw-wire.js';

const bytes = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const nakFrame: fc.Arbitrary<NakFrame> = fc.oneof(
  fc.record({ seg: u32, data: bytes(1, 400) }).map((r): NakFrame => ({ type: 'data', ...r })),
  fc
    .record({ fileBytes: fc.integer({ min: 0, max: 2 ** 40 }), segBytes: fc.integer({ min: 64, max: 65_000 }), sentSegs: u32, sha256: bytes(32, 32), blockSegs: fc.integer({ min: 0, max: MAX_BLOCK_SEGS }) })
    .map((r): NakFrame => ({ type: 'status', ...r })),
  fc
    .record({ held: u32, ranges: fc.array(fc.record({ first: u32, count: u32 }), { maxLength: MAX_RANGES }) })
    .map((r): NakFrame => ({ type: 'nak', ...r })),
  fc.record({ block: u32, coeffs: bytes(1, MAX_BLOCK_SEGS), payload: bytes(1, 300) }).map((r): NakFrame => ({ type: 'repair', ...r })),
  fc
    .record({ held: u32, needs: fc.array(fc.record({ block: u32, deficit: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: MAX_RANGES }) })
    .map((r): NakFrame => ({ type: 'bnak', ...r })),
  fc.constant<NakFrame>({ type: 'complete' }),
  fc.constant<NakFrame>({ type: 'bye' }),
);

describe('stop-and-wait decoder', () => {
  it('never throws on any bytes; what it accepts is one of the two shapes', () => {
    fc.assert(
      fc.property(bytes(0, 100), (b) => {
        const d = decodeSaw(b);
        if (d === null) return;
        expect(b.length).toBeGreaterThanOrEqual(8);
        if (d.type === 'ack') expect(b.length).toBe(8);
        else expect(d.data.length).toBe(b.length - 8);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips; a truncated header is dropped; a flipped data bit fails the checksum', () => {
    fc.assert(
      fc.property(u32, bytes(1, 300), fc.nat(), fc.integer({ min: 0, max: 7 }), (seq, data, at, bit) => {
        const d = encodeData(seq, data);
        expect(decodeSaw(d)).toMatchObject({ type: 'data', seq, checksumOk: true });
        expect(decodeSaw(d.subarray(0, at % 8))).toBeNull();
        const bad = Buffer.from(d);
        bad[8 + (at % data.length)]! ^= 1 << bit;
        expect(decodeSaw(bad)).toMatchObject({ type: 'data', checksumOk: false });
        expect(decodeSaw(encodeAck(seq))).toEqual({ type: 'ack', seq });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('nak decoder', () => {
  it('never throws on any bytes', () => {
    fc.assert(fc.property(bytes(0, 200), (b) => void decodeNak(b)), { numRuns: 5000 });
  });

  it('round-trips every frame', () => {
    fc.assert(
      fc.property(u32, nakFrame, (session, f) => {
        expect(decodeNak(encodeNak(session, f))).toEqual(f);
      }),
      { numRuns: 1000 },
    );
  });

  it('a truncated, extended or bit-flipped frame is dropped (CRC-32), never misread', () => {
    fc.assert(
      fc.property(u32, nakFrame, fc.nat(), fc.integer({ min: 0, max: 7 }), (session, f, at, bit) => {
        const b = encodeNak(session, f);
        expect(decodeNak(b.subarray(0, at % b.length))).toBeNull();
        expect(decodeNak(Buffer.concat([b, Buffer.from([0])]))).toBeNull();
        const bad = Buffer.from(b);
        bad[at % b.length]! ^= 1 << bit;
        expect(decodeNak(bad)).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
});
