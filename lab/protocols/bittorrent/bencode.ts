/**
 * Just enough bencode to find a torrent's info dictionary and hash it (the info hash that
 * opentracker's whitelist and every peer use). A malformed torrent is an error, never a hang:
 * every step moves forward and is bounded by the buffer.
 */
import { createHash } from 'node:crypto';

/** The offset just past the bencoded value starting at `at`. */
export function skipValue(b: Buffer, at: number, depth = 0): number {
  if (depth > 64) throw new SyntaxError('bencode: nested too deep');
  const c = b[at];
  if (c === undefined) throw new SyntaxError('bencode: truncated');
  if (c === 0x64 || c === 0x6c) {
    // d...e or l...e
    let i = at + 1;
    while (b[i] !== 0x65) {
      if (i >= b.length) throw new SyntaxError('bencode: truncated list or dictionary');
      i = skipValue(b, i, depth + 1);
    }
    return i + 1;
  }
  if (c === 0x69) {
    const end = b.indexOf(0x65, at);
    if (end < 0) throw new SyntaxError('bencode: truncated integer');
    return end + 1;
  }
  const colon = b.indexOf(0x3a, at);
  const len = Number(b.subarray(at, colon).toString('latin1'));
  if (colon < 0 || !/^\d+$/.test(b.subarray(at, colon).toString('latin1')) || colon + 1 + len > b.length) {
    throw new SyntaxError(`bencode: bad string at ${at}`);
  }
  return colon + 1 + len;
}

/** SHA-1 of the torrent's bencoded `info` value, as 40 lowercase hex digits. */
export function infoHash(torrent: Buffer): string {
  if (torrent[0] !== 0x64) throw new SyntaxError('not a torrent: expected a bencoded dictionary');
  let i = 1;
  while (torrent[i] !== 0x65 && i < torrent.length) {
    const keyEnd = skipValue(torrent, i);
    const key = torrent.subarray(torrent.indexOf(0x3a, i) + 1, keyEnd).toString('latin1');
    const valueEnd = skipValue(torrent, keyEnd);
    if (key === 'info') return createHash('sha1').update(torrent.subarray(keyEnd, valueEnd)).digest('hex');
    i = valueEnd;
  }
  throw new SyntaxError('not a torrent: no info dictionary');
}

/** `%XX` for every byte of a hex info hash, as trackers want it in a query. */
export function urlEncodedHash(hex: string): string {
  return hex.replace(/../g, (h) => `%${h.toUpperCase()}`);
}
