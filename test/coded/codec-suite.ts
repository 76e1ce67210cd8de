/** The codec's promises, run against any kernel (codec.test.ts: TypeScript and default; kernel.test.ts: wasm from kernel.wat). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  Decoder,
  Encoder,
  gfInv,
  gfMul,
  packCoeffs,
  tsKernelFactory,
  unpackCoeffs,
  type CodeParams,
  type CodedPacket,
  type Field,
  type KernelFactory,
} from '../../coded/codec/index.js';

/** A seeded generator in [0, 1) (mulberry32), so fast-check's seeds reproduce a failure. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reference: the payload of coefficient vector `c` over `source`, byte by byte with gfMul. */
function combination(source: Uint8Array, s: number, c: Uint8Array): Uint8Array {
  const out = new Uint8Array(s);
  for (let i = 0; i < c.length; i++) for (let b = 0; b < s; b++) out[b] = out[b]! ^ gfMul(c[i]!, source[i * s + b]!);
  return out;
}

/** Reference: rank of a set of coefficient vectors by plain Gaussian elimination. */
function rankOf(rows: Uint8Array[], k: number): number {
  const m = rows.map((r) => Uint8Array.from(r));
  let rank = 0;
  for (let col = 0; col < k && rank < m.length; col++) {
    const piv = m.findIndex((r, i) => i >= rank && r[col] !== 0);
    if (piv < 0) continue;
    [m[rank], m[piv]] = [m[piv]!, m[rank]!];
    const inv = gfInv(m[rank]![col]!);
    for (let j = 0; j < k; j++) m[rank]![j] = gfMul(m[rank]![j]!, inv);
    for (let i = 0; i < m.length; i++) {
      if (i === rank || m[i]![col] === 0) continue;
      const f = m[i]![col]!;
      for (let j = 0; j < k; j++) m[i]![j] = m[i]![j]! ^ gfMul(f, m[rank]![j]!);
    }
    rank++;
  }
  return rank;
}

export function runCodecSuite(name: string, kernel: KernelFactory | undefined): void {
  const paramsArb: fc.Arbitrary<CodeParams> = fc
    .record({
      field: fc.constantFrom<Field>('gf2', 'gf256'),
      k: fc.integer({ min: 1, max: 40 }),
      symbolBytes: fc.integer({ min: 1, max: 70 }),
      shape: fc.constantFrom('dense', 'sparse', 'band'),
      density: fc.double({ min: 0.05, max: 1, noNaN: true }),
      bandFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ field, k, symbolBytes, shape, density, bandFrac }): CodeParams => {
      if (shape === 'dense') return { field, k, symbolBytes };
      // Over GF(2) a density above 1/2 only makes packets alike (at 1 every one is all-ones): not a code anyone uses.
      if (shape === 'sparse') return { field, k, symbolBytes, density: field === 'gf2' ? density / 2 : density };
      return { field, k, symbolBytes, band: 1 + Math.floor(bandFrac * (k - 1)) };
    });
  const opts = kernel ? { kernel } : {};

  describe(`codec (${name} kernel)`, () => {
    it('decodes exactly once any k independent packets arrived, and reports dependence as plain elimination does', () => {
      fc.assert(
        fc.property(paramsArb, fc.integer(), fc.boolean(), (p, seed, someSystematic) => {
          const rng = seeded(seed);
          const source = new Uint8Array(p.k * p.symbolBytes).map(() => Math.floor(rng() * 256));
          const enc = new Encoder(p, source, rng, opts);
          const dec = new Decoder(p, opts);
          const seen: Uint8Array[] = [];
          let rank = 0;
          let dependent = 0;
          for (let n = 0; !dec.complete; n++) {
            expect(n).toBeLessThan(50 * p.k + 100);
            const pkt = someSystematic && rng() < 0.3 ? enc.systematic(Math.floor(rng() * p.k)) : enc.coded();
            expect(pkt.payload).toEqual(combination(source, p.symbolBytes, pkt.coeffs));
            seen.push(pkt.coeffs);
            const r = rankOf(seen, p.k);
            expect(dec.add(pkt)).toBe(r > rank ? 'innovative' : 'dependent');
            if (r === rank) dependent++;
            rank = r;
            expect(dec.rank).toBe(rank);
            expect(dec.dependent).toBe(dependent);
          }
          expect(dec.data()).toEqual(source);
          expect(dec.add(enc.coded())).toBe('dependent');
          expect(dec.dependent).toBe(dependent + 1);
        }),
        { numRuns: 150 },
      );
    });

    it('recoded packets are valid combinations of the source, before and after decoding, and decode on their own', () => {
      fc.assert(
        fc.property(paramsArb, fc.integer(), (p, seed) => {
          const rng = seeded(seed);
          const source = new Uint8Array(p.k * p.symbolBytes).map(() => Math.floor(rng() * 256));
          const enc = new Encoder(p, source, rng, opts);
          const relay = new Decoder(p, opts);
          const sink = new Decoder(p, opts);
          expect(relay.recode(rng)).toBeNull();
          for (let n = 0; !sink.complete; n++) {
            expect(n).toBeLessThan(100 * p.k + 200);
            if (!relay.complete) relay.add(enc.coded());
            // 1 to 3 recodes per packet taken: from the second at a rank on, GF(2^8) recodes from
            // the rows' split form, which must give the same kind of packet.
            for (let j = 0; j <= n % 3 && !sink.complete; j++) {
              const r = relay.recode(rng)!;
              expect(r.coeffs.length).toBe(p.k);
              expect(r.coeffs.some((c) => c !== 0)).toBe(true);
              if (p.field === 'gf2') expect(r.coeffs.every((c) => c <= 1)).toBe(true);
              expect(r.payload).toEqual(combination(source, p.symbolBytes, r.coeffs));
              sink.add(r);
            }
          }
          expect(sink.data()).toEqual(source);
        }),
        { numRuns: 100 },
      );
    });

    it('counts repeated and summed packets as dependent', () => {
      const p: CodeParams = { field: 'gf256', k: 8, symbolBytes: 32 };
      const rng = seeded(7);
      const source = new Uint8Array(8 * 32).map((_, i) => i * 7);
      const enc = new Encoder(p, source, rng, opts);
      const dec = new Decoder(p, opts);
      const a = enc.coded();
      const b = enc.coded();
      expect(dec.add(a)).toBe('innovative');
      expect(dec.add(a)).toBe('dependent');
      expect(dec.add(b)).toBe('innovative');
      const sum: CodedPacket = { coeffs: a.coeffs.map((x, i) => x ^ gfMul(3, b.coeffs[i]!)), payload: a.payload.map((x, i) => x ^ gfMul(3, b.payload[i]!)) };
      expect(dec.add(sum)).toBe('dependent');
      expect(dec.add({ coeffs: new Uint8Array(8), payload: new Uint8Array(32) })).toBe('dependent');
      expect(dec.dependent).toBe(3);
      expect(dec.received).toBe(5);
      expect(dec.rank).toBe(2);
      expect(() => dec.data()).toThrow(CodecError);
    });

    it('rejects garbage with a typed error and leaves the decoder as it was', () => {
      for (const field of ['gf2', 'gf256'] as const) {
        const p: CodeParams = { field, k: 16, symbolBytes: 100 };
        const rng = seeded(11);
        const source = new Uint8Array(16 * 100).map(() => Math.floor(rng() * 256));
        const enc = new Encoder(p, source, rng, opts);
        const dec = new Decoder(p, opts);
        dec.add(enc.coded());
        const good = enc.coded();
        const bad: [unknown, string][] = [
          [{ coeffs: good.coeffs.subarray(0, 15), payload: good.payload }, 'BAD_COEFFS_LENGTH'],
          [{ coeffs: new Uint8Array(17).fill(1), payload: good.payload }, 'BAD_COEFFS_LENGTH'],
          [{ coeffs: good.coeffs, payload: good.payload.subarray(0, 99) }, 'BAD_PAYLOAD_LENGTH'],
          [{ coeffs: good.coeffs, payload: new Uint8Array(101) }, 'BAD_PAYLOAD_LENGTH'],
          [{ coeffs: Array.from(good.coeffs), payload: good.payload }, 'BAD_PACKET'],
          [{ coeffs: good.coeffs, payload: 'x'.repeat(100) }, 'BAD_PACKET'],
          [null, 'BAD_PACKET'],
        ];
        if (field === 'gf2') bad.push([{ coeffs: new Uint8Array(16).fill(2), payload: good.payload }, 'BAD_COEFF_VALUE']);
        for (const [pkt, code] of bad) {
          let err: unknown;
          try {
            dec.add(pkt as CodedPacket);
          } catch (e) {
            err = e;
          }
          expect(err, code).toBeInstanceOf(CodecError);
          expect((err as CodecError).code).toBe(code);
        }
        expect(dec.rank).toBe(1);
        expect(dec.received).toBe(1);
        while (!dec.complete) dec.add(enc.coded());
        expect(dec.data()).toEqual(source);
      }
    });
  });
}

