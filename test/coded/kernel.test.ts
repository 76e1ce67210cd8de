import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel, type KernelVariant } from '../../coded/codec/compile-wat.js';
import { kernelStatus, TsKernel, wasmKernelFactory, wasmSimdSupported, wasmRelaxedSimdSupported, type Kernel, type KernelFactory, type WasmKernelFactory } from '../../coded/codec/index.js';
import { runCodecSuite } from './codec-suite.js';

// Node 20 has relaxed SIMD behind a flag; turned on here (tests only) so both variants are checked.
setFlagsFromString('--experimental-wasm-relaxed-simd');

// The kernels compiled here from kernel.wat, not the build's artefacts, so the source is what is tested.
const variants: Record<KernelVariant, WasmKernelFactory | null> = { simd: null, relaxed: null };
let wasm: WasmKernelFactory;
beforeAll(async () => {
  variants.simd = wasmKernelFactory(await compileKernel('simd'));
  variants.relaxed = wasmKernelFactory(await compileKernel('relaxed'), 'wasm-relaxed-simd');
  wasm = variants.simd;
});
const lazyWasm: KernelFactory = (bytes) => wasm(bytes);
const lazyRelaxed: KernelFactory = (bytes) => variants.relaxed!(bytes);

const SIZE = 8192;

/** Same random contents in a TypeScript and a wasm workspace. */
function pair(seedBytes: Uint8Array): [Kernel, Kernel] {
  const t = new TsKernel(SIZE);
  const w = wasm(SIZE);
  for (const k of [t, w]) for (let i = 0; i < SIZE; i++) k.mem[k.base + i] = seedBytes[i % seedBytes.length]! ^ (i * 151);
  return [t, w];
}

/** The workspace's bytes. */
const ws = (k: Kernel): Uint8Array => k.mem.subarray(k.base, k.base + SIZE);

/** Index of the first differing byte, or -1 (a readable failure without dumping 4 KiB). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return a.length;
}

const bytesArb = fc.uint8Array({ minLength: 1, maxLength: 512 });
const coefArb = fc.oneof(fc.constantFrom(0, 1, 2, 255), fc.integer({ min: 0, max: 255 }));
const lenArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 1, 15, 16, 17, 63, 64, 65, 128, 1280));

it('the runtime has WebAssembly SIMD and the build made the default kernel a wasm one', () => {
  expect(wasmSimdSupported()).toBe(true);
  expect(wasmRelaxedSimdSupported()).toBe(true); // the flag above
  expect(['wasm-simd', 'wasm-relaxed-simd']).toContain(kernelStatus().kernel);
  expect(kernelStatus().reason).toBe('ok');
});

describe.each(['simd', 'relaxed'] as const)('WebAssembly %s kernel == TypeScript kernel', (variant) => {
  beforeAll(() => {
    wasm = variants[variant]!;
  });

  it('mulAdd at any offsets, lengths and coefficients', () => {
    fc.assert(
      fc.property(bytesArb, lenArb, fc.nat(1400), fc.nat(1400), coefArb, (seed, len, a, b, c) => {
        const [t, w] = pair(seed);
        const dst = a;
        const src = 2800 + b; // disjoint from dst (< 2700), inside the workspace
        for (const k of [t, w]) k.mulAdd(k.base + dst, k.base + src, len, c);
        expect(firstDiff(ws(w), ws(t))).toBe(-1);
        w.dispose();
      }),
      { numRuns: 400 },
    );
  });

  it('scale at any offsets, lengths and coefficients', () => {
    fc.assert(
      fc.property(bytesArb, lenArb, fc.nat(2000), coefArb, (seed, len, a, c) => {
        const [t, w] = pair(seed);
        for (const k of [t, w]) k.scale(k.base + a, len, c);
        expect(firstDiff(ws(w), ws(t))).toBe(-1);
        w.dispose();
      }),
      { numRuns: 400 },
    );
  });

  it('combine of up to 12 terms, mixing c = 0, 1 and others', () => {
    fc.assert(
      fc.property(bytesArb, fc.integer({ min: 0, max: 200 }), fc.array(fc.tuple(fc.nat(1500), coefArb), { maxLength: 12 }), fc.nat(300), (seed, len, terms, d) => {
        const [t, w] = pair(seed);
        const list = 3584; // 4-aligned, above every source
        const coefs = 3584 + 64;
        const dst = 1800 + d; // sources lie in [0, 1700)
        for (const k of [t, w]) {
          terms.forEach(([src, c], i) => {
            k.words[((k.base + list) >> 2) + i] = k.base + src;
            k.mem[k.base + coefs + i] = c;
          });
          k.combine(k.base + dst, len, terms.length, k.base + list, k.base + coefs);
        }
        // Up to the term list, whose words hold absolute addresses (different bases).
        expect(firstDiff(ws(w).subarray(0, list), ws(t).subarray(0, list))).toBe(-1);
        w.dispose();
      }),
      { numRuns: 400 },
    );
  });

  it('split writes the nibble planes, zero-padding the last group', () => {
    fc.assert(
      fc.property(bytesArb, lenArb, fc.nat(1000), fc.nat(1000), (seed, len, a, b) => {
        const [t, w] = pair(seed);
        const src = a;
        const dst = 1200 + b; // [1200, 2200 + 608): disjoint from the source
        for (const k of [t, w]) k.split(k.base + dst, k.base + src, len);
        expect(firstDiff(ws(w), ws(t))).toBe(-1);
        // And what it means, independently of the TypeScript kernel.
        const m = ws(t);
        for (let x = 0; x < Math.ceil(len / 16) * 16; x++) {
          const at = dst + 32 * (x >> 4) + (x & 15);
          const v = x < len ? m[src + x]! : 0;
          expect([m[at], m[at + 16]]).toEqual([v & 15, v >> 4]);
        }
        w.dispose();
      }),
      { numRuns: 200 },
    );
  });

  it('combineSplit of split sources == combine of the sources, up to 12 terms', () => {
    fc.assert(
      fc.property(bytesArb, fc.integer({ min: 0, max: 200 }), fc.array(fc.tuple(fc.nat(1500), coefArb), { maxLength: 12 }), fc.nat(300), (seed, len, terms, d) => {
        const [t, w] = pair(seed);
        const [t2] = pair(seed); // the reference: plain combine on the TypeScript kernel
        const list = 7680;
        const coefs = 7680 + 64;
        const dst = 1800 + d; // sources lie in [0, 1700); their split forms at 2400 + 416 i
        for (const k of [t, w, t2]) {
          terms.forEach(([src, c], i) => {
            const split = 2400 + 416 * i;
            if (k !== t2) k.split(k.base + split, k.base + src, len);
            k.words[((k.base + list) >> 2) + i] = k.base + (k === t2 ? src : split);
            k.mem[k.base + coefs + i] = c;
          });
        }
        for (const k of [t, w]) k.combineSplit(k.base + dst, len, terms.length, k.base + list, k.base + coefs);
        t2.combine(t2.base + dst, len, terms.length, t2.base + list, t2.base + coefs);
        expect(firstDiff(ws(w).subarray(0, list), ws(t).subarray(0, list))).toBe(-1);
        expect(firstDiff(ws(t).subarray(dst, dst + len), ws(t2).subarray(dst, dst + len))).toBe(-1);
        w.dispose();
      }),
      { numRuns: 400 },
    );
  });
});

describe('shared wasm memory', () => {
  beforeAll(() => {
    wasm = variants.simd!;
  });
  it('codecs get disjoint workspaces, the memory grows as needed, and dispose gives every byte back', () => {
    const before = wasm.usage();
    const ks = Array.from({ length: 40 }, (_, i) => wasm(10_000 + 997 * i));
    const spans = ks.map((k, i) => [k.base, k.base + 10_000 + 997 * i] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    for (const k of ks) expect(k.base % 16).toBe(0);
    expect(wasm.usage().totalBytes).toBeGreaterThan(before.totalBytes);
    for (const k of ks) k.dispose();
    const after = wasm.usage();
    expect(after.totalBytes - after.freeBytes).toBe(before.totalBytes - before.freeBytes);
  });

  it('a codec used after dispose throws DISPOSED', async () => {
    const { Decoder, Encoder } = await import('../../coded/codec/index.js');
    const p = { field: 'gf256' as const, k: 4, symbolBytes: 16 };
    const enc = new Encoder(p, new Uint8Array(64), Math.random, { kernel: lazyWasm });
    const dec = new Decoder(p, { kernel: lazyWasm });
    dec.add(enc.coded());
    enc.dispose();
    dec.dispose();
    expect(() => enc.coded()).toThrow(/DISPOSED/);
    expect(() => dec.add({ coeffs: new Uint8Array(4), payload: new Uint8Array(16) })).toThrow(/DISPOSED/);
    expect(() => dec.recode(Math.random)).toThrow(/DISPOSED/);
  });
});

runCodecSuite('wasm-simd from kernel.wat', lazyWasm);
runCodecSuite('wasm-relaxed-simd from kernel.wat', lazyRelaxed);
