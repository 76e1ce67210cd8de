import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, Decoder, Encoder, gfInv, gfMul, packCoeffs, tsKernelFactory, unpackCoeffs, type CodeParams, type Field } from '../../coded/codec/index.js';
import { runCodecSuite, seeded } from './codec-suite.js';

runCodecSuite('default', undefined);
runCodecSuite('ts', tsKernelFactory);

describe('with Math.random as the rng', () => {
  // V8's Math.random is GF(2)-linear in its state and served 64 values per refill: drawing a vector
  // of exactly one refill (k = 256 over GF(2^8)) once capped the rank of all coded packets at 128.
  it.each([
    ['gf256', 256, 4],
    ['gf256', 64, 4],
    ['gf2', 256, 40],
    ['gf2', 2048, 40],
  ] as const)('%s k=%i decodes from coded and recoded packets within k + %i', (field, k, extra) => {
    const p: CodeParams = { field, k, symbolBytes: 16 };
    const source = new Uint8Array(k * 16).map((_, i) => (i * 89) & 0xff);
    const enc = new Encoder(p, source, Math.random);
    const relay = new Decoder(p);
    const sink = new Decoder(p);
    for (let n = 0; !relay.complete; n++) {
      expect(n).toBeLessThan(k + extra);
      relay.add(enc.coded());
    }
    for (let n = 0; !sink.complete; n++) {
      expect(n).toBeLessThan(k + extra);
      sink.add(relay.recode(Math.random)!);
    }
    expect(relay.data()).toEqual(source);
    expect(sink.data()).toEqual(source);
  });
});

describe('output arrays', () => {
  it('are independent of each other and of the codec (views carved from shared slabs)', () => {
    const p: CodeParams = { field: 'gf256', k: 8, symbolBytes: 1280 };
    const source = new Uint8Array(8 * 1280).map((_, i) => (i * 13) & 0xff);
    const enc = new Encoder(p, source, seeded(5));
    const dec = new Decoder(p);
    const pkts = Array.from({ length: 200 }, () => enc.coded());
    const copies = pkts.map((x) => ({ coeffs: Uint8Array.from(x.coeffs), payload: Uint8Array.from(x.payload) }));
    for (const x of pkts.slice(0, 10)) dec.add(x);
    const r = dec.recode(seeded(6))!;
    const rCopy = Uint8Array.from(r.payload);
    for (const x of pkts) {
      x.payload.fill(0xee);
      x.coeffs.fill(0xee);
    }
    expect(r.payload).toEqual(rCopy);
    enc.coded();
    dec.recode(seeded(7));
    for (let i = 0; i < 200; i += 37) expect(pkts[i]!.payload.every((b) => b === 0xee)).toBe(true);
    expect(copies[199]!.payload.length).toBe(1280);
    expect(dec.data()).toEqual(source);
  });
});

describe('GF(2^8) arithmetic', () => {
  const byte = fc.integer({ min: 0, max: 255 });
  it('is a field: commutative, associative, distributive over XOR, with inverses', () => {
    fc.assert(
      fc.property(byte, byte, byte, (a, b, c) => {
        expect(gfMul(a, b)).toBe(gfMul(b, a));
        expect(gfMul(gfMul(a, b), c)).toBe(gfMul(a, gfMul(b, c)));
        expect(gfMul(a, b ^ c)).toBe(gfMul(a, b) ^ gfMul(a, c));
        expect(gfMul(a, 1)).toBe(a);
        if (a !== 0) expect(gfMul(a, gfInv(a))).toBe(1);
      }),
    );
  });
  it('reduces by 0x11d: 2 * 0x80 = 0x1d', () => {
    expect(gfMul(2, 0x80)).toBe(0x1d);
    expect(() => gfInv(0)).toThrow(RangeError);
  });
});

describe('coefficient packing', () => {
  it('round-trips, GF(2) 8 per byte', () => {
    fc.assert(
      fc.property(fc.constantFrom<Field>('gf2', 'gf256'), fc.uint8Array({ minLength: 1, maxLength: 300 }), (field, raw) => {
        const c = field === 'gf2' ? raw.map((x) => x & 1) : raw;
        const packed = packCoeffs(field, c);
        expect(packed.length).toBe(field === 'gf2' ? Math.ceil(c.length / 8) : c.length);
        expect(unpackCoeffs(field, c.length, packed)).toEqual(c);
      }),
    );
  });
  it('rejects wrong lengths and nonzero padding', () => {
    expect(() => unpackCoeffs('gf2', 12, new Uint8Array(3))).toThrow(CodecError);
    expect(() => unpackCoeffs('gf256', 12, new Uint8Array(11))).toThrow(CodecError);
    expect(() => unpackCoeffs('gf2', 12, Uint8Array.of(0, 0x10))).toThrow(/padding/);
    expect(unpackCoeffs('gf2', 12, Uint8Array.of(1, 0x08))[11]).toBe(1);
    expect(() => packCoeffs('gf2', Uint8Array.of(0, 2))).toThrow(CodecError);
  });
});

describe('parameters', () => {
  it('rejects bad ones', () => {
    const bad: unknown[] = [
      { field: 'gf3', k: 4, symbolBytes: 4 },
      { field: 'gf2', k: 0, symbolBytes: 4 },
      { field: 'gf2', k: 4.5, symbolBytes: 4 },
      { field: 'gf2', k: 4, symbolBytes: 0 },
      { field: 'gf2', k: 4, symbolBytes: 4, density: 0 },
      { field: 'gf2', k: 4, symbolBytes: 4, density: 1.5 },
      { field: 'gf2', k: 4, symbolBytes: 4, band: 5 },
    ];
    for (const p of bad) expect(() => new Decoder(p as CodeParams)).toThrow(CodecError);
    expect(() => new Encoder({ field: 'gf2', k: 4, symbolBytes: 4 }, new Uint8Array(15), Math.random)).toThrow(/BAD_SOURCE/);
    const enc = new Encoder({ field: 'gf2', k: 4, symbolBytes: 4 }, new Uint8Array(16), Math.random);
    expect(() => enc.systematic(4)).toThrow(/BAD_INDEX/);
  });
  it('banded codes put nonzeros only in a (cyclic) window of `band` symbols, and cover every symbol', () => {
    const rng = seeded(3);
    const enc = new Encoder({ field: 'gf256', k: 64, symbolBytes: 8, band: 16 }, new Uint8Array(512), rng);
    const covered = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const c = enc.coded().coeffs;
      const nz = [...c.keys()].filter((j) => c[j] !== 0);
      nz.forEach((j) => covered.add(j));
      // Some rotation of the vector puts all nonzeros within 16 consecutive positions.
      const fits = [...Array(64).keys()].some((r) => nz.every((j) => (j - r + 64) % 64 < 16));
      expect(fits).toBe(true);
    }
    expect(covered.size).toBe(64);
  });
  it('a GF(2) band-16 code at k=256 decodes with a modest overhead', () => {
    const p: CodeParams = { field: 'gf2', k: 256, symbolBytes: 8, band: 16 };
    const enc = new Encoder(p, new Uint8Array(256 * 8), Math.random);
    const dec = new Decoder(p);
    let n = 0;
    while (!dec.complete) {
      dec.add(enc.coded());
      n++;
    }
    expect(n).toBeLessThan(1.5 * 256);
  });
});
