/**
 * Sweeps: a scenario that names one parameter and its values. The lab runs every contender at each
 * value `repeat` times; each point is the scenario with that value written in, checked like any
 * scenario (lab/sweep/expand.ts).
 *
 * ```yaml
 * sweep:
 *   param: receivers.count        # required: which value changes (below)
 *   values: [1, 2, 3, 4, 5]       # either a list of values (scalars, no repeats) ...
 *   # from: 0.01                  # ... or a range: from, to and step, all three (not with values);
 *   # to: 0.10                    #     numbers, or for a rate or a size, the same unit in all three
 *   # step: 0.01                  #     (from: 10mbit, to: 50mbit, step: 10mbit); to >= from, step > 0
 *   label: loss p                 # optional: the chart's x-axis title (default: the param)
 * ```
 *
 * Parameters (a closed list; each is the path of the key it writes in the scenario):
 *   receivers.count              number of receivers (whole numbers)
 *   receivers.down, receivers.up, source.up   link rates ("20mbit")
 *   receivers.loss (or: loss)    loss on every receiver link, percent (5 or "5%")
 *   file.size                    the generated file's size ("10MiB")
 *   transfer.<protocol>.<key>    a protocol's own option (transfer.p2mp-ftp.mss); the protocol's
 *                                parseOptions checks each value, as for any scenario
 * At most SWEEP_MAX_POINTS points. A range's points are from + i*step, rounded to the decimals
 * written in from and step (0.01..0.10 step 0.01 gives exactly 0.01, 0.02, ..., 0.1), up to and
 * including `to` (within a millionth of a step).
 */
import { parseRateBps, parseSizeBytes, UnitError } from '../../core/units.js';
import type { Issues } from '../scenario/errors.js';
import { at, describe, isPlainObject, item, readObject, readString } from '../scenario/read.js';

export const SWEEP_KEY = 'sweep';
export const SWEEP_KEYS = ['param', 'values', 'from', 'to', 'step', 'label'] as const;
export const SWEEP_MAX_POINTS = 200;

/** How a parameter's values are read and placed on the chart's x axis. */
export type SweepKind = 'count' | 'rate' | 'loss' | 'size' | 'option';

export const SWEEP_PARAMS: Readonly<Record<string, SweepKind>> = {
  'receivers.count': 'count',
  'receivers.down': 'rate',
  'receivers.up': 'rate',
  'source.up': 'rate',
  'receivers.loss': 'loss',
  'file.size': 'size',
};

/** Short names, and the path each stands for. */
export const SWEEP_ALIASES: Readonly<Record<string, string>> = { loss: 'receivers.loss' };

/** `transfer.<protocol>.<key>`: a protocol's own option. */
const OPTION_PARAM = /^transfer\.([a-z0-9-]+)\.([A-Za-z][A-Za-z0-9]*)$/;

export type SweepValue = number | string | boolean;

export interface SweepSpec {
  /** As written: `receivers.count`. */
  param: string;
  /** Keys of the path it writes: ['receivers', 'count']. */
  path: string[];
  kind: SweepKind;
  values: SweepValue[];
  /** The chart's x-axis title. */
  label: string;
}

/** The kind of a parameter, or undefined when it cannot be swept. */
export function sweepKind(param: string): SweepKind | undefined {
  if (Object.hasOwn(SWEEP_ALIASES, param)) return sweepKind(SWEEP_ALIASES[param]!);
  if (Object.hasOwn(SWEEP_PARAMS, param)) return SWEEP_PARAMS[param];
  if (OPTION_PARAM.test(param) && param.split('.')[1] !== 'job') return 'option';
  return undefined;
}

/** Reads and checks `sweep:` (at path `sweep`); records issues and returns undefined when wrong. */
export function readSweep(raw: unknown, issues: Issues, path = SWEEP_KEY): SweepSpec | undefined {
  const before = issues.count;
  const o = readObject(raw, path, issues, SWEEP_KEYS);
  if (!o) return undefined;
  const param = o['param'] === undefined ? (issues.add(at(path, 'param'), 'required (the value that changes, e.g. receivers.count)'), undefined) : readString(o['param'], at(path, 'param'), issues, 'a parameter name');
  const kind = param === undefined ? undefined : sweepKind(param);
  if (param !== undefined && kind === undefined) {
    issues.add(at(path, 'param'), `cannot sweep ${JSON.stringify(param)}: expected one of ${[...Object.keys(SWEEP_PARAMS), ...Object.keys(SWEEP_ALIASES)].join(', ')} or transfer.<protocol>.<option>`);
  }
  const label = o['label'] === undefined ? param : readString(o['label'], at(path, 'label'), issues, 'a text');
  const hasList = o['values'] !== undefined;
  const rangeKeys = (['from', 'to', 'step'] as const).filter((k) => o[k] !== undefined);
  let values: SweepValue[] | undefined;
  if (hasList && rangeKeys.length > 0) {
    issues.add(path, `give either values or from/to/step, not both (found values and ${rangeKeys.join(', ')})`);
  } else if (hasList) {
    values = readValues(o['values'], at(path, 'values'), issues);
  } else if (rangeKeys.length === 3) {
    if (kind !== undefined) values = readRange(o, path, kind, issues);
  } else if (rangeKeys.length > 0) {
    issues.add(path, `a range needs from, to and step (missing: ${(['from', 'to', 'step'] as const).filter((k) => o[k] === undefined).join(', ')})`);
  } else {
    issues.add(path, 'required: values (a list) or from, to and step');
  }
  if (issues.count > before || param === undefined || kind === undefined || values === undefined || label === undefined) return undefined;
  const target = Object.hasOwn(SWEEP_ALIASES, param) ? SWEEP_ALIASES[param]! : param;
  return { param, path: target.split('.'), kind, values, label };
}

function readValues(v: unknown, path: string, issues: Issues): SweepValue[] | undefined {
  if (!Array.isArray(v)) {
    issues.add(path, `expected a list of values; got ${describe(v)}`);
    return undefined;
  }
  if (v.length === 0) {
    issues.add(path, 'expected at least one value');
    return undefined;
  }
  if (v.length > SWEEP_MAX_POINTS) {
    issues.add(path, `${v.length} values: at most ${SWEEP_MAX_POINTS} points`);
    return undefined;
  }
  const out: SweepValue[] = [];
  const seen = new Set<string>();
  v.forEach((x, i) => {
    const ok = typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
    if (!ok) {
      issues.add(item(path, i), `expected a single value (a number, text or boolean); got ${describe(x)}`);
      return;
    }
    const key = JSON.stringify(x);
    if (seen.has(key)) issues.add(item(path, i), `${key} is already in the list (each point once)`);
    seen.add(key);
    out.push(x as SweepValue);
  });
  return out;
}

const WITH_UNIT = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$/;

/** Decimals written in a number's text (0.25 -> 2). */
function decimalsOf(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** from/to/step -> the values (numbers; for rates and sizes, text in the unit written). */
function readRange(o: Record<string, unknown>, path: string, kind: SweepKind, issues: Issues): SweepValue[] | undefined {
  const parts: { num: number; text: string; unit: string }[] = [];
  for (const key of ['from', 'to', 'step'] as const) {
    const v = o[key];
    const p = at(path, key);
    let text: string;
    if (typeof v === 'number' && Number.isFinite(v)) text = String(v);
    else if (typeof v === 'string') text = v;
    else {
      issues.add(p, `expected a number${kind === 'rate' ? ' or a rate such as "10mbit"' : kind === 'size' ? ' or a size such as "1MiB"' : ''}; got ${describe(v)}`);
      return undefined;
    }
    const m = WITH_UNIT.exec(text);
    if (!m) {
      issues.add(p, `expected a non-negative number (with its unit for a rate or a size); got ${describe(v)}`);
      return undefined;
    }
    const unit = m[2]!;
    if (unit !== '') {
      try {
        if (kind === 'rate') parseRateBps(text.trim());
        else if (kind === 'size') parseSizeBytes(text.trim());
        else if (!(kind === 'loss' && unit === '%')) throw new UnitError(`a unit (${JSON.stringify(unit)}) is not expected for ${kind === 'option' ? 'an option' : 'this parameter'}`);
      } catch (e) {
        if (!(e instanceof UnitError)) throw e;
        issues.add(p, e.message);
        return undefined;
      }
    } else if (kind === 'rate' || kind === 'size') {
      issues.add(p, `expected a ${kind} with its unit (such as ${kind === 'rate' ? '"10mbit"' : '"1MiB"'}); got ${describe(v)}`);
      return undefined;
    }
    parts.push({ num: Number(m[1]), text: m[1]!, unit });
  }
  const [from, to, step] = parts as [(typeof parts)[0], (typeof parts)[0], (typeof parts)[0]];
  if (from.unit !== to.unit || from.unit !== step.unit) {
    issues.add(path, `from, to and step must be written in the same unit (got ${JSON.stringify(from.unit)}, ${JSON.stringify(to.unit)}, ${JSON.stringify(step.unit)})`);
    return undefined;
  }
  if (!(step.num > 0)) {
    issues.add(at(path, 'step'), 'expected a step > 0');
    return undefined;
  }
  if (to.num < from.num) {
    issues.add(at(path, 'to'), `to (${to.text}) is below from (${from.text})`);
    return undefined;
  }
  const span = (to.num - from.num) / step.num;
  const n = Math.floor(span + 1e-6) + 1;
  if (n > SWEEP_MAX_POINTS) {
    issues.add(path, `${n} points: at most ${SWEEP_MAX_POINTS}`);
    return undefined;
  }
  const decimals = Math.min(12, Math.max(decimalsOf(from.text), decimalsOf(step.text)));
  const out: SweepValue[] = [];
  for (let i = 0; i < n; i++) {
    const x = Number((from.num + i * step.num).toFixed(decimals));
    out.push(from.unit === '' ? x : `${x}${from.unit}`);
  }
  return out;
}

/**
 * Where a value sits on the chart's x axis: counts and options as numbers, rates in Mbit/s, sizes
 * in MiB, loss in percent; null for a value that is not a number (the axis is then categories).
 */
export function axisValue(kind: SweepKind, v: SweepValue): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return null;
  try {
    if (kind === 'rate') return parseRateBps(v) / 1e6;
    if (kind === 'size') return parseSizeBytes(v) / 2 ** 20;
  } catch {
    return null;
  }
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/.exec(v);
  return m ? Number(m[1]) : null;
}

/** The x axis's unit, for its title. */
export function axisUnit(kind: SweepKind): string {
  return kind === 'rate' ? 'Mbit/s' : kind === 'size' ? 'MiB' : kind === 'loss' ? '%' : '';
}

/** The raw `sweep:` of a plain scenario object, or undefined. */
export function rawSweepOf(data: unknown): unknown {
  return isPlainObject(data) ? data[SWEEP_KEY] : undefined;
}
