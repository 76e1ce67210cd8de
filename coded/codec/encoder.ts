/**
 * Encoder: holds the k source symbols of one generation in its kernel's workspace and produces
 * systematic packets (symbol i as is, coefficient vector e_i) and coded packets (a random linear
 * combination under the code's parameters: dense, sparse or banded, over GF(2) or GF(2^8)).
 *
 * Workspace layout (offsets 16-aligned): k source symbols at stride align16(symbolBytes), then the
 * output symbol, then a term list for combine (k words), the list of all k sources, and the
 * coefficients (k bytes).
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
    this.kern = (opts.kernel ?? defaultKernelFactory())(coefs + align16(k));
    const base = this.kern.base;
    this.allList = base + allList;
    for (let i = 0; i < k; i++) this.kern.words[(this.allList >> 2) + i] = base + i * this.stride;
    this.dense = (p.density === undefined || p.density === 1) && p.band === undefined;
    this.src0 = base;
    this.out = base + out;
    this.list = base + list;
    this.coefs = base + coefs;
    for (let i = 0; i < k; i++) this.kern.mem.set(source.subarray(i * s, (i + 1) * s), this.src0 + i * this.stride);
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
    const mem = this.kern.mem;
    mem.set(coeffs, this.coefs);
    mem.fill(0, this.out, this.out + s);
    this.kern.combine(this.out, s, k, this.allList, this.coefs);
    return { coeffs, payload: copyOut(mem, this.out, this.out + s) };
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
        words[l + n] = this.src0 + i * this.stride;
        mem[this.coefs + n] = c;
        n++;
      }
    }
    mem.fill(0, this.out, this.out + s);
    this.kern.combine(this.out, s, n, this.list, this.coefs);
    return copyOut(mem, this.out, this.out + s);
  }
}
