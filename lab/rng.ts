/**
 * The lab's seeded randomness: one scenario seed, many independent streams. Pure and deterministic
 * across platforms (32-bit integer arithmetic only, via Math.imul and >>>; the floating-point
 * transforms use Math.log/exp/sqrt, which V8 computes with its own portable fdlibm port).
 *
 * - `createRng(seed)` makes the root; `rng.fork(label)` derives a child from the root's *key* and the
 *   label, never from its current state, so `fork('file-content')` and `fork('receivers.down')` give
 *   the same streams whatever was drawn before or in which order the forks are made.
 * - Draws: xoshiro128** (Blackman & Vigna) seeded through splitmix32; `float()` has 53 bits.
 * - File content: counter-based (word i = a hash of i and the key), so any slice of the file can be
 *   produced on its own (`offsetBytes`) at several GB/s, and a receiver's fragment can be re-made
 *   to compare it. Byte j of the content is byte (j mod 4) of word floor(j / 4), little-endian.
 */

/** Chris Wellons' lowbias32: a good 32-bit bijective mix. Returns an int32. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x;
}

/** FNV-1a over the label's UTF-16 code units, from a given basis. */
function hashLabel(label: string, basis: number): number {
  let h = basis | 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

const GOLDEN = 0x9e3779b9 | 0;
const TWO32 = 2 ** 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class Rng {
  /** The 64-bit key this stream and its forks derive from, as two int32s. */
  private readonly k0: number;
  private readonly k1: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Use `createRng(seed)` or `rng.fork(label)`. */
  private constructor(k0: number, k1: number) {
    this.k0 = k0 | 0;
    this.k1 = k1 | 0;
    // splitmix32 over the key fills xoshiro's 128-bit state.
    let c = mix32(this.k0 ^ mix32(this.k1 + GOLDEN));
    const next = (): number => {
      c = (c + GOLDEN) | 0;
      return mix32(c ^ this.k1);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A root stream from a scenario seed (a non-negative safe integer). */
  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be a non-negative integer (got ${seed})`);
    }
    const lo = seed % TWO32;
    const hi = Math.floor(seed / TWO32);
    return new Rng(mix32(lo ^ 0x5bd1e995), mix32(hi + GOLDEN) ^ 0x27d4eb2f);
  }

  /** An independent child stream named `label`; depends only on this stream's key and the label. */
  fork(label: string): Rng {
    const a = mix32(this.k0 ^ hashLabel(label, 0x811c9dc5));
    const b = mix32((this.k1 + mix32(a ^ hashLabel(label, 0x050c5d1f))) | 0);
    return new Rng(a, b);
  }

  /** The next 32 random bits, as an unsigned integer in [0, 2^32). */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [min, max) (exactly min when min === max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** A standard normal draw (mean 0, sd 1), Marsaglia's polar method; the spare is discarded. */
  normal(): number {
    for (;;) {
      const u = 2 * this.float() - 1;
      const v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
    }
  }

  /** Lognormal with the given median (= e^mu) and sigma (sd of the log): median * e^(sigma * N). */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /**
   * Writes this stream's content bytes [offsetBytes, offsetBytes + buf.length) into `buf`.
   * Stateless (does not advance the stream): the same key and offset always give the same bytes.
   */
  fillBytes(buf: Uint8Array, offsetBytes = 0): void {
    fillContent(this.k0, this.k1, buf, offsetBytes);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A root stream from a scenario seed. */
export function createRng(seed: number): Rng {
  return Rng.fromSeed(seed);
}

/** The label under which the lab's file content derives from the scenario seed. */
export const FILE_CONTENT_LABEL = 'file-content';

/**
 * The lab's generated file content for a scenario `seed`: fills `buf` with content bytes
 * [offsetBytes, offsetBytes + buf.length). Same as `createRng(seed).fork('file-content').fillBytes`.
 * Write a 64 MiB file in chunks by advancing `offsetBytes`; the bytes do not depend on the chunking.
 */
export function fillBytes(buf: Uint8Array, seed: number, offsetBytes = 0): void {
  createRng(seed).fork(FILE_CONTENT_LABEL).fillBytes(buf, offsetBytes);
}

const SCRATCH_WORDS = 16384;

function fillContent(k0: number, k1: number, buf: Uint8Array, offsetBytes: number): void {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw new RangeError(`offsetBytes must be a non-negative integer (got ${offsetBytes})`);
  }
  const len = buf.length;
  let pos = 0;
  let off = offsetBytes;
  // Leading bytes up to a word boundary of the content.
  while (pos < len && off % 4 !== 0) {
    buf[pos++] = byteAt(k0, k1, off++);
  }
  const words = Math.floor((len - pos) / 4);
  if (words > 0) {
    const firstWord = off / 4;
    if (LITTLE_ENDIAN && (buf.byteOffset + pos) % 4 === 0) {
      fillWords(k0, k1, new Uint32Array(buf.buffer, buf.byteOffset + pos, words), firstWord);
    } else {
      // Unaligned target (or a big-endian machine): go through a little-endian scratch buffer.
      const scratch = new Uint32Array(Math.min(words, SCRATCH_WORDS));
      const scratchBytes = new Uint8Array(scratch.buffer);
      for (let done = 0; done < words; ) {
        const n = Math.min(scratch.length, words - done);
        const view = scratch.subarray(0, n);
        fillWords(k0, k1, view, firstWord + done);
        if (!LITTLE_ENDIAN) {
          const dv = new DataView(scratch.buffer);
          for (let i = 0; i < n; i++) dv.setUint32(i * 4, view[i]!, true);
        }
        buf.set(scratchBytes.subarray(0, n * 4), pos + done * 4);
        done += n;
      }
    }
    pos += words * 4;
    off += words * 4;
  }
  while (pos < len) {
    buf[pos++] = byteAt(k0, k1, off++);
  }
}

function byteAt(k0: number, k1: number, off: number): number {
  const one = new Uint32Array(1);
  fillWords(k0, k1, one, Math.floor(off / 4));
  return (one[0]! >>> ((off % 4) * 8)) & 0xff;
}

/** out[j] = content word (firstWord + j). Words past 2^32 get a key mixed with the high half. */
function fillWords(k0: number, k1: number, out: Uint32Array, firstWord: number): void {
  let j = 0;
  while (j < out.length) {
    const w = firstWord + j;
    const hi = Math.floor(w / TWO32);
    const lo = w % TWO32;
    const n = Math.min(out.length - j, TWO32 - lo);
    const a = hi === 0 ? k0 : mix32(k0 ^ mix32(hi + GOLDEN));
    const b = k1;
    for (let i = 0; i < n; i++) {
      let x = (((lo + i) ^ b) + a) | 0;
      x ^= x >>> 16;
      x = Math.imul(x, 0x7feb352d);
      x ^= x >>> 15;
      x = Math.imul(x, 0x846ca68b);
      x ^= x >>> 16;
      out[j + i] = x;
    }
    j += n;
  }
}
