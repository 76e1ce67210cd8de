/**
 * GF(2^8) arithmetic with log/exp tables over the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d),
 * generator 2 (the field of Reed-Solomon codes and most RLNC libraries). GF(2) is the subfield
 * {0, 1}: its multiply is AND and its add is XOR, so the same tables serve both fields.
 */
export const POLY = 0x11d;

/** EXP[i] = 2^i, doubled in length so EXP[LOG[a] + LOG[b]] needs no modulo. */
export const EXP = new Uint8Array(512);
/** LOG[a] for a != 0; LOG[0] is unused. */
export const LOG = new Uint8Array(256);
/** MUL[c << 8 | x] = c * x: 64 KiB, one 256-byte row per coefficient (the scalar kernel's table). */
export const MUL = new Uint8Array(65536);
/** INV[a] = a^-1 for a != 0; INV[0] = 0. */
export const INV = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLY;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
  for (let a = 1; a < 256; a++) {
    INV[a] = EXP[255 - LOG[a]!]!;
    for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[LOG[a]! + LOG[b]!]!;
  }
}

export function gfMul(a: number, b: number): number {
  return MUL[((a & 0xff) << 8) | (b & 0xff)]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('gfInv(0): zero has no inverse');
  return INV[a]!;
}

export function gfDiv(a: number, b: number): number {
  return gfMul(a, gfInv(b));
}
