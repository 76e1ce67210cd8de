/**
 * Which receivers a group or an event applies to: `{ first: N }`, `{ last: N }`, `{ index: I }`,
 * `{ indexes: [I, ...] }` or `{ every: N }` (indexes 0, N, 2N, ...). Indexes are 0-based.
 * In groups and events, `{ site: NAME }` picks the receivers of a site (lab/scenario/sites.ts).
 */
import type { Issues } from './errors.js';
import { at, describe, isPlainObject, item, readInt, readList } from './read.js';
import { SELECT_KEYS } from './schema.js';

export type Selector =
  | { kind: 'first'; n: number }
  | { kind: 'last'; n: number }
  | { kind: 'every'; n: number }
  | { kind: 'index'; index: number }
  | { kind: 'indexes'; indexes: number[] }
  | { kind: 'site'; name: string };

const HINT = 'exactly one of { first: N }, { last: N }, { index: I }, { indexes: [I, ...] }, { every: N }';

/**
 * Checks a selector at `path`. `count` is the receiver count when known (valid); with it, indexes
 * and sizes are checked against it too.
 */
export function readSelector(
  v: unknown,
  path: string,
  issues: Issues,
  count: number | undefined,
  /** The scenario's site names, where `{ site: NAME }` may stand (groups, events); absent: it may not (a site's own select). */
  siteNames?: ReadonlySet<string>,
): Selector | undefined {
  if (!isPlainObject(v)) {
    issues.add(path, `expected ${HINT}; got ${describe(v)}`);
    return undefined;
  }
  const keys = Object.keys(v);
  const unknown = keys.filter((k) => !(SELECT_KEYS as readonly string[]).includes(k));
  for (const k of unknown) issues.add(at(path, k), `unknown key (allowed: ${SELECT_KEYS.join(', ')})`);
  if (unknown.length > 0) return undefined;
  const [key] = keys;
  if (key === undefined || keys.length !== 1) {
    issues.add(path, `expected ${HINT}; got ${keys.length === 0 ? 'an empty mapping' : `keys ${keys.join(', ')}`}`);
    return undefined;
  }
  const p = at(path, key);
  const value = v[key];
  const limit = count ?? Number.MAX_SAFE_INTEGER;
  if (key === 'site') {
    if (siteNames === undefined) {
      issues.add(p, "a site's receivers are chosen by index (first, last, index, indexes, every), not by another site");
      return undefined;
    }
    if (typeof value !== 'string' || !siteNames.has(value)) {
      const known = siteNames.size === 0 ? 'this scenario has no sites' : `sites: ${[...siteNames].join(', ')}`;
      issues.add(p, `unknown site ${typeof value === 'string' ? JSON.stringify(value) : describe(value)} (${known})`);
      return undefined;
    }
    return { kind: 'site', name: value };
  }
  switch (key) {
    case 'first':
    case 'last': {
      const n = readInt(value, p, issues, 1);
      if (n === undefined) return undefined;
      if (n > limit) {
        issues.add(p, `${n} is more than the ${count} receivers`);
        return undefined;
      }
      return { kind: key, n };
    }
    case 'every': {
      const n = readInt(value, p, issues, 1);
      return n === undefined ? undefined : { kind: 'every', n };
    }
    case 'index': {
      const index = readIndex(value, p, issues, count);
      return index === undefined ? undefined : { kind: 'index', index };
    }
    default: {
      const list = readList(value, p, issues, 'receiver indexes');
      if (!list) return undefined;
      if (list.length === 0) {
        issues.add(p, 'expected at least one receiver index');
        return undefined;
      }
      const seen = new Set<number>();
      let ok = true;
      list.forEach((x, i) => {
        const index = readIndex(x, item(p, i), issues, count);
        if (index === undefined) ok = false;
        else if (seen.has(index)) {
          issues.add(item(p, i), `index ${index} is listed twice`);
          ok = false;
        } else seen.add(index);
      });
      return ok ? { kind: 'indexes', indexes: [...seen] } : undefined;
    }
  }
}

function readIndex(v: unknown, path: string, issues: Issues, count: number | undefined): number | undefined {
  const index = readInt(v, path, issues, 0);
  if (index === undefined) return undefined;
  if (count !== undefined && index >= count) {
    issues.add(path, `index ${index} is out of range: there are ${count} receivers (indexes 0..${count - 1})`);
    return undefined;
  }
  return index;
}

/**
 * The receiver indexes a (checked) selector picks among `count`, ascending, without repeats.
 * `sites` gives each site's receivers (for `{ site: NAME }`).
 */
export function resolveSelector(sel: Selector, count: number, sites?: ReadonlyMap<string, readonly number[]>): number[] {
  switch (sel.kind) {
    case 'site':
      return [...(sites?.get(sel.name) ?? [])].filter((i) => i < count).sort((a, b) => a - b);
    case 'first':
      return range(0, Math.min(sel.n, count));
    case 'last':
      return range(Math.max(0, count - sel.n), count);
    case 'index':
      return sel.index < count ? [sel.index] : [];
    case 'indexes':
      return [...new Set(sel.indexes)].filter((i) => i < count).sort((a, b) => a - b);
    case 'every': {
      const out: number[] = [];
      for (let i = 0; i < count; i += sel.n) out.push(i);
      return out;
    }
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}
