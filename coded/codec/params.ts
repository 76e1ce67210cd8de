/**
 * Code parameters, their validation, and the coefficient vectors of a code: how an encoder draws
 * them (dense, sparse, banded) and how they travel on the wire (GF(2): 8 per byte; GF(2^8): 1 per byte).
 */
import { CodecError } from './errors.js';

export type Field = 'gf2' | 'gf256';

export interface CodeParams {
  field: Field;
  /** Symbols per generation (the code's dimension). */
  k: number;
  symbolBytes: number;
  /**
   * Fraction of nonzero coefficients, 0 < d <= 1. Absent (or 1 for GF(2^8)): dense, every coefficient
   * uniform over the field (for GF(2) that is density 1/2; density 1 over GF(2) would make every
   * packet the all-ones vector, so it is read as dense too). Otherwise each coefficient is nonzero
   * with probability d, and a nonzero one is uniform over the nonzero elements.
   */
  density?: number;
  /**
   * Banded code like sparsenc's BAND: the nonzeros of a coded packet lie in a window of `band`
   * consecutive symbols (cyclically: it may wrap from symbol k-1 to symbol 0) starting at a uniform
   * position; the window's first coefficient is nonzero, the others follow `density`.
   */
  band?: number;
}

/** Largest k accepted: coefficient rows are k bytes and a decoder holds k rows of k + symbolBytes. */
export const MAX_K = 4096;
export const MAX_SYMBOL_BYTES = 65536;

export function checkParams(p: CodeParams): void {
  if (p === null || typeof p !== 'object') throw new CodecError('BAD_PARAMS', 'params must be an object');
  if (p.field !== 'gf2' && p.field !== 'gf256') throw new CodecError('BAD_PARAMS', `field must be 'gf2' or 'gf256', got ${String(p.field)}`);
  if (!Number.isInteger(p.k) || p.k < 1 || p.k > MAX_K) throw new CodecError('BAD_PARAMS', `k must be an integer in [1, ${MAX_K}], got ${p.k}`);
  if (!Number.isInteger(p.symbolBytes) || p.symbolBytes < 1 || p.symbolBytes > MAX_SYMBOL_BYTES)
    throw new CodecError('BAD_PARAMS', `symbolBytes must be an integer in [1, ${MAX_SYMBOL_BYTES}], got ${p.symbolBytes}`);
  if (p.density !== undefined && !(p.density > 0 && p.density <= 1))
    throw new CodecError('BAD_PARAMS', `density must be in (0, 1], got ${p.density}`);
  if (p.band !== undefined && (!Number.isInteger(p.band) || p.band < 1 || p.band > p.k))
    throw new CodecError('BAD_PARAMS', `band must be an integer in [1, k=${p.k}], got ${p.band}`);
}

/** One random coefficient: dense (uniform over the field) or nonzero with probability `density`. */
function draw(field: Field, density: number | undefined, rng: () => number): number {
  if (density === undefined || density === 1) return field === 'gf2' ? rand32(rng) & 1 : rand32(rng) & 0xff;
  if (rand32(rng) / 4294967296 >= density) return 0;
  return nonzero(field, rng);
}

function nonzero(field: Field, rng: () => number): number {
  return field === 'gf2' ? 1 : 1 + (rand32(rng) % 255);
}

/**
 * 32 random bits from rng(), passed through murmur3's finaliser (a nonlinear bijection).
 *
 * Why the mix: V8's Math.random is xorshift128+ whose doubles are GF(2)-linear in its 128-bit
 * state, served from a cache refilled 64 values at a time. When a coefficient vector takes exactly
 * a refill's worth of values (k = 256 over GF(2^8) at 4 coefficients per call), every vector is the
 * same linear map of a different state, so all of them lie in one 128-dimensional GF(2) space: the
 * decoder stalled at rank 128 of 256 (found by the bench). A nonlinear mix of each word breaks that.
 */
export function rand32(rng: () => number): number {
  let h = (rng() * 4294967296) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fills c[lo, hi) with dense coefficients (uniform over the field), 32 mixed random bits per rng() call. */
export function fillDense(field: Field, c: Uint8Array, lo: number, hi: number, rng: () => number): void {
  if (field === 'gf256') {
    let i = lo;
    for (; i + 4 <= hi; i += 4) {
      const x = rand32(rng);
      c[i] = x & 0xff;
      c[i + 1] = (x >>> 8) & 0xff;
      c[i + 2] = (x >>> 16) & 0xff;
      c[i + 3] = x >>> 24;
    }
    if (i < hi) for (let x = rand32(rng); i < hi; i++, x >>>= 8) c[i] = x & 0xff;
  } else {
    for (let i = lo; i < hi; i += 32) {
      let x = rand32(rng);
      for (let j = i; j < i + 32 && j < hi; j++, x >>>= 1) c[j] = x & 1;
    }
  }
}

const isDense = (p: CodeParams): boolean => p.density === undefined || p.density === 1;

/** A coefficient vector for a coded packet under `p`, never all zero (in `c`: k zeroed bytes, if given). */
export function drawCoeffs(p: CodeParams, rng: () => number, c: Uint8Array = new Uint8Array(p.k)): Uint8Array {
  if (p.band !== undefined) {
    // Cyclic window: start uniform in [0, k), positions (start + j) mod k, so every symbol is in
    // exactly `band` of the k windows (a window clamped inside [0, k) would cover the first and last
    // symbols only from its extreme positions: at k=256, band 16, GF(2) a generation needed
    // thousands of packets).
    const start = rand32(rng) % p.k;
    const w = new Uint8Array(p.band);
    if (isDense(p)) fillDense(p.field, w, 1, p.band, rng);
    else for (let i = 1; i < p.band; i++) w[i] = draw(p.field, p.density, rng);
    w[0] = nonzero(p.field, rng);
    for (let j = 0; j < p.band; j++) c[(start + j) % p.k] = w[j]!;
    return c;
  }
  for (;;) {
    if (isDense(p)) fillDense(p.field, c, 0, p.k, rng);
    else for (let i = 0; i < p.k; i++) c[i] = draw(p.field, p.density, rng);
    for (let i = 0; i < p.k; i++) if (c[i] !== 0) return c;
  }
}

/** Throws unless `coeffs` is a valid coefficient vector of length k for `field`. */
export function checkCoeffs(field: Field, k: number, coeffs: Uint8Array): void {
  if (!(coeffs instanceof Uint8Array)) throw new CodecError('BAD_PACKET', 'coeffs must be a Uint8Array');
  if (coeffs.length !== k) throw new CodecError('BAD_COEFFS_LENGTH', `coefficient vector has ${coeffs.length} entries, expected k=${k}`);
  if (field === 'gf2') {
    for (let i = 0; i < k; i++) if (coeffs[i]! > 1) throw new CodecError('BAD_COEFF_VALUE', `GF(2) coefficient ${i} is ${coeffs[i]}, expected 0 or 1`);
  }
}

/** Bytes of a packed coefficient vector on the wire. */
export function packedCoeffBytes(field: Field, k: number): number {
  return field === 'gf2' ? Math.ceil(k / 8) : k;
}

/** Wire form: GF(2) packs 8 coefficients per byte, coefficient i at bit (i & 7) of byte i >> 3 (LSB first). */
export function packCoeffs(field: Field, coeffs: Uint8Array): Uint8Array {
  checkCoeffs(field, coeffs.length, coeffs);
  if (field === 'gf256') return coeffs.slice();
  const out = new Uint8Array(Math.ceil(coeffs.length / 8));
  for (let i = 0; i < coeffs.length; i++) if (coeffs[i]) out[i >> 3] = out[i >> 3]! | (1 << (i & 7));
  return out;
}

/** Inverse of packCoeffs; throws a CodecError on a wrong length or nonzero GF(2) padding bits. */
export function unpackCoeffs(field: Field, k: number, bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('BAD_PACKET', 'packed coefficients must be a Uint8Array');
  const want = packedCoeffBytes(field, k);
  if (bytes.length !== want) throw new CodecError('BAD_COEFFS_LENGTH', `packed coefficients are ${bytes.length} bytes, expected ${want} for k=${k}`);
  if (field === 'gf256') return bytes.slice();
  const out = new Uint8Array(k);
  for (let i = 0; i < k; i++) out[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  if (k & 7 && bytes[want - 1]! >> (k & 7)) throw new CodecError('BAD_COEFF_VALUE', `nonzero padding bits after coefficient ${k - 1}`);
  return out;
}

export function align16(n: number): number {
  return (n + 15) & ~15;
}
