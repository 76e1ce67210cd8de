/**
 * The WebAssembly SIMD kernel (kernel.wat): one instance per workspace, whose memory is the
 * workspace, so the codec's bytes never cross the JS/wasm boundary. The module is compiled once,
 * synchronously, at first use; each Encoder/Decoder instantiates it (synchronously: a few
 * microseconds) over a memory sized for it, with the 8 KiB of split-nibble tables placed after the
 * workspace.
 */
import { readFileSync } from 'node:fs';
import { MUL } from './gf256.js';
import type { Kernel, KernelFactory } from './kernel.js';

/**
 * The few WebAssembly JS API pieces used here, typed locally: the project's lib (ES2022 + node)
 * declares the WebAssembly namespace's types but not its values.
 */
interface WasmModule { readonly __wasmModule: unique symbol }
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: object };
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Global: new (d: { value: 'i32'; mutable: boolean }, v: number) => object;
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface Exports {
  mul_add(dst: number, src: number, len: number, c: number): void;
  scale(dst: number, len: number, c: number): void;
  combine(dst: number, len: number, n: number, list: number, coefs: number): void;
}

/** LO_c[i] = c * i, HI_c[i] = c * (i << 4): 32 bytes per coefficient, 8 KiB. */
export const NIBBLE_TABLES: Uint8Array = (() => {
  const t = new Uint8Array(256 * 32);
  for (let c = 0; c < 256; c++)
    for (let i = 0; i < 16; i++) {
      t[c * 32 + i] = MUL[(c << 8) | i]!;
      t[c * 32 + 16 + i] = MUL[(c << 8) | (i << 4)]!;
    }
  return t;
})();

class WasmKernel implements Kernel {
  readonly name = 'wasm-simd';
  readonly mem: Uint8Array;
  readonly words: Uint32Array;
  readonly mulAdd: (dst: number, src: number, len: number, c: number) => void;
  readonly scale: (dst: number, len: number, c: number) => void;
  readonly combine: (dst: number, len: number, n: number, list: number, coefs: number) => void;

  constructor(wa: WasmApi, module: WasmModule, bytes: number) {
    const size = Math.ceil(bytes / 16) * 16;
    const memory = new wa.Memory({ initial: Math.ceil((size + NIBBLE_TABLES.length) / 65536) });
    new Uint8Array(memory.buffer).set(NIBBLE_TABLES, size);
    const tab = new wa.Global({ value: 'i32', mutable: false }, size);
    const ex = new wa.Instance(module, { env: { mem: memory, tab } }).exports as unknown as Exports;
    // The memory never grows (the module has no memory.grow), so these views stay valid.
    this.mem = new Uint8Array(memory.buffer, 0, size);
    this.words = new Uint32Array(memory.buffer, 0, size >> 2);
    this.mulAdd = ex.mul_add;
    this.scale = ex.scale;
    this.combine = ex.combine;
  }
}

/** A factory over compiled kernel bytes (the tests pass bytes compiled from kernel.wat themselves). */
export function wasmKernelFactory(wasm: Uint8Array): KernelFactory {
  if (!WA) throw new Error('no WebAssembly in this runtime');
  const wa = WA;
  const module = new wa.Module(wasm);
  return (bytes) => new WasmKernel(wa, module, bytes);
}

/** Whether this runtime runs WebAssembly SIMD (a module with one v128 op validates). */
export function wasmSimdSupported(): boolean {
  try {
    // (module (func (result v128) (v128.const i64x2 0 0)))
    const probe = Uint8Array.of(
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, ...new Array(16).fill(0), 11,
    );
    return WA !== undefined && WA.validate(probe);
  } catch {
    return false;
  }
}

let loaded: { factory: KernelFactory | null; reason: string } | null = null;

/**
 * The kernel built by `npm run build` (kernel.wasm beside this module), or null with the reason
 * (no SIMD in this runtime, or not built).
 */
export function builtWasmKernel(): { factory: KernelFactory | null; reason: string } {
  if (loaded) return loaded;
  if (!wasmSimdSupported()) return (loaded = { factory: null, reason: 'WebAssembly SIMD is not available in this runtime' });
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(new URL('./kernel.wasm', import.meta.url));
  } catch (e) {
    return (loaded = { factory: null, reason: `kernel.wasm not found beside kernel-wasm.js (run npm run build): ${(e as Error).message}` });
  }
  try {
    return (loaded = { factory: wasmKernelFactory(bytes), reason: 'ok' });
  } catch (e) {
    return (loaded = { factory: null, reason: `kernel.wasm did not compile: ${(e as Error).message}` });
  }
}
