/**
 * A rate as a scenario writes it: a fixed "20mbit", or a distribution drawn per receiver from the
 * seed. `readRate` checks the YAML value; `RateDraw` draws receiver i's rate, keyed by the source's
 * path and i only, so draws never depend on each other's order.
 */
import { parseRateBps } from '../../core/units.js';
import type { Rng } from '../rng.js';
import type { Issues } from './errors.js';
import { at, describe, isPlainObject, readNumber, readObject, readUnit, required } from './read.js';
import { LOGNORMAL_KEYS, UNIFORM_KEYS } from './schema.js';

export type RateSource =
  | { kind: 'fixed'; path: string; bps: number }
  | { kind: 'lognormal'; path: string; medianBps: number; sigma: number; minBps?: number; maxBps?: number }
  | { kind: 'uniform'; path: string; minBps: number; maxBps: number };

const RATE_HINT = 'a rate such as "20mbit", { lognormal: { median, sigma, min?, max? } } or { uniform: { min, max } }';

/** Checks a rate or a distribution at `path`; undefined (with issues recorded) when it is wrong. */
export function readRate(v: unknown, path: string, issues: Issues): RateSource | undefined {
  if (!isPlainObject(v)) {
    const bps = readUnit(v, path, issues, parseRateBps);
    return bps === undefined ? undefined : { kind: 'fixed', path, bps };
  }
  const keys = Object.keys(v);
  if (keys.length !== 1 || (keys[0] !== 'lognormal' && keys[0] !== 'uniform')) {
    issues.add(path, `expected ${RATE_HINT}; got a mapping with keys ${keys.join(', ') || '(none)'}`);
    return undefined;
  }
  const before = issues.count;
  if (keys[0] === 'lognormal') {
    const p = at(path, 'lognormal');
    const d = readObject(v['lognormal'], p, issues, LOGNORMAL_KEYS);
    if (!d) return undefined;
    const median = required(d, 'median', p, issues, 'a rate such as "20mbit"');
    const medianBps = median === undefined ? undefined : readUnit(median, at(p, 'median'), issues, parseRateBps);
    const sigmaV = required(d, 'sigma', p, issues, 'a number >= 0, the standard deviation of the log');
    const sigma = sigmaV === undefined ? undefined : readNumber(sigmaV, at(p, 'sigma'), issues, { min: 0 });
    const minBps = d['min'] === undefined ? undefined : readUnit(d['min'], at(p, 'min'), issues, parseRateBps);
    const maxBps = d['max'] === undefined ? undefined : readUnit(d['max'], at(p, 'max'), issues, parseRateBps);
    if (minBps !== undefined && maxBps !== undefined && minBps > maxBps) {
      issues.add(at(p, 'min'), `min (${d['min']}) is above max (${d['max']})`);
    }
    if (issues.count > before || medianBps === undefined || sigma === undefined) return undefined;
    const out: RateSource = { kind: 'lognormal', path, medianBps, sigma };
    if (minBps !== undefined) out.minBps = minBps;
    if (maxBps !== undefined) out.maxBps = maxBps;
    return out;
  }
  const p = at(path, 'uniform');
  const d = readObject(v['uniform'], p, issues, UNIFORM_KEYS);
  if (!d) return undefined;
  const min = required(d, 'min', p, issues, 'a rate such as "5mbit"');
  const max = required(d, 'max', p, issues, 'a rate such as "25mbit"');
  const minBps = min === undefined ? undefined : readUnit(min, at(p, 'min'), issues, parseRateBps);
  const maxBps = max === undefined ? undefined : readUnit(max, at(p, 'max'), issues, parseRateBps);
  if (minBps !== undefined && maxBps !== undefined && minBps > maxBps) {
    issues.add(at(p, 'min'), `min (${describeRate(min)}) is above max (${describeRate(max)})`);
  }
  if (issues.count > before || minBps === undefined || maxBps === undefined) return undefined;
  return { kind: 'uniform', path, minBps, maxBps };
}

function describeRate(v: unknown): string {
  return typeof v === 'string' ? v : describe(v);
}

/** Draws rates from one source for receivers by index. */
export class RateDraw {
  private readonly rng: Rng | undefined;

  constructor(
    readonly source: RateSource,
    root: Rng,
  ) {
    this.rng = source.kind === 'fixed' ? undefined : root.fork(source.path);
  }

  /** Receiver `index`'s rate, bit/s: a whole number >= 1. */
  forReceiver(index: number): number {
    const s = this.source;
    if (s.kind === 'fixed' || this.rng === undefined) return (s as { bps: number }).bps;
    const r = this.rng.fork(String(index));
    let bps: number;
    if (s.kind === 'uniform') {
      bps = r.uniform(s.minBps, s.maxBps);
    } else {
      bps = r.lognormal(s.medianBps, s.sigma);
      if (s.minBps !== undefined && bps < s.minBps) bps = s.minBps;
      if (s.maxBps !== undefined && bps > s.maxBps) bps = s.maxBps;
    }
    return Math.max(1, Math.round(bps));
  }
}
