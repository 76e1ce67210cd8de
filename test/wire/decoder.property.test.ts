import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../wire/decoder.js';
import { ErrorCode, RemoteProtocolError } from '../../wire/errors.js';
import {
  DIGEST_BYTES,
  FrameType,
  HEADER_BYTES,
  MAX_DATA_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_FRAGMENT_BYTES,
  MAX_FRAGMENT_COUNT,
  TRANSFER_ID_BYTES,
  encodeData,
  encodeFrame,
  type Frame,
} from '../../wire/frames.js';
import { norm } from '../helpers/frames.js';

/** The brief's bound: the largest legal frame. */
const MEMORY_BOUND = HEADER_BYTES + MAX_DATA_BYTES;
/** What the streaming decoder holds at most: one control frame short of its last byte (an ERROR of 1024 B). */
const CONTROL_BOUND = HEADER_BYTES + 2 + MAX_ERROR_MESSAGE_BYTES - 1;

const buf = (min: number, max: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));

/** Any valid frame (small DATA bodies; the large ones get their own property). */
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .record({
      transferId: buf(TRANSFER_ID_BYTES, TRANSFER_ID_BYTES),
      count: fc.integer({ min: 1, max: MAX_FRAGMENT_COUNT }),
      indexFrac: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      lengthBytes: fc.integer({ min: 1, max: MAX_FRAGMENT_BYTES }),
      offsetFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ transferId, count, indexFrac, lengthBytes, offsetFrac }): Frame => ({
      type: 'hello',
      transferId,
      index: Math.floor(indexFrac * count),
      count,
      lengthBytes,
      offsetBytes: Math.floor(offsetFrac * lengthBytes),
    })),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((offsetBytes): Frame => ({ type: 'accept', offsetBytes })),
  buf(1, 300).map((bytes): Frame => ({ type: 'data', bytes })),
  buf(DIGEST_BYTES, DIGEST_BYTES).map((sha256): Frame => ({ type: 'end', sha256 })),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((receivedBytes): Frame => ({ type: 'progress', receivedBytes })),
  buf(DIGEST_BYTES, DIGEST_BYTES).map((sha256): Frame => ({ type: 'ack', sha256 })),
  fc
    .record({
      code: fc.integer({ min: 0, max: 0xffff }),
      // Whole code points (no lone surrogates, which UTF-8 cannot carry); at most 4 bytes each.
      message: fc.string({ unit: 'binary', maxLength: 256 }),
    })
    .map(({ code, message }): Frame => ({ type: 'error', code: code as ErrorCode, message })),
);

/** Cut points (sorted, unique, strictly inside) for splitting `length` bytes. */
const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

function split(bytes: Buffer, fracs: number[]): Buffer[] {
  const cuts = [...new Set(fracs.map((f) => Math.floor(f * bytes.length)))].filter((c) => c > 0 && c < bytes.length);
  cuts.sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}


/**
 * Pushes every piece; returns the frames and the error, checking on the way that nothing but a
 * RemoteProtocolError escapes, that memory stays bounded, and that a failed decoder stays failed.
 */
function feed(pieces: Buffer[]): { frames: Frame[]; error: RemoteProtocolError | null } {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  let error: RemoteProtocolError | null = null;
  for (const p of pieces) {
    try {
      frames.push(...d.push(p));
    } catch (err) {
      if (!(err instanceof RemoteProtocolError)) throw err; // fails the property
      if (error !== null) expect(err).toBe(error);
      error = err;
      expect(Object.values(ErrorCode)).toContain(err.code);
    }
    expect(d.bufferedBytes).toBeLessThanOrEqual(MEMORY_BOUND);
    expect(d.bufferedBytes).toBeLessThanOrEqual(CONTROL_BOUND);
    if (error !== null) expect(d.bufferedBytes).toBe(0);
  }
  return { frames, error };
}

describe('FrameDecoder properties', () => {
  it('(a) arbitrary bytes in arbitrary splits: frames or a RemoteProtocolError, nothing else', () => {
    fc.assert(
      fc.property(buf(0, 600), cutsArb, (bytes, cuts) => {
        feed(split(bytes, cuts));
      }),
      { numRuns: 400 },
    );
  });

  it('(a) bytes that start like a header of a known type (the body checks get exercised too)', () => {
    const headed = fc
      .record({ type: fc.integer({ min: 1, max: 7 }), body: buf(0, 120), lengthSlack: fc.integer({ min: -2, max: 2 }) })
      .map(({ type, body, lengthSlack }) => {
        const head = Buffer.alloc(HEADER_BYTES);
        head.writeUInt8(type, 0);
        head.writeUInt32BE(Math.max(0, body.length + lengthSlack), 1);
        return Buffer.concat([head, body]);
      });
    fc.assert(
      fc.property(fc.array(headed, { maxLength: 6 }), cutsArb, (parts, cuts) => {
        feed(split(Buffer.concat(parts), cuts));
      }),
      { numRuns: 400 },
    );
  });

  it('(a) prefixes of valid streams with random corruption', () => {
    const corruption = fc.array(fc.record({ at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), xor: fc.integer({ min: 1, max: 255 }) }), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        corruption,
        cutsArb,
        (frames, keepFrac, flips, cuts) => {
          const whole = Buffer.concat(frames.map(encodeFrame));
          const bytes = Buffer.from(whole.subarray(0, Math.floor(keepFrac * whole.length)));
          for (const { at, xor } of flips) {
            if (bytes.length > 0) bytes[Math.floor(at * bytes.length)]! ^= xor;
          }
          const { frames: out, error } = feed(split(bytes, cuts));
          if (flips.length === 0) {
            // An uncorrupted prefix never fails: it yields the frames it holds completely, plus
            // the part of a DATA body that arrived (DATA is streamed, control frames are not).
            expect(error).toBeNull();
            const want: Frame[] = [];
            let at = 0;
            for (const f of frames) {
              const enc = encodeFrame(f);
              if (at + enc.length <= bytes.length) want.push(f);
              else if (f.type === 'data' && bytes.length > at + HEADER_BYTES) {
                want.push({ type: 'data', bytes: enc.subarray(HEADER_BYTES, bytes.length - at) });
              }
              at += enc.length;
            }
            expect(norm(out)).toEqual(norm(want));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('(b) bufferedBytes never exceeds HEADER_BYTES + MAX_DATA_BYTES, even with maximal DATA frames', () => {
    const sizeArb = fc.oneof(
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: MAX_DATA_BYTES - 64, max: MAX_DATA_BYTES }),
    );
    fc.assert(
      fc.property(fc.array(sizeArb, { minLength: 1, maxLength: 3 }), fc.double({ min: 0, max: 1, noNaN: true }), cutsArb, (sizes, keepFrac, cuts) => {
        const whole = Buffer.concat(sizes.map((n) => encodeData(Buffer.alloc(n, n & 0xff))));
        const bytes = whole.subarray(0, Math.floor(keepFrac * whole.length));
        const { frames, error } = feed(split(bytes, cuts));
        expect(error).toBeNull();
        expect(frames.every((f) => f.type === 'data')).toBe(true);
        // Every body byte that arrived came out, in order: what arrived minus the headers seen.
        let expected = 0;
        let at = 0;
        for (const n of sizes) {
          if (bytes.length >= at + HEADER_BYTES) expected += Math.min(n, bytes.length - at - HEADER_BYTES);
          at += HEADER_BYTES + n;
        }
        const got = Buffer.concat(frames.map((f) => (f.type === 'data' ? f.bytes : Buffer.alloc(0))));
        expect(got.length).toBe(expected);
        expect(got.equals(Buffer.concat(sizes.map((n) => Buffer.alloc(n, n & 0xff))).subarray(0, expected))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('(b) a header announcing 4 GiB throws at once and buffers nothing', () => {
    const d = new FrameDecoder();
    const head = Buffer.from([FrameType.Data, 0xff, 0xff, 0xff, 0xff]);
    // The first four bytes are not yet a header: held, nothing decided.
    expect(d.push(head.subarray(0, 4))).toEqual([]);
    expect(d.bufferedBytes).toBe(4);
    let thrown: unknown;
    try {
      d.push(Buffer.concat([head.subarray(4), Buffer.alloc(1000)]));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RemoteProtocolError);
    expect((thrown as RemoteProtocolError).code).toBe(ErrorCode.BadLength);
    expect(d.bufferedBytes).toBe(0);
  });

  it('(b) a 1 MiB DATA frame pushed in pieces buffers none of its body', () => {
    const d = new FrameDecoder();
    const frame = encodeData(Buffer.alloc(MAX_DATA_BYTES, 1));
    expect(d.push(frame.subarray(0, HEADER_BYTES))).toEqual([]);
    let out = 0;
    for (let at = HEADER_BYTES; at < frame.length; at += 100_000) {
      for (const f of d.push(frame.subarray(at, Math.min(frame.length, at + 100_000)))) out += f.type === 'data' ? f.bytes.length : 0;
      expect(d.bufferedBytes).toBe(0);
    }
    expect(out).toBe(MAX_DATA_BYTES);
  });

  it('(c) any sequence of valid frames, split anywhere, decodes to the same frames', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 10 }), cutsArb, (frames, cuts) => {
        const { frames: out, error } = feed(split(Buffer.concat(frames.map(encodeFrame)), cuts));
        expect(error).toBeNull();
        expect(norm(out)).toEqual(norm(frames));
      }),
      { numRuns: 500 },
    );
  });
});
