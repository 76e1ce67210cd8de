/**
 * The WebAssembly SIMD kernel (kernel.wat). Codecs keep their symbols in the instance's memory, so
 * their bytes never cross the JS/wasm boundary: only offsets do. The module is compiled and
 * instantiated once, synchronously, at first use; the 8 KiB of split-nibble tables sit at address 0.
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
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer; grow(pages: number): number };
  Global: new (d: { value: 'i32'; mutable: boolean }, v: number) => object;
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface Exports {
  mul_add(dst: number, src: number, len: number, c: number): void;
  scale(dst: number, len: number, c: number): void;
  combine(dst: number, len: number, n: number, list: number, coefs: number): void;
  split(dst: number, src: number, len: number): void;
  combine_split(dst: number, len: number, n: number, list: number, coefs: number): void;
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

/**
 * One instance and one memory for every codec made by a factory: the exported functions are then
 * the same few JS functions at every call site, which V8 calls through a fast specialised wrapper
 * (an instance per codec left every call on the generic JS-to-wasm wrapper, and cost ~0.2 ms of
 * Memory and Instance creation per codec). Workspaces are carved out of the memory by a first-fit
 * allocator with coalescing; the memory grows when none fits, and the views are refreshed then.
 */
class SharedInstance {
  u8: Uint8Array;
  u32: Uint32Array;
  readonly mulAdd: Exports['mul_add'];
  readonly scale: Exports['scale'];
  readonly combine: Exports['combine'];
  readonly split: Exports['split'];
  readonly combineSplit: Exports['combine_split'];
  private readonly memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** Free blocks [addr, size], sorted by address, never adjacent (coalesced). */
  private readonly freeList: [number, number][] = [];
  private readonly finalizer = new FinalizationRegistry<[number, number]>(([addr, size]) => this.release(addr, size));

  constructor(wa: WasmApi, module: WasmModule) {
    const memory = new wa.Memory({ initial: 1 }) as SharedInstance['memory'];
    this.memory = memory;
    new Uint8Array(memory.buffer).set(NIBBLE_TABLES, 0);
    const tab = new wa.Global({ value: 'i32', mutable: false }, 0);
    const ex = new wa.Instance(module, { env: { mem: memory, tab } }).exports as unknown as Exports;
    this.mulAdd = ex.mul_add;
    this.scale = ex.scale;
    this.combine = ex.combine;
    this.split = ex.split;
    this.combineSplit = ex.combine_split;
    this.u8 = new Uint8Array(memory.buffer);
    this.u32 = new Uint32Array(memory.buffer);
    const first = NIBBLE_TABLES.length;
    this.freeList.push([first, memory.buffer.byteLength - first]);
  }

  alloc(bytes: number, owner: object): number {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    for (;;) {
      for (let i = 0; i < this.freeList.length; i++) {
        const [addr, len] = this.freeList[i]!;
        if (len < size) continue;
        if (len === size) this.freeList.splice(i, 1);
        else this.freeList[i] = [addr + size, len - size];
        this.u8.fill(0, addr, addr + size);
        this.finalizer.register(owner, [addr, size], owner);
        return addr;
      }
      const old = this.memory.buffer.byteLength;
      this.memory.grow(Math.ceil(size / 65536));
      this.u8 = new Uint8Array(this.memory.buffer);
      this.u32 = new Uint32Array(this.memory.buffer);
      this.release(old, this.memory.buffer.byteLength - old);
    }
  }

  free(addr: number, bytes: number, owner: object): void {
    this.finalizer.unregister(owner);
    this.release(addr, Math.max(64, Math.ceil(bytes / 64) * 64));
  }

  /** Bytes in free blocks and in the whole memory (tests check nothing leaks). */
  usage(): { freeBytes: number; totalBytes: number } {
    return { freeBytes: this.freeList.reduce((a, [, l]) => a + l, 0), totalBytes: this.memory.buffer.byteLength };
  }

  private release(addr: number, size: number): void {
    const f = this.freeList;
    let i = 0;
    while (i < f.length && f[i]![0] < addr) i++;
    f.splice(i, 0, [addr, size]);
    if (i + 1 < f.length && f[i]![0] + f[i]![1] === f[i + 1]![0]) {
      f[i]![1] += f[i + 1]![1];
      f.splice(i + 1, 1);
    }
    if (i > 0 && f[i - 1]![0] + f[i - 1]![1] === f[i]![0]) {
      f[i - 1]![1] += f[i]![1];
      f.splice(i, 1);
    }
  }
}

class WasmKernel implements Kernel {
  readonly base: number;
  readonly mulAdd: Exports['mul_add'];
  readonly scale: Exports['scale'];
  readonly combine: Exports['combine'];
  readonly split: Exports['split'];
  readonly combineSplit: Exports['combine_split'];
  private freed = false;

  constructor(
    readonly name: string,
    private readonly shared: SharedInstance,
    private readonly bytes: number,
  ) {
    this.base = shared.alloc(bytes, this);
    this.mulAdd = shared.mulAdd;
    this.scale = shared.scale;
    this.combine = shared.combine;
    this.split = shared.split;
    this.combineSplit = shared.combineSplit;
  }

  get mem(): Uint8Array {
    return this.shared.u8;
  }
  get words(): Uint32Array {
    return this.shared.u32;
  }

  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    this.shared.free(this.base, this.bytes, this);
  }
}

/** A kernel factory over wasm bytes, with the usage of its shared memory (for tests and the bench). */
export interface WasmKernelFactory extends KernelFactory {
  usage(): { freeBytes: number; totalBytes: number };
}

/** A factory over compiled kernel bytes (the tests pass bytes compiled from kernel.wat themselves). */
export function wasmKernelFactory(wasm: Uint8Array, name = 'wasm-simd'): WasmKernelFactory {
  if (!WA) throw new Error('no WebAssembly in this runtime');
  const shared = new SharedInstance(WA, new WA.Module(wasm));
  return Object.assign((bytes: number) => new WasmKernel(name, shared, bytes), { usage: () => shared.usage() });
}

/** Whether this runtime has relaxed SIMD (Node >= 22; Node 20 with --experimental-wasm-relaxed-simd). */
export function wasmRelaxedSimdSupported(): boolean {
  // (module (func (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.relaxed_swizzle))
  const probe = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 123, 123, 1, 123, 3, 2, 1, 0, 10, 11, 1, 9, 0, 32, 0, 32, 1, 253, 128, 2, 11);
  try {
    return WA !== undefined && WA.validate(probe);
  } catch {
    return false;
  }
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

export type WasmKernelName = 'wasm-relaxed-simd' | 'wasm-simd';
let loaded: { factory: WasmKernelFactory | null; name: WasmKernelName | null; reason: string } | null = null;

/**
 * The kernel built by `npm run build` beside this module: kernel-relaxed.wasm where the runtime has
 * relaxed SIMD, else kernel.wasm; or null with the reason (no SIMD in this runtime, or not built).
 */
export function builtWasmKernel(): { factory: WasmKernelFactory | null; name: WasmKernelName | null; reason: string } {
  if (loaded) return loaded;
  if (!wasmSimdSupported()) return (loaded = { factory: null, name: null, reason: 'WebAssembly SIMD is not available in this runtime' });
  const [file, name]: [string, WasmKernelName] = wasmRelaxedSimdSupported() ? ['kernel-relaxed.wasm', 'wasm-relaxed-simd'] : ['kernel.wasm', 'wasm-simd'];
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(new URL(`./${file}`, import.meta.url));
  } catch (e) {
    return (loaded = { factory: null, name: null, reason: `${file} not found beside kernel-wasm.js (run npm run build): ${(e as Error).message}` });
  }
  try {
    return (loaded = { factory: wasmKernelFactory(bytes, name), name, reason: 'ok' });
  } catch (e) {
    return (loaded = { factory: null, name: null, reason: `${file} did not compile: ${(e as Error).message}` });
  }
}
