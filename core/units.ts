/**
 * Units people write in scenario files and on the command line, parsed into plain numbers, and
 * formatted back for humans. Pure; every parser throws a `UnitError` whose message says what was
 * expected, e.g. `expected a rate such as "20mbit" (got "20")`.
 *
 * - Rates: bit/s, decimal prefixes (1 kbit = 10^3 bit/s, 1 mbit = 10^6, 1 gbit = 10^9). Units
 *   `bit kbit mbit gbit` and the synonyms `bps kbps mbps gbps`, case-insensitive. NOTE: unlike tc,
 *   where "mbps" means megaBYTES per second, here every spelling means bits per second.
 * - Sizes: bytes. `B`, binary `KiB MiB GiB TiB` (2^10...) and decimal `KB MB GB TB` (10^3...),
 *   case-insensitive; the result must be a whole number of bytes.
 * - Durations: milliseconds. `ms s min h`; a bare `0` is accepted (zero needs no unit).
 */

export class UnitError extends Error {
  override readonly name = 'UnitError';
}

const NUMBER_UNIT = /^\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*$/i;

const RATE_UNITS: Readonly<Record<string, bigint>> = {
  bit: 1n,
  bps: 1n,
  kbit: 1_000n,
  kbps: 1_000n,
  mbit: 1_000_000n,
  mbps: 1_000_000n,
  gbit: 1_000_000_000n,
  gbps: 1_000_000_000n,
};

const SIZE_UNITS: Readonly<Record<string, bigint>> = {
  b: 1n,
  kib: 1n << 10n,
  mib: 1n << 20n,
  gib: 1n << 30n,
  tib: 1n << 40n,
  kb: 1_000n,
  mb: 1_000_000n,
  gb: 1_000_000_000n,
  tb: 1_000_000_000_000n,
};

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  min: 60_000,
  h: 3_600_000,
};

interface Decimal {
  negative: boolean;
  /** All digits without the point, as an integer. */
  digits: bigint;
  /** How many of them are after the point. */
  scale: number;
  unit: string;
}

function splitNumberUnit(text: string): Decimal | null {
  const m = NUMBER_UNIT.exec(text);
  if (!m) return null;
  const [, sign = '', num = '', unit = ''] = m;
  const [intPart = '', fracPart = ''] = num.split('.');
  return {
    negative: sign === '-',
    digits: BigInt((intPart + fracPart).replace(/^0+(?=\d)/, '') || '0'),
    scale: fracPart.length,
    unit: unit.toLowerCase(),
  };
}

function show(text: unknown): string {
  return typeof text === 'string' ? JSON.stringify(text) : String(text);
}

/**
 * "50mbit" -> 50_000_000 (bit/s). Decimals allowed ("2.5mbit"); the result is rounded to a whole
 * bit/s and must be at least 1. Zero, negatives, a missing or unknown unit are errors.
 */
export function parseRateBps(text: string): number {
  const expected = `expected a rate such as "20mbit" (units: bit, kbit, mbit, gbit)`;
  if (typeof text !== 'string') throw new UnitError(`${expected}, got ${show(text)}`);
  const d = splitNumberUnit(text);
  if (!d) throw new UnitError(`${expected}, got ${show(text)}`);
  const mult = RATE_UNITS[d.unit];
  if (mult === undefined) throw new UnitError(`unknown rate unit "${d.unit}": ${expected}`);
  if (d.negative && d.digits !== 0n) throw new UnitError(`a rate must be positive, got ${show(text)}`);
  const scaled = d.digits * mult;
  const div = 10n ** BigInt(d.scale);
  // Round half up to a whole bit/s.
  const bps = (scaled * 2n + div) / (div * 2n);
  if (bps < 1n) throw new UnitError(`a rate must be at least 1bit, got ${show(text)}`);
  if (bps > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnitError(`rate ${show(text)} is too large`);
  return Number(bps);
}

/**
 * "64MiB" -> 67108864 (bytes). `B`, `KiB`/`MiB`/`GiB`/`TiB` (binary) and `KB`/`MB`/`GB`/`TB`
 * (decimal). The result must be a whole number of bytes ("1.5KiB" is fine, "1.3B" is not).
 * Zero is allowed here (callers decide their own minimum); negatives are not.
 */
export function parseSizeBytes(text: string): number {
  const expected = `expected a size such as "64MiB" (units: B, KiB, MiB, GiB, KB, MB, GB)`;
  if (typeof text !== 'string') throw new UnitError(`${expected}, got ${show(text)}`);
  const d = splitNumberUnit(text);
  if (!d) throw new UnitError(`${expected}, got ${show(text)}`);
  const mult = SIZE_UNITS[d.unit];
  if (mult === undefined) throw new UnitError(`unknown size unit "${d.unit}": ${expected}`);
  if (d.negative && d.digits !== 0n) throw new UnitError(`a size cannot be negative, got ${show(text)}`);
  const scaled = d.digits * mult;
  const div = 10n ** BigInt(d.scale);
  if (scaled % div !== 0n) throw new UnitError(`${show(text)} is not a whole number of bytes`);
  const bytes = scaled / div;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnitError(`size ${show(text)} is too large`);
  return Number(bytes);
}

/**
 * "3s" -> 3000 (milliseconds). Units `ms`, `s`, `min`, `h`; decimals allowed ("1.5s" -> 1500);
 * a bare "0" (or the number 0) is 0. Negatives are errors.
 */
export function parseDurationMs(text: string | number): number {
  const expected = `expected a duration such as "3s" (units: ms, s, min)`;
  if (text === 0 || (typeof text === 'string' && /^\s*0+(\.0*)?\s*$/.test(text))) return 0;
  if (typeof text !== 'string') throw new UnitError(`${expected}, got ${show(text)}`);
  const d = splitNumberUnit(text);
  if (!d) throw new UnitError(`${expected}, got ${show(text)}`);
  const mult = DURATION_UNITS_MS[d.unit];
  if (mult === undefined) throw new UnitError(`unknown duration unit "${d.unit}": ${expected}`);
  if (d.negative && d.digits !== 0n) throw new UnitError(`a duration cannot be negative, got ${show(text)}`);
  return (Number(d.digits) / 10 ** d.scale) * mult;
}

/** Up to 3 significant digits, no trailing zeros: 2.5, 12, 999, 1.23. */
function sig3(x: number): string {
  if (x >= 100) return String(Math.round(x));
  return String(Number(x.toPrecision(3)));
}

function scaled(value: number, steps: readonly [number, string][]): string {
  for (const [size, unit] of steps) {
    // Promote when rounding would show 1000 of the smaller unit.
    if (Math.abs(value) >= size * 0.9995) return `${sig3(value / size)} ${unit}`;
  }
  const last = steps[steps.length - 1]!;
  return `${sig3(value / last[0])} ${last[1]}`;
}

/** 50_000_000 -> "50 Mbit/s", 2_500_000 -> "2.5 Mbit/s", 999 -> "999 bit/s". */
export function formatRate(bps: number): string {
  if (!Number.isFinite(bps)) return `${bps} bit/s`;
  return scaled(bps, [
    [1e12, 'Tbit/s'],
    [1e9, 'Gbit/s'],
    [1e6, 'Mbit/s'],
    [1e3, 'kbit/s'],
    [1, 'bit/s'],
  ]);
}

/** 67108864 -> "64 MiB", 1536 -> "1.5 KiB", 100 -> "100 B" (binary units). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  return scaled(n, [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ]);
}

/** 250 -> "250 ms", 3200 -> "3.2 s", 125_000 -> "2 min 5 s", 0.5 -> "0.5 ms". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return `${ms} ms`;
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 999.5) return `${sign}${sig3(a)} ms`;
  if (a < 59_950) return `${sign}${sig3(a / 1000)} s`;
  const totalS = Math.round(a / 1000);
  const min = Math.floor(totalS / 60);
  const s = totalS % 60;
  return s === 0 ? `${sign}${min} min` : `${sign}${min} min ${s} s`;
}
