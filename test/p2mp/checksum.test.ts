/** The Internet checksum against values computed by hand (the word sums are written out). */
import { describe, expect, it } from 'vitest';
import { checksumMatches, internetChecksum, onesComplementSum } from '../../p2mp/checksum.js';
import { decodeSaw, encodeAck, encodeData } from '../../p2mp/saw-wire.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('Internet checksum (UDP style) of the data', () => {
  it.each([
    // [data, one's-complement sum, checksum]
    ['nothing', b(), 0x0000, 0xffff],
    ['one word 0x0001', b(0x00, 0x01), 0x0001, 0xfffe],
    // 0x0102 + 0x0304 + 0x0500 (odd: the last byte is padded on the right) = 0x0906
    ['odd length 01 02 03 04 05', b(1, 2, 3, 4, 5), 0x0906, 0xf6f9],
    // one byte 0xAB is the word 0xAB00
    ['a single byte', b(0xab), 0xab00, 0x54ff],
    // 0xFFFF + 0x0001 = 0x10000 -> end-around carry -> 0x0001
    ['carry folds back', b(0xff, 0xff, 0x00, 0x01), 0x0001, 0xfffe],
    // RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 -> sum 0xddf2, checksum 0x220d
    ['RFC 1071 section 3', b(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0xddf2, 0x220d],
    // "abc" = 0x6162 + 0x6300 = 0xC462
    ['"abc" (odd)', Buffer.from('abc'), 0xc462, 0x3b9d],
  ])('%s', (_name, data, sum, checksum) => {
    expect(onesComplementSum(data)).toBe(sum);
    expect(internetChecksum(data)).toBe(checksum);
    expect(checksumMatches(data, checksum)).toBe(true);
    expect(checksumMatches(data, checksum ^ 0x0100)).toBe(false);
  });

  it('a long buffer of 0xFF words sums to 0xFFFF without overflow', () => {
    const data = Buffer.alloc(1 << 20, 0xff);
    expect(onesComplementSum(data)).toBe(0xffff);
    expect(internetChecksum(data)).toBe(0);
  });
});

describe('the specification\'s headers, byte for byte', () => {
  it('data segment: u32 seq | checksum | 0x5555 | data', () => {
    expect(encodeData(7, b(1, 2, 3, 4, 5)).toString('hex')).toBe('00000007' + 'f6f9' + '5555' + '0102030405');
  });
  it('ACK: u32 seq | 0x0000 | 0xAAAA', () => {
    expect(encodeAck(0x01020304).toString('hex')).toBe('01020304' + '0000' + 'aaaa');
  });
  it('the end segment is a header with no data', () => {
    expect(encodeData(3, b()).toString('hex')).toBe('00000003ffff5555');
    expect(decodeSaw(Buffer.from('000000030000' + '5555', 'hex'))).toMatchObject({ type: 'data', seq: 3, checksumOk: true });
  });
  it('a flipped data bit fails the checksum; a wrong marker is not a packet', () => {
    const d = encodeData(1, Buffer.from('hello world'));
    d[10]! ^= 0x04;
    expect(decodeSaw(d)).toMatchObject({ type: 'data', checksumOk: false });
    expect(decodeSaw(Buffer.from('000000010000aaab', 'hex'))).toBeNull();
    expect(decodeSaw(Buffer.from('000000010001aaaa', 'hex'))).toBeNull();
  });
});
