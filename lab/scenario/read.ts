/**
 * Path-aware readers for plain YAML data: each checks one value, records an issue at its path
 * when the value is wrong, and returns the value (typed) or undefined. They never throw.
 */
import { UnitError } from '../../core/units.js';
import type { Issues } from './errors.js';

export type Plain = Record<string, unknown>;

/** `a.b` for a key under `a`; the key alone at the top. */
export function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** `a[3]` for item 3 of the list at `a`. */
export function item(path: string, index: number): string {
  return `${path}[${index}]`;
}

export function isPlainObject(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** How a wrong value is shown in a message: `a list`, `the number 5`, `"fast"`, `nothing`. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return String(v);
}

/**
 * A mapping whose keys are all in `allowed`; each unknown key is an issue at its own path.
 * Returns the mapping (unknown keys included; callers read only allowed ones).
 */
export function readObject(
  v: unknown,
  path: string,
  issues: Issues,
  allowed: readonly string[],
): Plain | undefined {
  if (!isPlainObject(v)) {
    issues.add(path, `expected a mapping with keys ${allowed.join(', ')}; got ${describe(v)}`);
    return undefined;
  }
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) issues.add(at(path, key), `unknown key (allowed: ${allowed.join(', ')})`);
  }
  return v;
}

/** A list; returns undefined (with an issue) otherwise. */
export function readList(v: unknown, path: string, issues: Issues, what: string): unknown[] | undefined {
  if (!Array.isArray(v)) {
    issues.add(path, `expected a list of ${what}; got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** A required value: records `required (...)` when absent. */
export function required(obj: Plain, key: string, path: string, issues: Issues, hint: string): unknown {
  const v = obj[key];
  if (v === undefined || v === null) {
    issues.add(at(path, key), `required (${hint})`);
    return undefined;
  }
  return v;
}

export function readString(v: unknown, path: string, issues: Issues, what: string): string | undefined {
  if (typeof v !== 'string') {
    issues.add(path, `expected ${what}; got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** A whole number in [min, max]. */
export function readInt(
  v: unknown,
  path: string,
  issues: Issues,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    issues.add(path, `expected a whole number ${rangeText(min, max)}; got ${describe(v)}`);
    return undefined;
  }
  if (v < min || v > max) {
    issues.add(path, `${v} is out of range: expected ${rangeText(min, max)}`);
    return undefined;
  }
  return v;
}

function rangeText(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER) return `>= ${min}`;
  return `from ${min} to ${max}`;
}

/** A finite number with `> gt` or `>= min` (and `<= max`). */
export function readNumber(
  v: unknown,
  path: string,
  issues: Issues,
  bounds: { gt?: number; min?: number; max?: number },
): number | undefined {
  const want = [
    bounds.gt !== undefined ? `> ${bounds.gt}` : undefined,
    bounds.min !== undefined ? `>= ${bounds.min}` : undefined,
    bounds.max !== undefined ? `<= ${bounds.max}` : undefined,
  ]
    .filter((s) => s !== undefined)
    .join(' and ');
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    issues.add(path, `expected a number${want ? ` ${want}` : ''}; got ${describe(v)}`);
    return undefined;
  }
  const ok =
    (bounds.gt === undefined || v > bounds.gt) &&
    (bounds.min === undefined || v >= bounds.min) &&
    (bounds.max === undefined || v <= bounds.max);
  if (!ok) {
    issues.add(path, `${v} is out of range: expected a number ${want}`);
    return undefined;
  }
  return v;
}

/** A string through one of core/units' parsers; a UnitError becomes an issue with its message. */
export function readUnit<T>(
  v: unknown,
  path: string,
  issues: Issues,
  parse: (text: string) => T,
): T | undefined {
  try {
    return parse(v as string);
  } catch (e) {
    if (e instanceof UnitError) {
      issues.add(path, e.message);
      return undefined;
    }
    throw e;
  }
}
