import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernel } from '../../coded/codec/compile-wat.js';
import { kernelStatus, TsKernel, wasmKernelFactory, wasmSimdSupported, type Kernel, type KernelFactory } from '../../coded/codec/index.js';
import { runCodecSuite } from './codec-suite.js';

// The kernel compiled here from kernel.wat, not the build's artefact, so the source is what is tested.
let wasm: KernelFactory;
beforeAll(async () => {
  wasm = wasmKernelFactory(await compileKernel());
});
const lazyWasm: KernelFactory = (bytes) => wasm(bytes);

const SIZE = 8192;

/** Same random contents in a TypeScript and a wasm workspace. */
function pair(seedBytes: Uint8Array): [Kernel, Kernel] {
  const t = new TsKernel(SIZE);
  const w = wasm(SIZE);
  for (const k of [t, w]) for (let i = 0; i < SIZE; i++) k.mem[i] = seedBytes[i % seedBytes.length]! ^ (i * 151);
  return [t, w];
}

/** Index of the first differing byte, or -1 (a readable failure without dumping 4 KiB). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return a.length;
}

const bytesArb = fc.uint8Array({ minLength: 1, maxLength: 512 });
const coefArb = fc.oneof(fc.constantFrom(0, 1, 2, 255), fc.integer({ min: 0, max: 255 }));
const lenArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 1, 15, 16, 17, 63, 64, 65, 128, 1280));

describe('WebAssembly SIMD kernel == TypeScript kernel', () => {
  it('the runtime has WebAssembly SIMD and the build made the default kernel the wasm one', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(kernelStatus()).toEqual({ kernel: 'wasm-simd', reason: 'ok' });
  });

  it('mulAdd at any offsets, lengths and coefficients', () => {
    fc.assert(
      fc.property(bytesArb, lenArb, fc.nat(1400), fc.nat(1400), coefArb, (seed, len, a, b, c) => {
        const [t, w] = pair(seed);
        const dst = a;
        const src = 2800 + b; // disjoint from dst (< 2700), inside the workspace
        t.mulAdd(dst, src, len, c);
        w.mulAdd(dst, src, len, c);
        expect(firstDiff(w.mem, t.mem)).toBe(-1);
      }),
      { numRuns: 400 },
    );
  });

  it('scale at any offsets, lengths and coefficients', () => {
    fc.assert(
      fc.property(bytesArb, lenArb, fc.nat(2000), coefArb, (seed, len, a, c) => {
        const [t, w] = pair(seed);
        t.scale(a, len, c);
        w.scale(a, len, c);
        expect(firstDiff(w.mem, t.mem)).toBe(-1);
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
            k.words[(list >> 2) + i] = src;
            k.mem[coefs + i] = c;
          });
          k.combine(dst, len, terms.length, list, coefs);
        }
        expect(firstDiff(w.mem, t.mem)).toBe(-1);
      }),
      { numRuns: 400 },
    );
  });
});

runCodecSuite('wasm-simd from kernel.wat', lazyWasm);
