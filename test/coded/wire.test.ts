import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ControlReader,
  HEADER_BYTES,
  WireError,
  coeffBytes,
  decodeDatagram,
  encodeControl,
  encodeCtrlDatagram,
  encodeData,
  parseControl,
  type ControlMsg,
  type SessionShape,
} from '../../coded/wire.js';

const GF2: SessionShape = { session: 0xdeadbeef, segments: 10, field: 'gf2', k: 64, symbolBytes: 1280 };
const GF256: SessionShape = { session: 7, segments: 3, field: 'gf256', k: 32, symbolBytes: 100 };

function dataFor(shape: SessionShape, segment = 1, rank = shape.k): Buffer {
  const coeffs = new Uint8Array(coeffBytes(shape.field, shape.k)).fill(3);
  const payload = new Uint8Array(shape.symbolBytes).fill(9);
  return encodeData({ session: shape.session, segment, from: 2, rank }, coeffs, payload);
}

describe('DATA datagrams', () => {
  it('round-trip header, packed coefficients and payload', () => {
    for (const shape of [GF2, GF256]) {
      const buf = dataFor(shape, 2, 5);
      expect(buf.length).toBe(HEADER_BYTES + coeffBytes(shape.field, shape.k) + shape.symbolBytes);
      const d = decodeDatagram(buf, shape);
      if ('drop' in d || d.type !== 'data') throw new Error(`dropped: ${JSON.stringify(d)}`);
      expect(d).toMatchObject({ session: shape.session, segment: 2, from: 2, rank: 5 });
      expect([...d.coeffs]).toEqual(new Array(coeffBytes(shape.field, shape.k)).fill(3));
      expect(d.payload.length).toBe(shape.symbolBytes);
      expect(d.payload.every((b) => b === 9)).toBe(true);
    }
  });

  it('GF(2) with k = 64 costs 18 + 8 header bytes; GF(2^8) 18 + k', () => {
    expect(HEADER_BYTES + coeffBytes('gf2', 64)).toBe(26);
    expect(HEADER_BYTES + coeffBytes('gf256', 64)).toBe(82);
  });

  it('drops each kind of bad datagram with its reason', () => {
    const good = dataFor(GF2);
    expect(decodeDatagram(good.subarray(0, 10), GF2)).toEqual({ drop: 'truncated' });
    expect(decodeDatagram(good.subarray(0, good.length - 1), GF2)).toEqual({ drop: 'truncated' });
    expect(decodeDatagram(Buffer.concat([good, Buffer.from([0])]), GF2)).toEqual({ drop: 'bad-length' });
    const magic = Buffer.from(good);
    magic[0] = 0;
    expect(decodeDatagram(magic, GF2)).toEqual({ drop: 'bad-magic' });
    const version = Buffer.from(good);
    version[2] = 9;
    expect(decodeDatagram(version, GF2)).toEqual({ drop: 'bad-version' });
    const type = Buffer.from(good);
    type[3] = 77;
    expect(decodeDatagram(type, GF2)).toEqual({ drop: 'bad-type' });
    expect(decodeDatagram(good, { ...GF2, session: 1 })).toEqual({ drop: 'unknown-session' });
    // The same datagram read with another code's parameters: the coefficient vector has the wrong length.
    expect(decodeDatagram(dataFor({ ...GF2, k: 72 }), GF2)).toEqual({ drop: 'wrong-length' });
    expect(decodeDatagram(dataFor(GF2, 10), GF2)).toEqual({ drop: 'wrong-length' });
    const rank = dataFor(GF2, 1, 65);
    expect(decodeDatagram(rank, GF2)).toEqual({ drop: 'bad-rank' });
  });

  it('CTRL datagrams carry a validated control message', () => {
    const buf = encodeCtrlDatagram({ session: GF2.session, segment: 0, from: 3, rank: 0 }, { t: 'done', seg: 4 });
    expect(decodeDatagram(buf, GF2)).toMatchObject({ type: 'ctrl', from: 3, msg: { t: 'done', seg: 4 } });
    const bad = Buffer.from(buf);
    bad[HEADER_BYTES] = 0x7b + 1; // not JSON any more
    expect(decodeDatagram(bad, GF2)).toEqual({ drop: 'bad-ctrl' });
  });

  it('fuzz: any bytes decode to a datagram or a drop reason, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1600 }), fc.boolean(), (bytes, gf2) => {
        const r = decodeDatagram(bytes, gf2 ? GF2 : GF256);
        expect(typeof r).toBe('object');
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: a valid datagram with any bytes flipped or cut decodes or drops, and whatever decodes has the exact shape', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(GF2, GF256),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        (shape, flips, cut) => {
          const buf = Buffer.from(dataFor(shape));
          for (const [at, v] of flips) buf[at % buf.length] = v;
          const input = cut === undefined ? buf : buf.subarray(0, cut % (buf.length + 1));
          const r = decodeDatagram(input, shape);
          if ('drop' in r) return;
          if (r.type === 'data') {
            expect(r.coeffs.length).toBe(coeffBytes(shape.field, shape.k));
            expect(r.payload.length).toBe(shape.symbolBytes);
            expect(r.segment).toBeLessThan(shape.segments);
            expect(r.rank).toBeGreaterThanOrEqual(1);
            expect(r.rank).toBeLessThanOrEqual(shape.k);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('control messages', () => {
  const msgs: ControlMsg[] = [
    { t: 'hello', node: 3, udp: 7000, ctl: 7000, downKbps: 20000 },
    { t: 'want', seg: 5, kbps: 100 },
    { t: 'done', seg: 0 },
    { t: 'peers', seg: 2, peers: [{ node: 4, host: '198.18.0.5', udp: 7000, ctl: 7000 }] },
    { t: 'peer-hello', session: 9, node: 2, udp: 7000 },
    { t: 'ask', seg: 1, kbps: 5000 },
    { t: 'cap', kbps: 1 },
    { t: 'hold', seg: 1, rank: 33 },
    { t: 'manifest', session: 1, name: 'f.bin', size: 200, field: 'gf256', k: 2, symbolBytes: 64, band: 0, density: 1, systematic: true, hashes: ['a'.repeat(64), 'b'.repeat(64)] },
  ];

  it('round-trip through TCP frames split anywhere', () => {
    const stream = Buffer.concat(msgs.map(encodeControl));
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 10 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const r = new ControlReader();
        const out: ControlMsg[] = [];
        let last = 0;
        for (const p of [...points, stream.length]) {
          out.push(...r.push(stream.subarray(last, p)));
          last = p;
        }
        expect(out).toEqual(msgs);
      }),
    );
  });

  it('refuses oversize frames, non-JSON and bad fields with a WireError', () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(1 << 30);
    expect(() => new ControlReader(1024).push(big)).toThrow(WireError);
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{{{')]);
    expect(() => new ControlReader().push(notJson)).toThrow(WireError);
    expect(parseControl({ t: 'want', seg: -1, kbps: 1 })).toHaveProperty('error');
    expect(parseControl({ t: 'peers', seg: 1, peers: [{ node: 1, host: 'evil; rm', udp: 1, ctl: 1 }] })).toHaveProperty('error');
    expect(parseControl({ ...msgs[8]!, name: '../x' })).toHaveProperty('error');
    expect(parseControl({ ...msgs[8]!, hashes: ['a'.repeat(64)] })).toHaveProperty('error'); // 200 bytes in 128-byte segments: 2 hashes
    expect(parseControl({ ...msgs[8]!, k: 64, symbolBytes: 1456 })).toHaveProperty('error'); // over one frame
    expect(parseControl([1, 2])).toHaveProperty('error');
    expect(parseControl({ t: 'nope' })).toHaveProperty('error');
  });

  it('fuzz: any JSON value parses to a message or an error, never a throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = parseControl(v);
        expect(typeof r).toBe('object');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.record({ t: fc.constantFrom('hello', 'want', 'done', 'peers', 'peer-hello', 'ask', 'cap', 'hold', 'manifest') }, { requiredKeys: ['t'] }).chain((base) => fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue()).map((d) => ({ ...d, ...base }))), (v) => {
        expect(typeof parseControl(v)).toBe('object');
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: any byte stream makes the reader return messages or throw a WireError only', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const r = new ControlReader(4096);
        try {
          for (const c of chunks) r.push(Buffer.from(c));
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
