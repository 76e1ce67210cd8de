/**
 * The wire format of P2MP-FTP as its specification sets it (the seed, issue 15): every field in
 * network byte order, nothing else on the wire, so any implementation of the specification
 * interoperates.
 *
 *   data segment   u32 sequence number | u16 checksum of the data | u16 0x5555 | data (0..MSS bytes)
 *   ACK            u32 sequence number | u16 0x0000               | u16 0xAAAA          (8 bytes)
 *
 * The checksum is the Internet checksum of the data bytes only (p2mp/checksum.ts). The end of the
 * file (which the specification leaves open) is a data segment with no data bytes, numbered after
 * the last data segment and acknowledged like any other.
 *
 * Decoding never throws: anything that is not exactly one of the two shapes is `null` (dropped and
 * counted by the caller).
 */
import { checksumMatches, internetChecksum } from './checksum.js';

export const HEADER_BYTES = 8;
export const DATA_MARK = 0x5555;
export const ACK_MARK = 0xaaaa;
/** Sequence numbers are 32-bit. */
export const MAX_SEQ = 0xffffffff;
/** The largest MSS: the data of one UDP datagram over IPv4 (65535 - 20 - 8 - 8). */
export const MAX_MSS = 65_507 - HEADER_BYTES;
export const MIN_MSS = 1;

export type SawDatagram =
  | { type: 'data'; seq: number; checksum: number; data: Buffer; checksumOk: boolean }
  | { type: 'ack'; seq: number };

export function encodeData(seq: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + data.length);
  b.writeUInt32BE(seq >>> 0, 0);
  b.writeUInt16BE(internetChecksum(data), 4);
  b.writeUInt16BE(DATA_MARK, 6);
  b.set(data, HEADER_BYTES);
  return b;
}

export function encodeAck(seq: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.writeUInt32BE(seq >>> 0, 0);
  b.writeUInt16BE(ACK_MARK, 6);
  return b;
}

/**
 * One datagram, or null when it is neither a data segment nor an ACK. An empty data segment (the
 * end of the file) has nothing for a checksum to protect: it is accepted with 0x0000 or 0xFFFF.
 */
export function decodeSaw(b: Buffer): SawDatagram | null {
  if (b.length < HEADER_BYTES) return null;
  const seq = b.readUInt32BE(0);
  const field = b.readUInt16BE(4);
  const mark = b.readUInt16BE(6);
  if (mark === DATA_MARK) {
    const data = b.subarray(HEADER_BYTES);
    const checksumOk = data.length === 0 ? field === 0 || field === 0xffff : checksumMatches(data, field);
    return { type: 'data', seq, checksum: field, data, checksumOk };
  }
  if (mark === ACK_MARK && b.length === HEADER_BYTES && field === 0) return { type: 'ack', seq };
  return null;
}
