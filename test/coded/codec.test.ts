import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, Decoder, Encoder, gfInv, gfMul, packCoeffs, tsKernelFactory, unpackCoeffs, type CodeParams, type Field } from '../../coded/codec/index.js';
import { runCodecSuite, seeded } from './codec-suite.js';

runCodecSuite('default', undefined);
runCodecSuite('ts', tsKernelFactory);

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
  it('banded codes put nonzeros only in a window of `band` symbols', () => {
    const rng = seeded(3);
    const enc = new Encoder({ field: 'gf256', k: 64, symbolBytes: 8, band: 16 }, new Uint8Array(512), rng);
    for (let i = 0; i < 200; i++) {
      const c = enc.coded().coeffs;
      const nz = [...c.keys()].filter((j) => c[j] !== 0);
      expect(nz[nz.length - 1]! - nz[0]!).toBeLessThan(16);
    }
  });
});
