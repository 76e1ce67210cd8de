/**
 * The wire format of `p2mp-ftp/nak` (beyond the seed): one UDP datagram per frame, every field in
 * network byte order, a CRC-32 over the whole datagram so a corrupt one is dropped (and counted).
 *
 *   header (12 bytes)  u16 0x504D ("PM") | u8 version 1 | u8 type | u32 session | u32 CRC-32
 *                      (the CRC of the whole datagram with its own field zero)
 *   DATA     1  u32 segment | data (1..segBytes bytes)                              sender -> receivers
 *   STATUS   2  u32 fileBytes high | u32 low | u16 segBytes | u32 segments sent so far |
 *               32 bytes SHA-256 of the file | u16 blockSegs (0: plain retransmissions; else
 *               repairs are parity over blocks of that many segments)                  sender -> receivers
 *   NAK      3  u32 segments held | u16 n | n x (u32 first | u32 count), n <= MAX_RANGES
 *                                                                                     receiver -> sender
 *   COMPLETE 4  (nothing): the file is stored, verified and renamed                   receiver -> sender
 *   BYE      5  (nothing): the sender has the receiver's COMPLETE                       sender -> receiver
 *   REPAIR   6  u32 block | u16 k | k coefficient bytes (GF(2^8)) | segBytes bytes of payload:
 *               the combination of the block's k segments (the last one zero-padded)     sender -> receivers
 *   BNAK     7  u32 segments held | u16 n | n x (u32 block | u16 deficit), n <= MAX_RANGES:
 *               per block, how many more independent repairs the receiver needs        receiver -> sender
 *
 * Version 2 added blockSegs to STATUS and the REPAIR and BNAK frames (parity repairs). *
 * A STATUS goes out every few tens of ms: it announces the file (size, segment size, digest) to a
 * receiver that missed the start and tells everyone how far the sender has got, so a receiver can
 * ask for a lost tail. Segments are numbered from 0; all but the last carry exactly segBytes.
 *
 * Decoding never throws: a datagram that is short, long, of an unknown type, or fails its CRC is null.
 */
import { crc32 } from 'node:zlib';

export const NAK_MAGIC = 0x504d;
export const NAK_VERSION = 2;
export const NAK_HEADER_BYTES = 12;
export const DATA_HEADER_BYTES = NAK_HEADER_BYTES + 4;
export const STATUS_BYTES = NAK_HEADER_BYTES + 4 + 4 + 2 + 4 + 32 + 2;
/** REPAIR header before the coefficients: u32 block | u16 k. */
export const REPAIR_HEADER_BYTES = NAK_HEADER_BYTES + 4 + 2;
/** Largest parity block (segments); the codec allows more, decoding cost grows with k^2. */
export const MAX_BLOCK_SEGS = 255;
export const MAX_RANGES = 128;
/** Segment size limits: a segment and its headers fit one IPv4 UDP datagram. */
export const MIN_SEG_BYTES = 64;
export const MAX_SEG_BYTES = 65_507 - DATA_HEADER_BYTES;
/** Files up to 2^48 bytes (the STATUS field is 48 bits in practice; JS integers are exact). */
export const MAX_FILE_BYTES = 2 ** 48;

export const enum NakType {
  Data = 1,
  Status = 2,
  Nak = 3,
  Complete = 4,
  Bye = 5,
  Repair = 6,
  BlockNak = 7,
}

export interface BlockNeed {
  block: number;
  deficit: number;
}

export interface Range {
  first: number;
  count: number;
}

export type NakFrame =
  | { type: 'data'; seg: number; data: Buffer }
  | { type: 'status'; fileBytes: number; segBytes: number; sentSegs: number; sha256: Buffer; blockSegs?: number }
  | { type: 'repair'; block: number; coeffs: Uint8Array; payload: Uint8Array }
  | { type: 'bnak'; held: number; needs: BlockNeed[] }
  | { type: 'nak'; held: number; ranges: Range[] }
  | { type: 'complete' }
  | { type: 'bye' };

function header(type: NakType, session: number, bodyBytes: number): Buffer {
  const b = Buffer.alloc(NAK_HEADER_BYTES + bodyBytes);
  b.writeUInt16BE(NAK_MAGIC, 0);
  b.writeUInt8(NAK_VERSION, 2);
  b.writeUInt8(type, 3);
  b.writeUInt32BE(session >>> 0, 4);
  return b;
}

const ZERO_CRC = new Uint8Array(4);

function seal(b: Buffer): Buffer {
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(crc32(b), 8);
  return b;
}

export function encodeNak(session: number, f: NakFrame): Buffer {
  switch (f.type) {
    case 'data': {
      const b = header(NakType.Data, session, 4 + f.data.length);
      b.writeUInt32BE(f.seg >>> 0, 12);
      b.set(f.data, 16);
      return seal(b);
    }
    case 'status': {
      const b = header(NakType.Status, session, STATUS_BYTES - NAK_HEADER_BYTES);
      b.writeUInt32BE(Math.floor(f.fileBytes / 2 ** 32), 12);
      b.writeUInt32BE(f.fileBytes % 2 ** 32, 16);
      b.writeUInt16BE(f.segBytes, 20);
      b.writeUInt32BE(f.sentSegs >>> 0, 22);
      b.set(f.sha256.subarray(0, 32), 26);
      b.writeUInt16BE(f.blockSegs ?? 0, 58);
      return seal(b);
    }
    case 'repair': {
      const k = f.coeffs.length;
      if (k < 1 || k > MAX_BLOCK_SEGS) throw new RangeError(`a repair combines 1..${MAX_BLOCK_SEGS} segments (got ${k})`);
      const b = header(NakType.Repair, session, 6 + k + f.payload.length);
      b.writeUInt32BE(f.block >>> 0, 12);
      b.writeUInt16BE(k, 16);
      b.set(f.coeffs, 18);
      b.set(f.payload, 18 + k);
      return seal(b);
    }
    case 'bnak': {
      if (f.needs.length > MAX_RANGES) throw new RangeError(`at most ${MAX_RANGES} blocks per BNAK (got ${f.needs.length})`);
      const b = header(NakType.BlockNak, session, 6 + 6 * f.needs.length);
      b.writeUInt32BE(f.held >>> 0, 12);
      b.writeUInt16BE(f.needs.length, 16);
      f.needs.forEach((x, i) => {
        b.writeUInt32BE(x.block >>> 0, 18 + 6 * i);
        b.writeUInt16BE(x.deficit, 22 + 6 * i);
      });
      return seal(b);
    }
    case 'nak': {
      if (f.ranges.length > MAX_RANGES) throw new RangeError(`at most ${MAX_RANGES} ranges per NAK (got ${f.ranges.length})`);
      const b = header(NakType.Nak, session, 6 + 8 * f.ranges.length);
      b.writeUInt32BE(f.held >>> 0, 12);
      b.writeUInt16BE(f.ranges.length, 16);
      f.ranges.forEach((r, i) => {
        b.writeUInt32BE(r.first >>> 0, 18 + 8 * i);
        b.writeUInt32BE(r.count >>> 0, 22 + 8 * i);
      });
      return seal(b);
    }
    case 'complete':
      return seal(header(NakType.Complete, session, 0));
    case 'bye':
      return seal(header(NakType.Bye, session, 0));
  }
}

/** The session a datagram claims (after a successful decode), or null. */
export function sessionOf(b: Buffer): number | null {
  return b.length >= NAK_HEADER_BYTES ? b.readUInt32BE(4) : null;
}

/** A frame, or null for anything malformed (never throws). */
export function decodeNak(b: Buffer): NakFrame | null {
  if (b.length < NAK_HEADER_BYTES || b.readUInt16BE(0) !== NAK_MAGIC || b.readUInt8(2) !== NAK_VERSION) return null;
  // The CRC covers the datagram with its own field zeroed: computed in three pieces, no copy.
  if (crc32(b.subarray(NAK_HEADER_BYTES), crc32(ZERO_CRC, crc32(b.subarray(0, 8)))) !== b.readUInt32BE(8)) return null;
  const type = b.readUInt8(3);
  switch (type) {
    case NakType.Data:
      if (b.length <= DATA_HEADER_BYTES) return null;
      return { type: 'data', seg: b.readUInt32BE(12), data: b.subarray(16) };
    case NakType.Status: {
      if (b.length !== STATUS_BYTES) return null;
      const fileBytes = b.readUInt32BE(12) * 2 ** 32 + b.readUInt32BE(16);
      const segBytes = b.readUInt16BE(20);
      if (fileBytes > MAX_FILE_BYTES || segBytes < MIN_SEG_BYTES || segBytes > MAX_SEG_BYTES) return null;
      const blockSegs = b.readUInt16BE(58);
      if (blockSegs > MAX_BLOCK_SEGS) return null;
      return { type: 'status', fileBytes, segBytes, sentSegs: b.readUInt32BE(22), sha256: Buffer.from(b.subarray(26, 58)), blockSegs };
    }
    case NakType.Repair: {
      if (b.length < REPAIR_HEADER_BYTES) return null;
      const k = b.readUInt16BE(16);
      if (k < 1 || k > MAX_BLOCK_SEGS || b.length <= REPAIR_HEADER_BYTES + k) return null;
      return { type: 'repair', block: b.readUInt32BE(12), coeffs: b.subarray(18, 18 + k), payload: b.subarray(18 + k) };
    }
    case NakType.BlockNak: {
      if (b.length < 18) return null;
      const n = b.readUInt16BE(16);
      if (n > MAX_RANGES || b.length !== 18 + 6 * n) return null;
      const needs: BlockNeed[] = [];
      for (let i = 0; i < n; i++) needs.push({ block: b.readUInt32BE(18 + 6 * i), deficit: b.readUInt16BE(22 + 6 * i) });
      return { type: 'bnak', held: b.readUInt32BE(12), needs };
    }
    case NakType.Nak: {
      if (b.length < 18) return null;
      const n = b.readUInt16BE(16);
      if (n > MAX_RANGES || b.length !== 18 + 8 * n) return null;
      const ranges: Range[] = [];
      for (let i = 0; i < n; i++) ranges.push({ first: b.readUInt32BE(18 + 8 * i), count: b.readUInt32BE(22 + 8 * i) });
      return { type: 'nak', held: b.readUInt32BE(12), ranges };
    }
    case NakType.Complete:
      return b.length === NAK_HEADER_BYTES ? { type: 'complete' } : null;
    case NakType.Bye:
      return b.length === NAK_HEADER_BYTES ? { type: 'bye' } : null;
    default:
      return null;
  }
}

/** Segments of a file: all but the last hold segBytes. */
export function segmentCount(fileBytes: number, segBytes: number): number {
  return Math.ceil(fileBytes / segBytes);
}
