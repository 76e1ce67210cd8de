import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../wire/decoder.js';
import { ErrorCode, RemoteProtocolError, errorCodeName } from '../../wire/errors.js';
import {
  DIGEST_BYTES,
  FrameType,
  HEADER_BYTES,
  MAGIC,
  MAX_DATA_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_FRAGMENT_BYTES,
  MAX_FRAGMENT_COUNT,
  PROTOCOL_VERSION,
  encodeData,
  encodeDataHeader,
  encodeEnd,
  encodeError,
  encodeFrame,
  encodeHello,
  encodeProgress,
  type Frame,
  type HelloFrame,
} from '../../wire/frames.js';
import { norm } from '../helpers/frames.js';

const TRANSFER_ID = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const DIGEST = Buffer.from('ab'.repeat(DIGEST_BYTES), 'hex');

/** A frame from a raw type byte and body, with a correct header length. */
function raw(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** A bare header announcing `bodyLength` bytes (the body is not sent). */
function headerOnly(type: number, bodyLength: number): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(bodyLength, 1);
  return head;
}

function hello(over: Partial<Omit<HelloFrame, 'type'>> = {}): Buffer {
  return encodeHello({ transferId: TRANSFER_ID, index: 0, count: 4, lengthBytes: 1000, offsetBytes: 0, ...over });
}

/** Body offsets inside an encoded HELLO (header included). */
const AT = { magic: 5, version: 9, transferId: 11, index: 27, count: 31, length: 35, offset: 43 } as const;


function decodeAll(bytes: Buffer): Frame[] {
  return new FrameDecoder().push(bytes);
}

/** The RemoteProtocolError decoding `bytes` throws, as {code, message}; fails if it throws anything else. */
function rejection(bytes: Buffer): { code: ErrorCode; message: string } {
  try {
    new FrameDecoder().push(bytes);
  } catch (err) {
    if (err instanceof RemoteProtocolError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error(`decoding ${bytes.toString('hex')} did not throw`);
}

describe('encodeFrame + FrameDecoder round trip', () => {
  const frames: Frame[] = [
    { type: 'hello', transferId: TRANSFER_ID, index: 3, count: 64, lengthBytes: 1 << 20, offsetBytes: 4096 },
    { type: 'hello', transferId: TRANSFER_ID, index: MAX_FRAGMENT_COUNT - 1, count: MAX_FRAGMENT_COUNT, lengthBytes: MAX_FRAGMENT_BYTES, offsetBytes: MAX_FRAGMENT_BYTES },
    { type: 'accept', offsetBytes: 0 },
    { type: 'accept', offsetBytes: Number.MAX_SAFE_INTEGER },
    { type: 'data', bytes: Buffer.from([0]) },
    { type: 'data', bytes: Buffer.from('hello, fragment') },
    { type: 'data', bytes: Buffer.alloc(MAX_DATA_BYTES, 7) },
    { type: 'end', sha256: DIGEST },
    { type: 'progress', receivedBytes: 0 },
    { type: 'progress', receivedBytes: Number.MAX_SAFE_INTEGER },
    { type: 'ack', sha256: Buffer.alloc(DIGEST_BYTES, 0xff) },
    { type: 'error', code: ErrorCode.DigestMismatch, message: 'sha256 differs: fragment discarded' },
    { type: 'error', code: ErrorCode.Internal, message: '' },
    { type: 'error', code: ErrorCode.Storage, message: 'ñ€😀'.repeat(10) },
    { type: 'error', code: 65535 as ErrorCode, message: 'x'.repeat(MAX_ERROR_MESSAGE_BYTES) },
  ];

  it.each(frames.map((f) => [f.type, f] as const))('%s', (_type, frame) => {
    const out = decodeAll(encodeFrame(frame));
    expect(norm(out)).toEqual(norm([frame]));
    expect(out.map((f) => f.type)).toEqual([frame.type]);
  });

  it('decodes all of them from one buffer, in order, leaving nothing buffered', () => {
    const d = new FrameDecoder();
    expect(norm(d.push(Buffer.concat(frames.map(encodeFrame))))).toEqual(norm(frames));
    expect(d.bufferedBytes).toBe(0);
  });

  it('decodes them fed one byte at a time', () => {
    const small = frames.filter((f) => f.type !== 'data' || f.bytes.length < 100);
    const bytes = Buffer.concat(small.map(encodeFrame));
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.subarray(i, i + 1)));
    expect(norm(out)).toEqual(norm(small));
    expect(d.bufferedBytes).toBe(0);
  });

  it('writes each frame type with its wire number', () => {
    expect(frames.map((f) => encodeFrame(f)[0])).toEqual([1, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 7, 7, 7]);
    expect([FrameType.Hello, FrameType.Accept, FrameType.Data, FrameType.End, FrameType.Progress, FrameType.Ack, FrameType.Error]).toEqual([
      1, 2, 3, 4, 5, 6, 7,
    ]);
  });
});

describe('exact bytes', () => {
  it('HELLO (golden)', () => {
    const b = encodeHello({ transferId: TRANSFER_ID, index: 2, count: 5, lengthBytes: 0x0102030405, offsetBytes: 7 });
    expect(b.toString('hex')).toBe(
      [
        '01', '0000002e', // type 1, body 46 bytes
        '464e5431', '0001', // "FNT1", version 1
        '000102030405060708090a0b0c0d0e0f', // transfer id
        '00000002', '00000005', // index, count
        '0000000102030405', '0000000000000007', // lengthBytes, offsetBytes (u64 BE)
      ].join(''),
    );
    expect(MAGIC).toBe(0x464e5431);
    expect(PROTOCOL_VERSION).toBe(1);
  });

  it('authenticated HELLO, CHALLENGE, AUTH, END and ACK (golden)', () => {
    const nonce = Buffer.from('f0'.repeat(16), 'hex');
    const b = encodeHello({ transferId: TRANSFER_ID, index: 2, count: 5, lengthBytes: 0x0102030405, offsetBytes: 7, nonce });
    expect(b.toString('hex')).toBe(
      [
        '01', '0000003e', // type 1, body 62 bytes: the plain HELLO, then the sender's nonce
        '464e5431', '0001',
        '000102030405060708090a0b0c0d0e0f',
        '00000002', '00000005',
        '0000000102030405', '0000000000000007',
        'f0'.repeat(16),
      ].join(''),
    );
    expect(encodeFrame({ type: 'challenge', nonce }).toString('hex')).toBe(`0800000010${'f0'.repeat(16)}`);
    expect(encodeFrame({ type: 'auth', mac: Buffer.alloc(32, 2) }).toString('hex')).toBe(`0900000020${'02'.repeat(32)}`);
    expect(encodeEnd(Buffer.alloc(32, 1), Buffer.alloc(32, 3)).toString('hex')).toBe(`0400000040${'01'.repeat(32)}${'03'.repeat(32)}`);
    expect(encodeFrame({ type: 'ack', sha256: Buffer.alloc(32, 1), mac: Buffer.alloc(32, 4) }).toString('hex')).toBe(
      `0600000040${'01'.repeat(32)}${'04'.repeat(32)}`,
    );
    const d = new FrameDecoder();
    const out = d.push(Buffer.concat([b, encodeEnd(Buffer.alloc(32, 1), Buffer.alloc(32, 3)), encodeFrame({ type: 'challenge', nonce })]));
    expect(out[0]).toMatchObject({ type: 'hello', index: 2, nonce });
    expect(out[1]).toMatchObject({ type: 'end', sha256: Buffer.alloc(32, 1), mac: Buffer.alloc(32, 3) });
    expect(out[2]).toEqual({ type: 'challenge', nonce });
    expect([FrameType.Challenge, FrameType.Auth, ErrorCode.Auth, ErrorCode.Quota, ErrorCode.Conflict]).toEqual([8, 9, 13, 14, 15]);
  });

  it('ACCEPT, DATA, END, PROGRESS, ERROR (golden)', () => {
    expect(encodeFrame({ type: 'accept', offsetBytes: 258 }).toString('hex')).toBe('020000000e464e543100010000000000000102');
    expect(encodeData(Buffer.from('abc')).toString('hex')).toBe('0300000003616263');
    expect(encodeDataHeader(MAX_DATA_BYTES).toString('hex')).toBe('0300100000');
    expect(encodeEnd(Buffer.alloc(32, 1)).toString('hex')).toBe(`0400000020${'01'.repeat(32)}`);
    expect(encodeProgress(2 ** 40).toString('hex')).toBe('05000000080000010000000000');
    expect(encodeError(ErrorCode.Refused, 'no').toString('hex')).toBe('0700000004000a6e6f');
  });

  it('encodeDataHeader writes into a caller buffer', () => {
    const into = Buffer.alloc(HEADER_BYTES, 0xee);
    expect(encodeDataHeader(5, into)).toBe(into);
    expect(into.toString('hex')).toBe('0300000005');
  });
});

describe('encoder refuses what it cannot encode', () => {
  it('transfer id and digests of the wrong size, DATA of 0 or too many bytes', () => {
    expect(() => hello({ transferId: Buffer.alloc(15) })).toThrow(new RangeError('transferId must be 16 bytes'));
    expect(() => encodeEnd(Buffer.alloc(31))).toThrow(new RangeError('sha256 must be 32 bytes'));
    expect(() => encodeFrame({ type: 'ack', sha256: Buffer.alloc(33) })).toThrow(new RangeError('sha256 must be 32 bytes'));
    expect(() => encodeData(Buffer.alloc(0))).toThrow(new RangeError('data body 0 out of range'));
    expect(() => encodeDataHeader(MAX_DATA_BYTES + 1)).toThrow(new RangeError(`data body ${MAX_DATA_BYTES + 1} out of range`));
  });

  it('truncates an ERROR message to 1024 bytes', () => {
    const [f] = decodeAll(encodeError(ErrorCode.Internal, 'y'.repeat(5000)));
    expect(f).toEqual({ type: 'error', code: ErrorCode.Internal, message: 'y'.repeat(MAX_ERROR_MESSAGE_BYTES) });
  });

  it('truncates an ERROR message on a character boundary (never sends half a UTF-8 sequence)', () => {
    // 'a' then 600 two-byte characters: byte 1024 falls in the middle of a character.
    const message = `a${'é'.repeat(600)}`;
    const encoded = encodeError(ErrorCode.Internal, message);
    const [f] = decodeAll(encoded);
    expect(f).toEqual({ type: 'error', code: ErrorCode.Internal, message: `a${'é'.repeat(511)}` });
    expect(encoded.length).toBe(HEADER_BYTES + 2 + 1023);
    // A four-byte character cut after its first byte.
    const [g] = decodeAll(encodeError(ErrorCode.Internal, `${'z'.repeat(1022)}😀`));
    expect(g).toEqual({ type: 'error', code: ErrorCode.Internal, message: 'z'.repeat(1022) });
  });
});

describe('decoder limits', () => {
  it('unknown frame types', () => {
    expect(rejection(raw(0, Buffer.alloc(1)))).toEqual({ code: ErrorCode.UnknownFrame, message: 'unknown frame type 0' });
    expect(rejection(raw(10, Buffer.alloc(1)))).toEqual({ code: ErrorCode.UnknownFrame, message: 'unknown frame type 10' });
    expect(rejection(headerOnly(255, 0))).toEqual({ code: ErrorCode.UnknownFrame, message: 'unknown frame type 255' });
  });

  it('DATA with body length 0 and above MAX_DATA_BYTES (from the header alone)', () => {
    expect(rejection(headerOnly(FrameType.Data, 0))).toEqual({
      code: ErrorCode.BadLength,
      message: 'data frame with body length 0 (expected 1..1048576)',
    });
    expect(rejection(headerOnly(FrameType.Data, MAX_DATA_BYTES + 1))).toEqual({
      code: ErrorCode.BadLength,
      message: 'data frame with body length 1048577 (expected 1..1048576)',
    });
  });

  it('HELLO, ACCEPT, END, PROGRESS, ACK of the wrong length', () => {
    const cases: [number, number, string][] = [
      [FrameType.Hello, 45, 'hello frame with body length 45 (expected 46 or 62)'],
      [FrameType.Hello, 47, 'hello frame with body length 47 (expected 46 or 62)'],
      [FrameType.Hello, 63, 'hello frame with body length 63 (expected 46 or 62)'],
      [FrameType.Accept, 13, 'accept frame with body length 13 (expected 14)'],
      [FrameType.End, 31, 'end frame with body length 31 (expected 32 or 64)'],
      [FrameType.End, 33, 'end frame with body length 33 (expected 32 or 64)'],
      [FrameType.Progress, 9, 'progress frame with body length 9 (expected 8)'],
      [FrameType.Ack, 0, 'ack frame with body length 0 (expected 32 or 64)'],
      [FrameType.Challenge, 15, 'challenge frame with body length 15 (expected 16)'],
      [FrameType.Auth, 31, 'auth frame with body length 31 (expected 32)'],
      [FrameType.Error, 1, 'error frame with body length 1 (expected 2..1026)'],
    ];
    for (const [type, length, message] of cases) {
      expect(rejection(raw(type, Buffer.alloc(length))), message).toEqual({ code: ErrorCode.BadLength, message });
    }
  });

  it('ERROR message above 1024 bytes; exactly 1024 is accepted', () => {
    const body = (n: number): Buffer => Buffer.concat([Buffer.from([0, 12]), Buffer.alloc(n, 0x41)]);
    expect(rejection(raw(FrameType.Error, body(MAX_ERROR_MESSAGE_BYTES + 1)))).toEqual({
      code: ErrorCode.BadLength,
      message: 'error frame with body length 1027 (expected 2..1026)',
    });
    expect(decodeAll(raw(FrameType.Error, body(MAX_ERROR_MESSAGE_BYTES)))).toEqual([
      { type: 'error', code: ErrorCode.Internal, message: 'A'.repeat(1024) },
    ]);
  });

  it('bad magic in HELLO and ACCEPT', () => {
    const h = hello();
    h.writeUInt32BE(0x464e5432, AT.magic);
    expect(rejection(h)).toEqual({ code: ErrorCode.BadMagic, message: 'hello: not a fanout peer (magic 0x464e5432)' });
    const a = encodeFrame({ type: 'accept', offsetBytes: 0 });
    a.write('GET ', HEADER_BYTES, 'latin1');
    expect(rejection(a)).toEqual({ code: ErrorCode.BadMagic, message: 'accept: not a fanout peer (magic 0x47455420)' });
  });

  it('wrong protocol version in HELLO and ACCEPT', () => {
    const h = hello();
    h.writeUInt16BE(2, AT.version);
    expect(rejection(h)).toEqual({ code: ErrorCode.Version, message: 'hello: protocol version 2, this program speaks 1' });
    const a = encodeFrame({ type: 'accept', offsetBytes: 0 });
    a.writeUInt16BE(0, HEADER_BYTES + 4);
    expect(rejection(a)).toEqual({ code: ErrorCode.Version, message: 'accept: protocol version 0, this program speaks 1' });
  });

  it('HELLO fields out of range', () => {
    const cases: [Partial<Omit<HelloFrame, 'type'>>, string][] = [
      [{ index: 4, count: 4 }, 'hello.index 4 not below count 4'],
      [{ index: 9, count: 4 }, 'hello.index 9 not below count 4'],
      [{ index: 0, count: 0 }, 'hello.count 0 out of range 1..16777216'],
      [{ index: 0, count: MAX_FRAGMENT_COUNT + 1 }, 'hello.count 16777217 out of range 1..16777216'],
      [{ lengthBytes: 0 }, 'hello.lengthBytes 0 out of range'],
      [{ lengthBytes: MAX_FRAGMENT_BYTES + 1, offsetBytes: 0 }, 'hello.lengthBytes 281474976710657 out of range'],
      [{ lengthBytes: 10, offsetBytes: 11 }, 'hello.offsetBytes 11 beyond length 10'],
    ];
    for (const [over, message] of cases) {
      expect(rejection(hello(over)), message).toEqual({ code: ErrorCode.BadField, message });
    }
    // The edges themselves are fine.
    expect(decodeAll(hello({ index: 3, count: 4, lengthBytes: 10, offsetBytes: 10 }))).toHaveLength(1);
  });

  it('u64 fields beyond 2^53 - 1', () => {
    const progress = (v: bigint): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(v);
      return raw(FrameType.Progress, b);
    };
    expect(decodeAll(progress(2n ** 53n - 1n))).toEqual([{ type: 'progress', receivedBytes: Number.MAX_SAFE_INTEGER }]);
    expect(rejection(progress(2n ** 53n))).toEqual({
      code: ErrorCode.BadField,
      message: 'progress.receivedBytes 9007199254740992 is out of range',
    });

    const h = hello();
    h.writeBigUInt64BE(2n ** 64n - 1n, AT.length);
    expect(rejection(h)).toEqual({ code: ErrorCode.BadField, message: 'hello.lengthBytes 18446744073709551615 is out of range' });
    const h2 = hello();
    h2.writeBigUInt64BE(2n ** 53n, AT.offset);
    expect(rejection(h2)).toEqual({ code: ErrorCode.BadField, message: 'hello.offsetBytes 9007199254740992 is out of range' });

    const a = encodeFrame({ type: 'accept', offsetBytes: 0 });
    a.writeBigUInt64BE(2n ** 63n, HEADER_BYTES + 6);
    expect(rejection(a)).toEqual({ code: ErrorCode.BadField, message: 'accept.offsetBytes 9223372036854775808 is out of range' });
  });

  it('a header announcing 4 GiB is refused before any body byte arrives', () => {
    const d = new FrameDecoder();
    expect(() => d.push(headerOnly(FrameType.Data, 0xffffffff))).toThrow(
      new RemoteProtocolError(ErrorCode.BadLength, 'data frame with body length 4294967295 (expected 1..1048576)'),
    );
    expect(d.bufferedBytes).toBe(0);
  });

  it('an incomplete control frame is held, not decoded', () => {
    const d = new FrameDecoder();
    const h = hello();
    expect(d.push(h.subarray(0, 4))).toEqual([]);
    expect(d.bufferedBytes).toBe(4);
    expect(d.push(h.subarray(4, h.length - 1))).toEqual([]);
    expect(d.bufferedBytes).toBe(h.length - 1);
    expect(d.push(h.subarray(h.length - 1))).toHaveLength(1);
    expect(d.bufferedBytes).toBe(0);
  });

  it('a DATA body is handed out as it arrives, never buffered', () => {
    const d = new FrameDecoder();
    const body = Buffer.from('0123456789');
    const frame = Buffer.concat([encodeData(body), encodeFrame({ type: 'progress', receivedBytes: 10 })]);
    expect(d.push(frame.subarray(0, 3))).toEqual([]); // a partial header is held
    expect(d.bufferedBytes).toBe(3);
    expect(d.push(frame.subarray(3, 5))).toEqual([]); // the header alone: nothing to hand out yet
    expect(d.bufferedBytes).toBe(0);
    const a = d.push(frame.subarray(5, 9));
    expect(norm(a)).toEqual([{ type: 'data', bytes: `hex:${body.subarray(0, 4).toString('hex')}` }]);
    expect(d.bufferedBytes).toBe(0);
    // The rest of the body and the first byte of the next frame.
    const b = d.push(frame.subarray(9, 16));
    expect(norm(b)).toEqual([{ type: 'data', bytes: `hex:${body.subarray(4).toString('hex')}` }]);
    expect(d.bufferedBytes).toBe(1);
    expect(d.push(frame.subarray(16))).toEqual([{ type: 'progress', receivedBytes: 10 }]);
    expect(d.bufferedBytes).toBe(0);
  });
});

describe('a decoder is poisoned after an error', () => {
  it('throws the same error on every later push, even of valid bytes or nothing', () => {
    const d = new FrameDecoder();
    const good = encodeFrame({ type: 'progress', receivedBytes: 5 });
    // A valid frame, then an unknown type in the same push: the error wins.
    let first: unknown;
    try {
      d.push(Buffer.concat([good, raw(10, Buffer.alloc(3))]));
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(RemoteProtocolError);
    expect((first as RemoteProtocolError).code).toBe(ErrorCode.UnknownFrame);
    expect(d.bufferedBytes).toBe(0);
    for (const next of [good, Buffer.alloc(0), hello()]) {
      let again: unknown;
      try {
        d.push(next);
      } catch (err) {
        again = err;
      }
      expect(again).toBe(first);
    }
    expect(d.bufferedBytes).toBe(0);
  });
});

describe('error codes are part of the wire format', () => {
  it('keep their numbers', () => {
    expect({ ...ErrorCode }).toMatchObject({
      UnknownFrame: 1,
      BadLength: 2,
      BadField: 3,
      BadMagic: 4,
      Version: 5,
      Unexpected: 6,
      TooMuchData: 7,
      DigestMismatch: 8,
      Storage: 9,
      Refused: 10,
      Timeout: 11,
      Internal: 12,
    });
  });

  it('errorCodeName', () => {
    expect(errorCodeName(ErrorCode.DigestMismatch)).toBe('DigestMismatch');
    expect(errorCodeName(99)).toBe('code-99');
  });

  it('RemoteProtocolError carries code, message and name', () => {
    const e = new RemoteProtocolError(ErrorCode.Timeout, 'slow');
    expect([e.name, e.code, e.message, e instanceof Error]).toEqual(['RemoteProtocolError', 11, 'slow', true]);
  });
});
