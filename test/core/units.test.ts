import { describe, expect, it } from 'vitest';
import {
  UnitError,
  formatBytes,
  formatDuration,
  formatRate,
  parseDurationMs,
  parseRateBps,
  parseSizeBytes,
} from '../../core/units.js';

describe('parseRateBps', () => {
  it.each([
    ['50mbit', 50_000_000],
    ['1bit', 1],
    ['64kbit', 64_000],
    ['10gbit', 10_000_000_000],
    ['2.5mbit', 2_500_000],
    ['1500kbit', 1_500_000],
    ['.5mbit', 500_000],
    ['20Mbit', 20_000_000],
    ['20MBIT', 20_000_000],
    [' 20 mbit ', 20_000_000],
    ['8bps', 8],
    ['100kbps', 100_000],
    ['100Mbps', 100_000_000],
    ['1gbps', 1_000_000_000],
    ['0.0000015mbit', 2], // rounds to a whole bit/s
  ])('%s -> %d bit/s', (text, bps) => {
    expect(parseRateBps(text)).toBe(bps);
  });

  it.each([
    ['0mbit', 'a rate must be at least 1bit, got "0mbit"'],
    ['0.0000001mbit', 'a rate must be at least 1bit, got "0.0000001mbit"'],
    ['-5mbit', 'a rate must be positive, got "-5mbit"'],
    ['20', 'expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got "20"'],
    ['', 'expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got ""'],
    ['fast', 'expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got "fast"'],
    ['20furlongs', 'unknown rate unit "furlongs": expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit)'],
    ['20MiB', 'unknown rate unit "mib": expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit)'],
    ['1e6bit', 'expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got "1e6bit"'],
  ])('rejects %j', (text, message) => {
    expect(() => parseRateBps(text)).toThrow(UnitError);
    expect(() => parseRateBps(text)).toThrow(message);
  });

  it('rejects a number that is not a string with the expected shape in the message', () => {
    expect(() => parseRateBps(20 as unknown as string)).toThrow(
      'expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit), got 20',
    );
  });
});

describe('parseSizeBytes', () => {
  it.each([
    ['64MiB', 67_108_864],
    ['1B', 1],
    ['0B', 0],
    ['1KiB', 1024],
    ['1.5KiB', 1536],
    ['2GiB', 2_147_483_648],
    ['1TiB', 1_099_511_627_776],
    ['1KB', 1000],
    ['8MB', 8_000_000],
    ['1GB', 1_000_000_000],
    ['64mib', 67_108_864],
    ['0.5MiB', 524_288],
  ])('%s -> %d bytes', (text, bytes) => {
    expect(parseSizeBytes(text)).toBe(bytes);
  });

  it.each([
    ['1.3B', '"1.3B" is not a whole number of bytes'],
    ['0.1KiB', '"0.1KiB" is not a whole number of bytes'],
    ['64', 'expected a size such as "64MiB" (units: B, KiB, MiB, GiB, KB, MB, GB), got "64"'],
    ['-1MiB', 'a size cannot be negative, got "-1MiB"'],
    ['64Mbit', 'unknown size unit "mbit"'],
  ])('rejects %j', (text, message) => {
    expect(() => parseSizeBytes(text)).toThrow(UnitError);
    expect(() => parseSizeBytes(text)).toThrow(message);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['3s', 3000],
    ['250ms', 250],
    ['1.5s', 1500],
    ['2min', 120_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['0s', 0],
    [0, 0],
    ['0.5ms', 0.5],
  ] as const)('%j -> %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([
    ['-1s', 'a duration cannot be negative, got "-1s"'],
    ['3', 'expected a duration such as "3s" (units: ms, s, min), got "3"'],
    ['3 days', 'unknown duration unit "days"'],
  ])('rejects %j', (text, message) => {
    expect(() => parseDurationMs(text)).toThrow(UnitError);
    expect(() => parseDurationMs(text)).toThrow(message);
  });

  it('rejects a number other than 0', () => {
    expect(() => parseDurationMs(3)).toThrow('expected a duration such as "3s" (units: ms, s, min), got 3');
  });
});

describe('formatting', () => {
  it.each([
    [50_000_000, '50 Mbit/s'],
    [2_500_000, '2.5 Mbit/s'],
    [10_000_000_000, '10 Gbit/s'],
    [999, '999 bit/s'],
    [1_000, '1 kbit/s'],
    [999_700, '1 Mbit/s'],
    [1_234_567, '1.23 Mbit/s'],
    [123_456_789, '123 Mbit/s'],
  ])('formatRate(%d) = %s', (bps, text) => {
    expect(formatRate(bps)).toBe(text);
  });

  it.each([
    [67_108_864, '64 MiB'],
    [1536, '1.5 KiB'],
    [100, '100 B'],
    [0, '0 B'],
    [8_000_000, '7.63 MiB'],
    [2 ** 30, '1 GiB'],
  ])('formatBytes(%d) = %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it.each([
    [250, '250 ms'],
    [0.5, '0.5 ms'],
    [3200, '3.2 s'],
    [59_000, '59 s'],
    [60_000, '1 min'],
    [125_000, '2 min 5 s'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips parse -> format -> parse for rates', () => {
    for (const text of ['50mbit', '2.5mbit', '10gbit', '64kbit']) {
      const bps = parseRateBps(text);
      const shown = formatRate(bps).replace(' ', '').replace('/s', '').toLowerCase();
      expect(parseRateBps(shown)).toBe(bps);
    }
  });
});
