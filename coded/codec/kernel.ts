/**
 * The codec's inner loops, over one flat workspace of bytes addressed by offsets.
 *
 * Every Encoder and Decoder owns one workspace (its source symbols or its rows, plus scratch) and asks
 * a Kernel to do the arithmetic on it: `mulAdd` (dst ^= c * src), `scale` (dst = c * dst) and
 * `combine` (dst ^= sum of c_i * src_i, the whole of encode and recode and of a decoder's forward
 * elimination in one call). Two implementations: the WebAssembly SIMD kernel (kernel-wasm.ts; the
 * workspace is the instance's own memory, so no copies cross the boundary) and this plain-TypeScript
 * one, which is the reference the tests check the WebAssembly one against and the fallback where
 * WebAssembly SIMD is unavailable.
 *
 * Coefficients are GF(2^8) elements; GF(2) is its subfield, so a GF(2) code just uses 0 and 1 (and
 * the kernels take the XOR path for c = 1). Offsets handed to the TypeScript kernel that are
 * multiples of 4 with lengths that are multiples of 4 go word by word; anything else byte by byte.
 */
import { MUL } from './gf256.js';

export interface Kernel {
  readonly name: string;
  /**
   * The memory holding the workspace, which is mem[base, base + bytes); all offsets are absolute
   * (base is a multiple of 16). Read it afresh after creating another codec: the WebAssembly kernel's
   * shared memory may have grown, which replaces the views.
   */
  readonly mem: Uint8Array;
  /** The same bytes as 32-bit words (term lists for combine). */
  readonly words: Uint32Array;
  readonly base: number;
  /** Gives the workspace back; the kernel must not be used afterwards. */
  dispose(): void;
  /** mem[dst..dst+len) ^= c * mem[src..src+len). */
  mulAdd(dst: number, src: number, len: number, c: number): void;
  /** mem[dst..dst+len) = c * mem[dst..dst+len). */
  scale(dst: number, len: number, c: number): void;
  /**
   * mem[dst..dst+len) ^= sum over i < n of coef_i * mem[src_i..src_i+len), where src_i is the 32-bit
   * word words[(list >> 2) + i] (list is 4-aligned) and coef_i is the byte mem[coefs + i].
   * dst must not overlap any source.
   */
  combine(dst: number, len: number, n: number, list: number, coefs: number): void;
  /**
   * Writes the split form of mem[src..src+len) at dst, 2 * align16(len) bytes: for each 16-byte
   * group j (the last one zero-padded) its 16 low nibbles at dst + 32j and its 16 high nibbles at
   * dst + 32j + 16. Symbols that are combined many times without changing (an encoder's sources, a
   * decoder's rows between two innovative packets) are split once and combined with combineSplit.
   */
  split(dst: number, src: number, len: number): void;
  /** As combine, with every src_i in split form (see split): mem[dst..dst+len) ^= sum of coef_i * x_i. */
  combineSplit(dst: number, len: number, n: number, list: number, coefs: number): void;
}

/** Makes a kernel with a workspace of at least `bytes` bytes (zeroed). */
export type KernelFactory = (bytes: number) => Kernel;

export class TsKernel implements Kernel {
  readonly name = 'ts';
  readonly mem: Uint8Array;
  readonly words: Uint32Array;
  readonly base = 0;

  constructor(bytes: number) {
    const size = Math.ceil(bytes / 16) * 16;
    this.mem = new Uint8Array(size);
    this.words = new Uint32Array(this.mem.buffer, 0, size >> 2);
  }

  dispose(): void {}

  mulAdd(dst: number, src: number, len: number, c: number): void {
    tsMulAdd(this.mem, this.words, dst, src, len, c);
  }

  scale(dst: number, len: number, c: number): void {
    const m = this.mem;
    if (c === 1) return;
    if (c === 0) {
      m.fill(0, dst, dst + len);
      return;
    }
    const row = c << 8;
    for (let i = dst, end = dst + len; i < end; i++) m[i] = MUL[row | m[i]!]!;
  }

  combine(dst: number, len: number, n: number, list: number, coefs: number): void {
    const w = this.words;
    const m = this.mem;
    for (let i = 0; i < n; i++) tsMulAdd(m, w, dst, w[(list >> 2) + i]!, len, m[coefs + i]!);
  }

  split(dst: number, src: number, len: number): void {
    const m = this.mem;
    m.fill(0, dst, dst + 2 * (Math.ceil(len / 16) * 16));
    for (let x = 0; x < len; x++) {
      const at = dst + 32 * (x >> 4) + (x & 15);
      const v = m[src + x]!;
      m[at] = v & 15;
      m[at + 16] = v >> 4;
    }
  }

  combineSplit(dst: number, len: number, n: number, list: number, coefs: number): void {
    const w = this.words;
    const m = this.mem;
    for (let i = 0; i < n; i++) {
      const src = w[(list >> 2) + i]!;
      const row = m[coefs + i]! << 8;
      if (row === 0) continue;
      for (let x = 0; x < len; x++) {
        const at = src + 32 * (x >> 4) + (x & 15);
        m[dst + x] = m[dst + x]! ^ MUL[row | m[at]! | (m[at + 16]! << 4)]!;
      }
    }
  }
}

function tsMulAdd(m: Uint8Array, w: Uint32Array, dst: number, src: number, len: number, c: number): void {
  if (c === 0) return;
  if (c === 1) {
    if (((dst | src | len) & 3) === 0) {
      for (let i = dst >> 2, j = src >> 2, end = (dst + len) >> 2; i < end; i++, j++) w[i] = w[i]! ^ w[j]!;
    } else {
      for (let i = 0; i < len; i++) m[dst + i] = m[dst + i]! ^ m[src + i]!;
    }
    return;
  }
  const row = c << 8;
  for (let i = 0; i < len; i++) m[dst + i] = m[dst + i]! ^ MUL[row | m[src + i]!]!;
}

export const tsKernelFactory: KernelFactory = (bytes) => new TsKernel(bytes);
