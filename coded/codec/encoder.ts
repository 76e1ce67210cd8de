/**
 * Encoder: holds the k source symbols of one generation in its kernel's workspace and produces
 * systematic packets (symbol i as is, coefficient vector e_i) and coded packets (a random linear
 * combination under the code's parameters: dense, sparse or banded, over GF(2) or GF(2^8)).
 *
 * Workspace layout (offsets 16-aligned): k source symbols at stride align16(symbolBytes), then the
 * output symbol, then a term list for combine (k words), the list of all k sources, and the
 * coefficients (k bytes). Over GF(2^8) the sources are also kept in the kernel's split form (two
 * nibble planes each, written once here), so every coded packet is a combineSplit: two table lookups
 * and two XORs per 16 bytes per term instead of also masking and shifting. GF(2) codes combine
 * with plain XORs and need no split form.
 */
import { CodecError } from './errors.js';
import type { Kernel, KernelFactory } from './kernel.js';
import { align16, checkCoeffs, checkParams, drawCoeffs, type CodeParams } from './params.js';
import { defaultKernelFactory } from './select.js';
import { copyOut, take } from './slab.js';

export interface CodedPacket {
  /** Length k, one coefficient per byte (GF(2): 0 or 1). */
  coeffs: Uint8Array;
  /** symbolBytes long. */
  payload: Uint8Array;
}

export interface CodecOptions {
  /** Which kernel does the arithmetic; default: WebAssembly SIMD when available, else TypeScript. */
  kernel?: KernelFactory;
}

export class Encoder {
  readonly params: CodeParams;
  private readonly kern: Kernel;
  private readonly stride: number;
  /** Absolute offsets in the kernel's memory: source symbols, output symbol, combine's term list and coefficients. */
  private readonly src0: number;
  private readonly out: number;
  private readonly list: number;
  private readonly coefs: number;
  /** A term list of all k sources in order (dense codes use it as is). */
  private readonly allList: number;
  private readonly dense: boolean;
  /** Over GF(2^8): the sources' split forms (k of 2 * stride bytes each, at srcSplit0). */
  private readonly splitForm: boolean;
  private readonly srcSplit0: number;

  constructor(
    p: CodeParams,
    source: Uint8Array,
    private readonly rng: () => number,
    opts: CodecOptions = {},
  ) {
    checkParams(p);
    this.params = { ...p };
    const { k, symbolBytes: s } = p;
    if (!(source instanceof Uint8Array) || source.length !== k * s)
      throw new CodecError('BAD_SOURCE', `source must be a Uint8Array of k*symbolBytes = ${k * s} bytes, got ${source?.length}`);
    this.stride = align16(s);
    const out = k * this.stride;
    const list = out + this.stride;
    const allList = list + align16(4 * k);
    const coefs = allList + align16(4 * k);
    this.splitForm = p.field === 'gf256';
    const srcSplit = coefs + align16(k);
    this.kern = (opts.kernel ?? defaultKernelFactory())(srcSplit + (this.splitForm ? 2 * k * this.stride : 0));
    const base = this.kern.base;
    this.allList = base + allList;
    this.srcSplit0 = base + srcSplit;
    this.dense = (p.density === undefined || p.density === 1) && p.band === undefined;
    this.src0 = base;
    this.out = base + out;
    this.list = base + list;
    this.coefs = base + coefs;
    for (let i = 0; i < k; i++) this.kern.words[(this.allList >> 2) + i] = this.termOf(i);
    for (let i = 0; i < k; i++) {
      this.kern.mem.set(source.subarray(i * s, (i + 1) * s), this.src0 + i * this.stride);
      if (this.splitForm) this.kern.split(this.termOf(i), this.src0 + i * this.stride, s);
    }
  }

  /** Where source i is read from by the combine this encoder uses. */
  private termOf(i: number): number {
    return this.splitForm ? this.srcSplit0 + 2 * i * this.stride : this.src0 + i * this.stride;
  }

  private combineInto(n: number, list: number): void {
    const s = this.params.symbolBytes;
    this.kern.mem.fill(0, this.out, this.out + s);
    if (this.splitForm) this.kern.combineSplit(this.out, s, n, list, this.coefs);
    else this.kern.combine(this.out, s, n, list, this.coefs);
  }

  get kernelName(): string {
    return this.kern.name;
  }

  /** Source symbol i with the unit coefficient vector e_i. */
  systematic(i: number): CodedPacket {
    const { k, symbolBytes: s } = this.params;
    if (!Number.isInteger(i) || i < 0 || i >= k) throw new CodecError('BAD_INDEX', `systematic index must be in [0, ${k}), got ${i}`);
    const coeffs = take(k);
    coeffs[i] = 1;
    this.live();
    const at = this.src0 + i * this.stride;
    return { coeffs, payload: copyOut(this.kern.mem, at, at + s) };
  }

  /** A random combination of the source symbols under the code's parameters. */
  coded(): CodedPacket {
    this.live();
    const { k, symbolBytes: s } = this.params;
    const coeffs = drawCoeffs(this.params, this.rng, take(k));
    if (!this.dense) return { coeffs, payload: this.combine(coeffs) };
    // Dense: every source is a term; the list of all k sources was written at construction, so only
    // the coefficients go in (the kernel skips the rare zero ones).
    this.kern.mem.set(coeffs, this.coefs);
    this.combineInto(k, this.allList);
    return { coeffs, payload: copyOut(this.kern.mem, this.out, this.out + s) };
  }

  /**
   * Gives the workspace back (the WebAssembly kernel's memory is shared by all codecs). Optional
   * (a finalizer does it once the encoder is garbage) but prompt; any later call throws DISPOSED.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kern.dispose();
  }

  private disposed = false;
  private live(): void {
    if (this.disposed) throw new CodecError('DISPOSED', 'encoder used after dispose()');
  }

  /** The payload for a given coefficient vector (length k, valid for the field, else a CodecError). */
  combine(coeffs: Uint8Array): Uint8Array {
    const { k, symbolBytes: s } = this.params;
    this.live();
    checkCoeffs(this.params.field, k, coeffs);
    const { mem, words } = this.kern;
    let n = 0;
    const l = this.list >> 2;
    for (let i = 0; i < k; i++) {
      const c = coeffs[i]!;
      if (c !== 0) {
        words[l + n] = this.termOf(i);
        mem[this.coefs + n] = c;
        n++;
      }
    }
    this.combineInto(n, this.list);
    return copyOut(this.kern.mem, this.out, this.out + s);
  }
}
