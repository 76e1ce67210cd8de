/**
 * The coded protocol's variants and the file's cutting into segments (one generation each).
 *
 * `sparse`: the seed's design as closely as this codec allows: a banded code over GF(2) (sparsenc's
 * BAND), generations of 64 symbols of 1280 bytes, a band of 16, one segment at a time per client,
 * no systematic pass. NOT reproduced: sparsenc's 1 % LDPC precode (it lets a decoder finish
 * with slightly fewer innovative packets than symbols); here a generation simply takes packets until
 * its rank is full, which is what a precode-less BAND code does.
 *
 * `rlnc`: dense random linear network coding over GF(2^8), tuned by measurement (see the note in
 * the plug-in): generation size, systematic first pass from the server, segments in flight.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { coeffBytes, HEADER_BYTES, MAX_DATAGRAM, type Field } from './wire.js';

export const CODED_VARIANTS = ['sparse', 'rlnc'] as const;
export type CodedVariant = (typeof CODED_VARIANTS)[number];

export interface CodedParams {
  field: Field;
  k: number;
  symbolBytes: number;
  /** Banded code: nonzeros within `band` consecutive symbols (0 = not banded). */
  band: number;
  /** Fraction of nonzero coefficients (1 = dense). */
  density: number;
  /** The server sends each segment's k source symbols once (spread over its clients) before coded ones. */
  systematic: boolean;
  /** Segments a client works on at once. */
  window: number;
}

export const VARIANT_PARAMS: Record<CodedVariant, CodedParams> = {
  sparse: { field: 'gf2', k: 64, symbolBytes: 1280, band: 16, density: 1, systematic: false, window: 1 },
  rlnc: { field: 'gf256', k: 64, symbolBytes: 1280, band: 0, density: 1, systematic: true, window: 2 },
};

export function isVariant(s: string): s is CodedVariant {
  return (CODED_VARIANTS as readonly string[]).includes(s);
}

/** A DATA datagram's UDP payload, bytes. */
export function datagramBytes(p: Pick<CodedParams, 'field' | 'k' | 'symbolBytes'>): number {
  return HEADER_BYTES + coeffBytes(p.field, p.k) + p.symbolBytes;
}

/** Throws a RangeError naming the problem. */
export function checkCodedParams(p: CodedParams): void {
  if (!Number.isInteger(p.k) || p.k < 1 || p.k > 1024) throw new RangeError(`k: expected 1..1024 (got ${p.k})`);
  if (!Number.isInteger(p.symbolBytes) || p.symbolBytes < 16) throw new RangeError(`symbolBytes: expected at least 16 (got ${p.symbolBytes})`);
  if (datagramBytes(p) > MAX_DATAGRAM) throw new RangeError(`a packet of k=${p.k} ${p.field} with ${p.symbolBytes}-byte symbols is ${datagramBytes(p)} bytes, over one Ethernet frame (${MAX_DATAGRAM})`);
  if (!Number.isInteger(p.band) || p.band < 0 || p.band > p.k) throw new RangeError(`band: expected 0..k (got ${p.band})`);
  if (!(p.density > 0 && p.density <= 1)) throw new RangeError(`density: expected (0, 1] (got ${p.density})`);
  if (!Number.isInteger(p.window) || p.window < 1 || p.window > 16) throw new RangeError(`window: expected 1..16 (got ${p.window})`);
}

export function segmentBytes(p: Pick<CodedParams, 'k' | 'symbolBytes'>): number {
  return p.k * p.symbolBytes;
}

export function segmentCount(fileBytes: number, segBytes: number): number {
  return Math.ceil(fileBytes / segBytes);
}

/** Length of segment `s` (the last one may be shorter). */
export function segmentLength(fileBytes: number, segBytes: number, s: number): number {
  return Math.min(segBytes, fileBytes - s * segBytes);
}

/** Reads segment `s` of an open file, zero-padded to a whole generation. */
export function readSegment(fd: number, fileBytes: number, segBytes: number, s: number): Uint8Array {
  const buf = new Uint8Array(segBytes);
  const len = segmentLength(fileBytes, segBytes, s);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, s * segBytes + got);
    if (n === 0) throw new Error(`file shrank while reading segment ${s}`);
    got += n;
  }
  return buf;
}

/** SHA-256 (hex) of every segment of a file. */
export function segmentHashes(path: string, fileBytes: number, segBytes: number): string[] {
  const fd = openSync(path, 'r');
  try {
    const out: string[] = [];
    for (let s = 0; s < segmentCount(fileBytes, segBytes); s++) {
      const data = readSegment(fd, fileBytes, segBytes, s);
      out.push(createHash('sha256').update(data.subarray(0, segmentLength(fileBytes, segBytes, s))).digest('hex'));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** xorshift128+: a fast non-cryptographic rng for coefficients (the codec asks for () => [0, 1)). */
export function makeRng(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9 || 1;
  let b = Math.imul(seed >>> 0, 0x85ebca6b) ^ 0xc2b2ae35 || 2;
  return () => {
    let x = a;
    const y = b;
    a = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    b = x;
    return ((a + b) >>> 0) / 4294967296;
  };
}
