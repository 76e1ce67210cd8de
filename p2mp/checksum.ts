/**
 * The Internet checksum (RFC 1071), as UDP computes it over its data: the one's-complement sum of
 * the data taken as big-endian 16-bit words (an odd last byte is padded with a zero byte on its
 * right), then complemented. P2MP-FTP's data header carries it for the data bytes only.
 *
 * Worked example (test/p2mp/checksum.test.ts holds more): bytes 01 02 03 04 05 are the words
 * 0x0102, 0x0304, 0x0500; their sum is 0x0906; the checksum is ~0x0906 = 0xF6F9.
 */

/** The one's-complement sum of `data` as 16-bit big-endian words, folded to 16 bits. */
export function onesComplementSum(data: Uint8Array): number {
  let sum = 0;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) {
    sum += (data[i]! << 8) | data[i + 1]!;
    // Fold now and then so the sum stays a small integer (it never overflows 2^53 anyway, but
    // folding keeps it in a fast 32-bit range).
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum to put in a header: the complement of the one's-complement sum. */
export function internetChecksum(data: Uint8Array): number {
  return ~onesComplementSum(data) & 0xffff;
}

/**
 * Whether `checksum` matches `data`: the sum of the data and the checksum is 0xFFFF (negative
 * zero). This accepts both encodings of a zero result, as a receiver of UDP does.
 */
export function checksumMatches(data: Uint8Array, checksum: number): boolean {
  let sum = onesComplementSum(data) + (checksum & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}
