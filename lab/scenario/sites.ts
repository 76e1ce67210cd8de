/**
 * `sites:` in a scenario: groups of receivers behind one shared link each (a trunk), the seed's
 * "D1 and D2 share a path" case.
 *
 * ```yaml
 * sites:
 *   - name: office          # [a-z0-9-]+, at most 32 characters, unique among the sites
 *     select: { first: 3 }  # which receivers, as in receivers.groups (must select at least one)
 *     up: 10mbit            # the trunk's rate out of the site (required)
 *     down: 20mbit          # the trunk's rate into the site (required)
 * ```
 *
 * A receiver is in at most one site. Groups and events may select a site's receivers with
 * `{ site: NAME }` (an unknown name is an error there); a site's own `select` may not. A rate may be a distribution (drawn once per site, keyed by
 * its path like every other draw). Problems are reported with their paths
 * (`sites[1].select: receiver 2 is already in site office (sites[0])`).
 */
import type { Rng } from '../rng.js';
import type { SiteSpec } from '../types.js';
import type { Issues } from './errors.js';
import { RateDraw, readRate, type RateSource } from './rates.js';
import { at, item, readList, readObject, readString, required } from './read.js';
import { readSelector, resolveSelector, type Selector } from './select.js';

export const SITE_KEYS = ['name', 'select', 'up', 'down'] as const;
export const SITE_NAME_PATTERN = /^[a-z0-9-]+$/;
export const SITE_NAME_MAX_CHARS = 32;
/** More sites than this is a mistake (each is a bridge and a trunk on netns). */
export const SITES_MAX = 256;

/** One checked site, nothing drawn yet. */
export interface SitePlan {
  name: string;
  select: Selector;
  /** Resolved against the receiver count, ascending. */
  receivers: number[];
  up: RateSource;
  down: RateSource;
}

/**
 * Checks `sites:` against `count` receivers (undefined when the count itself is wrong: then only
 * what does not depend on it is checked). Returns the sites when all of them are valid.
 */
export function readSites(v: unknown, count: number | undefined, issues: Issues): SitePlan[] | undefined {
  const list = readList(v, 'sites', issues, 'sites ({ name, select, up, down })');
  if (!list) return undefined;
  const before = issues.count;
  if (list.length > SITES_MAX) issues.add('sites', `${list.length} sites: at most ${SITES_MAX}`);
  const out: SitePlan[] = [];
  const names = new Map<string, number>();
  /** receiver index -> the site (index into `list`) that holds it */
  const owner = new Map<number, number>();
  list.forEach((s, k) => {
    const p = item('sites', k);
    const obj = readObject(s, p, issues, SITE_KEYS);
    if (!obj) return;
    const nameV = required(obj, 'name', p, issues, 'lowercase letters, digits and dashes, such as "office"');
    let name = nameV === undefined ? undefined : readString(nameV, at(p, 'name'), issues, 'a site name');
    if (name !== undefined) {
      if (!SITE_NAME_PATTERN.test(name) || name.length > SITE_NAME_MAX_CHARS) {
        issues.add(at(p, 'name'), `${JSON.stringify(name)} is not a valid site name: use lowercase letters, digits and dashes (at most ${SITE_NAME_MAX_CHARS})`);
        name = undefined;
      } else if (names.has(name)) {
        issues.add(at(p, 'name'), `site ${name} is already defined (${item('sites', names.get(name)!)})`);
        name = undefined;
      } else names.set(name, k);
    }
    const selV = required(obj, 'select', p, issues, '{ first: N }, { last: N }, { index: I }, { indexes: [..] } or { every: N }');
    const select = selV === undefined ? undefined : readSelector(selV, at(p, 'select'), issues, count);
    const upV = required(obj, 'up', p, issues, 'the trunk\'s rate out of the site, such as "10mbit"');
    const up = upV === undefined ? undefined : readRate(upV, at(p, 'up'), issues);
    const downV = required(obj, 'down', p, issues, 'the trunk\'s rate into the site, such as "20mbit"');
    const down = downV === undefined ? undefined : readRate(downV, at(p, 'down'), issues);
    let receivers: number[] | undefined;
    if (select !== undefined && count !== undefined) {
      receivers = resolveSelector(select, count);
      if (receivers.length === 0) {
        issues.add(at(p, 'select'), `selects no receiver (there are ${count})`);
        receivers = undefined;
      }
      for (const r of receivers ?? []) {
        const other = owner.get(r);
        if (other !== undefined) {
          const otherName = list[other] !== null && typeof list[other] === 'object' ? (list[other] as { name?: unknown }).name : undefined;
          issues.add(at(p, 'select'), `receiver ${r} is already in site ${typeof otherName === 'string' ? `${otherName} ` : ''}(${item('sites', other)}): a receiver is in at most one site`);
          receivers = undefined;
          break;
        }
      }
      for (const r of receivers ?? []) owner.set(r, k);
    }
    if (name !== undefined && select !== undefined && receivers !== undefined && up !== undefined && down !== undefined) {
      out.push({ name, select, receivers, up, down });
    }
  });
  return issues.count > before || count === undefined ? undefined : out;
}

/**
 * The names `sites:` declares, read from the raw YAML before anything is checked, so groups and
 * events can refer to them (`{ site: NAME }`); whether each is valid is readSites' business.
 */
export function siteNamesOf(v: unknown): Set<string> {
  const out = new Set<string>();
  if (!Array.isArray(v)) return out;
  for (const s of v) {
    const name = s !== null && typeof s === 'object' ? (s as { name?: unknown }).name : undefined;
    if (typeof name === 'string') out.add(name);
  }
  return out;
}

/** Site name -> its receivers, for resolveSelector. */
export function siteMembers(sites: readonly { name: string; receivers: readonly number[] }[]): Map<string, readonly number[]> {
  return new Map(sites.map((s) => [s.name, s.receivers]));
}

/** The sites of a Topology, their trunk rates drawn from `rates` (fixed rates are taken as written). */
export function buildSites(sites: readonly SitePlan[], rates: Rng): SiteSpec[] {
  return sites.map((s) => ({
    name: s.name,
    receivers: [...s.receivers],
    upBps: new RateDraw(s.up, rates).forReceiver(0),
    downBps: new RateDraw(s.down, rates).forReceiver(0),
  }));
}

/** receiver index -> index of its site in `sites`, for every receiver in one. */
export function siteOfReceiver(sites: readonly Pick<SiteSpec, 'receivers'>[] | undefined): Map<number, number> {
  const out = new Map<number, number>();
  (sites ?? []).forEach((s, k) => {
    for (const r of s.receivers) out.set(r, k);
  });
  return out;
}
