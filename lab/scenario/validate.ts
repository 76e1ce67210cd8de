/**
 * Checks a scenario's plain data (the parsed YAML) against the format in schema.ts and turns it into
 * a `ScenarioPlan`: every value checked and converted to numbers, nothing drawn yet. Records every
 * problem it finds in `issues` (it keeps going after the first) and returns a plan only when there
 * were none.
 */
import path from 'node:path';
import { parseDurationMs, parseSizeBytes } from '../../core/units.js';
import { planFragments, FragmentPlanError } from '../../core/fragments.js';
import { PROTOCOLS, defaultContenders, protocolByName, resolveContender } from '../protocols/index.js';
import type { BackendChoice, ContenderName, FileSpec, JobKind, SimModelParams } from '../types.js';
import type { Issues } from './errors.js';
import { readRate, type RateSource } from './rates.js';
import {
  at,
  describe,
  isPlainObject,
  item,
  readInt,
  readList,
  readNumber,
  readObject,
  readString,
  readUnit,
  required,
  type Plain,
} from './read.js';
import * as S from './schema.js';
import { readSelector, type Selector } from './select.js';
import { readSites, siteNamesOf, type SitePlan } from './sites.js';

/** What a receiver entry or group sets on a link. */
export interface LinkSettings {
  down?: RateSource;
  up?: RateSource;
  delayMs?: number;
  jitterMs?: number;
  lossDownPct?: number;
  lossUpPct?: number;
}

export interface ScenarioPlan {
  name: string;
  description: string;
  backend: BackendChoice;
  seed: number;
  file: FileSpec;
  job: JobKind;
  /** 0 in a whole-file job. */
  rateKbps: number;
  /** Already clamped to the receiver count. */
  width: number;
  /** Each named protocol's parsed options (defaults for every protocol a contender uses). */
  options: Record<string, unknown>;
  authKey?: boolean;
  strategies: ContenderName[];
  repeat: number;
  count: number;
  base: LinkSettings & { down: RateSource };
  groups: { select: Selector; link: LinkSettings }[];
  senderUp: RateSource;
  senderDown?: RateSource;
  events: { atMs: number; select: Selector; down?: RateSource; up?: RateSource }[];
  /** Receivers behind shared trunks (sites.ts); empty when the scenario has none. */
  sites: SitePlan[];
  check?: { efficiency: Partial<Record<ContenderName, number>> };
  sim?: Partial<SimModelParams>;
}

export interface ValidateOptions {
  /** Folder a relative `file.path` is resolved against; left as written when absent. */
  baseDir?: string;
  /** Size of the file at an (resolved) path, to check it; throws when it cannot be read. */
  fileSizeOf?: (filePath: string) => number;
}

export function validateScenario(
  data: unknown,
  caps: S.ScenarioCaps,
  issues: Issues,
  options: ValidateOptions = {},
): ScenarioPlan | undefined {
  const top = readObject(data, '', issues, S.TOP_KEYS);
  if (!top) return undefined;

  const name = readName(top, issues);
  const description = top['description'] === undefined ? '' : readString(top['description'], 'description', issues, 'text');
  const backend = top['backend'] === undefined ? S.DEFAULT_BACKEND : readBackend(top['backend'], issues);
  const seed = top['seed'] === undefined ? S.DEFAULT_SEED : readInt(top['seed'], 'seed', issues, 0);
  const repeat = top['repeat'] === undefined ? S.DEFAULT_REPEAT : readInt(top['repeat'], 'repeat', issues, 1, S.REPEAT_MAX);
  const transferV = required(top, 'transfer', '', issues, 'rateKbps at least (a fragments job), or job: whole-file');
  const job = readJob(transferV);
  const strategies = top['strategies'] === undefined ? defaultContenders(job) : readStrategies(top['strategies'], job, caps, issues);

  const siteNames = siteNamesOf(top['sites']);
  const { count, receivers } = readReceivers(required(top, 'receivers', '', issues, 'count and down at least'), caps, issues, siteNames);
  const file = readFile(required(top, 'file', '', issues, '{ size: 64MiB } or { path: some/file }'), job === 'fragments' ? count : 1, issues, options);
  const transfer = readTransfer(transferV, job, strategies ?? [], issues);
  const source = readSource(top, issues);
  const senderUp = source?.up;
  const events = readEvents(top['events'], count, issues, siteNames);
  const sites = top['sites'] === undefined ? [] : readSites(top['sites'], count, issues);
  const check = top['check'] === undefined ? undefined : readCheck(top['check'], strategies, issues);
  const sim = top['sim'] === undefined ? undefined : readSim(top['sim'], issues);

  if (
    issues.count > 0 ||
    name === undefined ||
    description === undefined ||
    backend === undefined ||
    seed === undefined ||
    repeat === undefined ||
    strategies === undefined ||
    receivers === undefined ||
    file === undefined ||
    transfer === undefined ||
    source === undefined ||
    senderUp === undefined ||
    events === undefined ||
    sites === undefined
  ) {
    return undefined;
  }
  const plan: ScenarioPlan = {
    name,
    description,
    backend,
    seed,
    file,
    job,
    rateKbps: transfer.rateKbps,
    width: Math.min(transfer.width ?? receivers.count, receivers.count),
    options: transfer.options,
    strategies,
    repeat,
    count: receivers.count,
    base: receivers.base,
    groups: receivers.groups,
    senderUp,
    events,
    sites,
  };
  if (source.down) plan.senderDown = source.down;
  if (transfer.authKey) plan.authKey = true;
  if (check) plan.check = check;
  if (sim) plan.sim = sim;
  return plan;
}

function readName(top: Plain, issues: Issues): string | undefined {
  const v = required(top, 'name', '', issues, 'lowercase letters, digits and dashes, such as "one-slow"');
  if (v === undefined) return undefined;
  const name = readString(v, 'name', issues, 'a name of lowercase letters, digits and dashes');
  if (name === undefined) return undefined;
  if (!S.NAME_PATTERN.test(name) || name.length > S.NAME_MAX_CHARS) {
    issues.add('name', `${JSON.stringify(name)} is not a valid name: use lowercase letters, digits and dashes (at most ${S.NAME_MAX_CHARS})`);
    return undefined;
  }
  return name;
}

function readBackend(v: unknown, issues: Issues): BackendChoice | undefined {
  if (typeof v === 'string' && (S.BACKENDS as readonly string[]).includes(v)) return v as BackendChoice;
  issues.add('backend', `expected one of ${S.BACKENDS.join(', ')}; got ${describe(v)}`);
  return undefined;
}

/** The job a transfer block asks for (checked in readTransfer; the default when it is wrong). */
function readJob(v: unknown): JobKind {
  const job = typeof v === 'object' && v !== null ? (v as Plain)['job'] : undefined;
  return job === 'whole-file' ? 'whole-file' : 'fragments';
}

/** The valid contender names listed (the plan is made only when there were no issues at all). */
function readStrategies(v: unknown, job: JobKind, caps: S.ScenarioCaps, issues: Issues): ContenderName[] | undefined {
  const known = defaultContenders(job).join(', ');
  const list = readList(v, 'strategies', issues, `contender names (${known})`);
  if (!list) return undefined;
  if (list.length === 0) {
    issues.add('strategies', `expected at least one of ${known}`);
    return undefined;
  }
  const out: ContenderName[] = [];
  list.forEach((s, i) => {
    const p = item('strategies', i);
    if (typeof s !== 'string') return issues.add(p, `expected a contender name (${known}); got ${describe(s)}`);
    const c = resolveContender(s, job);
    if ('error' in c) return issues.add(p, c.error);
    if (out.includes(s)) return issues.add(p, `${s} is listed twice`);
    for (const tool of c.protocol.tools) {
      if (caps.hasTool && !caps.hasTool(tool.bin)) issues.add(p, `${s} needs ${tool.bin}, which is not on this machine (Debian package ${tool.pkg}: apt-get install ${tool.pkg})`);
    }
    out.push(s);
  });
  return out;
}

function readFile(v: unknown, count: number | undefined, issues: Issues, options: ValidateOptions): FileSpec | undefined {
  if (v === undefined) return undefined;
  const f = readObject(v, 'file', issues, S.FILE_KEYS);
  if (!f) return undefined;
  const hasSize = f['size'] !== undefined;
  const hasPath = f['path'] !== undefined;
  if (hasSize === hasPath) {
    issues.add('file', 'expected exactly one of size (generated from the seed) or path');
    return undefined;
  }
  if (hasSize) {
    const sizeBytes = readUnit(f['size'], 'file.size', issues, parseSizeBytes);
    if (sizeBytes === undefined) return undefined;
    if (!fragmentsFit(sizeBytes, count, 'file.size', issues)) return undefined;
    return { kind: 'size', sizeBytes };
  }
  const written = readString(f['path'], 'file.path', issues, 'a file path');
  if (written === undefined) return undefined;
  if (written.trim() === '') {
    issues.add('file.path', 'expected a file path; got an empty string');
    return undefined;
  }
  const resolved = options.baseDir === undefined ? written : path.resolve(options.baseDir, written);
  if (options.fileSizeOf) {
    let sizeBytes: number;
    try {
      sizeBytes = options.fileSizeOf(resolved);
    } catch (e) {
      issues.add('file.path', `cannot read ${resolved}: ${(e as Error).message}`);
      return undefined;
    }
    if (!fragmentsFit(sizeBytes, count, 'file.path', issues)) return undefined;
  }
  return { kind: 'path', path: resolved };
}

/** Every receiver gets at least one byte (the rule of core/fragments.ts). */
function fragmentsFit(sizeBytes: number, count: number | undefined, p: string, issues: Issues): boolean {
  if (count === undefined) return true;
  try {
    planFragments(sizeBytes, count);
    return true;
  } catch (e) {
    if (!(e instanceof FragmentPlanError)) throw e;
    issues.add(p, e.message);
    return false;
  }
}

function readTransfer(
  v: unknown,
  job: JobKind,
  strategies: readonly ContenderName[],
  issues: Issues,
): { rateKbps: number; width?: number; options: Record<string, unknown>; authKey?: boolean } | undefined {
  if (v === undefined) return undefined;
  const optionKeys = PROTOCOLS.filter((p) => p.name !== 'fragments').map((p) => p.name);
  const t = readObject(v, 'transfer', issues, ['job', 'protocol', 'rateKbps', 'width', 'authKey', ...optionKeys]);
  if (!t) return undefined;
  const before = issues.count;
  if (t['job'] !== undefined && !(S.JOBS as readonly unknown[]).includes(t['job'])) {
    issues.add('transfer.job', `expected one of ${S.JOBS.join(', ')}; got ${describe(t['job'])}`);
  }
  if (t['protocol'] !== undefined && !(job === 'fragments' && t['protocol'] === 'fragments')) {
    issues.add('transfer.protocol', job === 'fragments'
      ? `expected fragments (the fragments job's only protocol); got ${describe(t['protocol'])}`
      : 'a whole-file job names its protocols in strategies (protocol/variant), not here');
  }
  let rateKbps: number | undefined = 0;
  let width: number | undefined;
  if (job === 'fragments') {
    const rateV = required(t, 'rateKbps', 'transfer', issues, "the sender's aggregate limit in Kbps, > 0");
    rateKbps = rateV === undefined ? undefined : readNumber(rateV, 'transfer.rateKbps', issues, { gt: 0 });
    width = t['width'] === undefined ? undefined : readInt(t['width'], 'transfer.width', issues, 1);
    if (t['authKey'] !== undefined && typeof t['authKey'] !== 'boolean') issues.add('transfer.authKey', `expected true or false; got ${describe(t['authKey'])}`);
  } else {
    for (const key of ['rateKbps', 'width', 'authKey']) {
      if (t[key] !== undefined) issues.add(at('transfer', key), "belongs to the fragments job's sender; a whole-file protocol takes its options under transfer.<protocol>");
    }
  }
  // Each protocol's own options: parsed when written (and then it must be used), defaults otherwise.
  const used = new Set(strategies.map((s) => { const c = resolveContender(s, job); return 'error' in c ? '' : c.protocol.name; }));
  const options: Record<string, unknown> = {};
  for (const name of optionKeys) {
    const p = protocolByName(name)!;
    if (t[name] !== undefined && !used.has(name)) issues.add(at('transfer', name), `options for ${name}, which no contender in strategies runs`);
    if (used.has(name) || t[name] !== undefined) {
      const o = p.parseOptions(t[name], at('transfer', name), issues);
      if (o !== undefined) options[name] = o;
    }
  }
  if (issues.count > before || rateKbps === undefined) return undefined;
  return { rateKbps, options, ...(width === undefined ? {} : { width }), ...(t['authKey'] === true ? { authKey: true } : {}) };
}

interface ReceiversPart {
  count: number;
  base: LinkSettings & { down: RateSource };
  groups: { select: Selector; link: LinkSettings }[];
}

/** The count (when valid, for the checks that depend on it) and the whole part (when all is valid). */
function readReceivers(
  v: unknown,
  caps: S.ScenarioCaps,
  issues: Issues,
  siteNames: ReadonlySet<string>,
): { count: number | undefined; receivers: ReceiversPart | undefined } {
  if (v === undefined) return { count: undefined, receivers: undefined };
  const r = readObject(v, 'receivers', issues, S.RECEIVERS_KEYS);
  if (!r) return { count: undefined, receivers: undefined };
  const before = issues.count;
  const countV = required(r, 'count', 'receivers', issues, `a whole number from 1 to ${S.COUNT_MAX}`);
  const count = countV === undefined ? undefined : readInt(countV, 'receivers.count', issues, 1, S.COUNT_MAX);
  required(r, 'down', 'receivers', issues, 'a rate such as "20mbit"');
  const base = readLink(r, 'receivers', caps, issues);
  const groups: ReceiversPart['groups'] = [];
  if (r['groups'] !== undefined) {
    const list = readList(r['groups'], 'receivers.groups', issues, 'groups ({ select, down, up, ... })');
    list?.forEach((g, i) => {
      const p = item('receivers.groups', i);
      const obj = readObject(g, p, issues, S.GROUP_KEYS);
      if (!obj) return;
      const selV = required(obj, 'select', p, issues, '{ first: N }, { last: N }, { index: I }, { indexes: [..] } or { every: N }');
      const select = selV === undefined ? undefined : readSelector(selV, at(p, 'select'), issues, count, siteNames);
      const link = readLink(obj, p, caps, issues);
      if (link && Object.keys(link).length === 0 && Object.keys(obj).every((k) => k === 'select')) {
        issues.add(p, `sets nothing: expected at least one of ${S.GROUP_KEYS.filter((k) => k !== 'select').join(', ')}`);
      }
      if (select && link) groups.push({ select, link });
    });
  }
  if (issues.count > before || count === undefined || base?.down === undefined) return { count, receivers: undefined };
  return { count, receivers: { count, base: { ...base, down: base.down }, groups } };
}

/** down, up and the netem keys of a receivers entry or a group. */
function readLink(obj: Plain, p: string, caps: S.ScenarioCaps, issues: Issues): LinkSettings | undefined {
  const before = issues.count;
  const link: LinkSettings = {};
  if (obj['down'] !== undefined) {
    const down = readRate(obj['down'], at(p, 'down'), issues);
    if (down) link.down = down;
  }
  if (obj['up'] !== undefined) {
    const up = readRate(obj['up'], at(p, 'up'), issues);
    if (up) link.up = up;
  }
  for (const key of S.NETEM_KEYS) {
    const v = obj[key];
    if (v === undefined) continue;
    const kp = at(p, key);
    if (key === 'loss') {
      if (!caps.netem && !caps.nftables) {
        issues.add(kp, `needs the kernel module ${S.NETEM_MODULE} or nftables (Debian package nftables), and this machine has neither`);
        continue;
      }
      if (isPlainObject(v)) {
        const lo = readObject(v, kp, issues, S.LOSS_KEYS);
        if (!lo) continue;
        if (lo['down'] === undefined && lo['up'] === undefined) issues.add(kp, 'expected down, up or both');
        if (lo['down'] !== undefined) {
          const d = readLossPct(lo['down'], at(kp, 'down'), issues);
          if (d !== undefined) link.lossDownPct = d;
        }
        if (lo['up'] !== undefined) {
          const u = readLossPct(lo['up'], at(kp, 'up'), issues);
          if (u !== undefined) link.lossUpPct = u;
        }
      } else {
        const pct = readLossPct(v, kp, issues);
        if (pct !== undefined) {
          link.lossDownPct = pct;
          link.lossUpPct = pct;
        }
      }
      continue;
    }
    if (!caps.netem) {
      issues.add(kp, `needs the kernel module ${S.NETEM_MODULE}, which this kernel does not have (no delay or jitter can be emulated here)`);
      continue;
    }
    {
      const ms = readUnit(v, kp, issues, parseDurationMs);
      if (ms !== undefined) link[key === 'delay' ? 'delayMs' : 'jitterMs'] = ms;
    }
  }
  return issues.count > before ? undefined : link;
}

/** "0.5%" or 0.5 (percent), 0..100. */
function readLossPct(v: unknown, p: string, issues: Issues): number | undefined {
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$/.exec(v);
    if (!m) {
      issues.add(p, `expected a loss percentage such as "0.5%"; got ${describe(v)}`);
      return undefined;
    }
    return readNumber(Number(m[1]), p, issues, { min: 0, max: 100 });
  }
  return readNumber(v, p, issues, { min: 0, max: 100 });
}

/** `source: { up, down }`, or the older `sender: { up }` (not both). */
function readSource(top: Plain, issues: Issues): { up: RateSource; down?: RateSource } | undefined {
  const fallback: RateSource = { kind: 'fixed', path: 'source.up', bps: S.DEFAULT_SENDER_UP_BPS };
  if (top['source'] !== undefined && top['sender'] !== undefined) {
    issues.add('sender', 'give the source\'s link once: source (or the older sender), not both');
    return undefined;
  }
  const key = top['source'] !== undefined ? 'source' : 'sender';
  const v = top[key];
  if (v === undefined) return { up: fallback };
  const s = readObject(v, key, issues, key === 'source' ? S.SOURCE_KEYS : S.SENDER_KEYS);
  if (!s) return undefined;
  const up = s['up'] === undefined ? fallback : readRate(s['up'], at(key, 'up'), issues);
  const down = s['down'] === undefined ? undefined : readRate(s['down'], at(key, 'down'), issues);
  if (up === undefined || (s['down'] !== undefined && down === undefined)) return undefined;
  return down ? { up, down } : { up };
}

function readEvents(v: unknown, count: number | undefined, issues: Issues, siteNames: ReadonlySet<string>): ScenarioPlan['events'] | undefined {
  if (v === undefined) return [];
  const list = readList(v, 'events', issues, 'events ({ at, select, down, up })');
  if (!list) return undefined;
  const out: ScenarioPlan['events'] = [];
  const before = issues.count;
  list.forEach((e, i) => {
    const p = item('events', i);
    const obj = readObject(e, p, issues, S.EVENT_KEYS);
    if (!obj) return;
    const atV = required(obj, 'at', p, issues, 'a time after the start such as "3s"');
    const atMs = atV === undefined ? undefined : readUnit(atV, at(p, 'at'), issues, parseDurationMs);
    const selV = required(obj, 'select', p, issues, '{ first: N }, { last: N }, { index: I }, { indexes: [..] } or { every: N }');
    const select = selV === undefined ? undefined : readSelector(selV, at(p, 'select'), issues, count, siteNames);
    const down = obj['down'] === undefined ? undefined : readRate(obj['down'], at(p, 'down'), issues);
    const up = obj['up'] === undefined ? undefined : readRate(obj['up'], at(p, 'up'), issues);
    if (obj['down'] === undefined && obj['up'] === undefined) issues.add(p, 'changes nothing: expected down, up or both');
    if (atMs === undefined || select === undefined) return;
    const ev: ScenarioPlan['events'][number] = { atMs, select };
    if (down) ev.down = down;
    if (up) ev.up = up;
    out.push(ev);
  });
  return issues.count > before ? undefined : out;
}

function readSim(v: unknown, issues: Issues): Partial<SimModelParams> | undefined {
  const o = readObject(v, 'sim', issues, S.SIM_KEYS);
  if (!o) return undefined;
  const out: Partial<SimModelParams> = {};
  for (const key of S.SIM_KEYS) {
    if (o[key] === undefined) continue;
    const bounds = key === 'linkEfficiency' ? { gt: 0, max: 1 } : key === 'initialWindowBytes' || key === 'setupCores' ? { gt: 0 } : { min: 0 };
    const value = readNumber(o[key], at('sim', key), issues, bounds);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function readCheck(v: unknown, strategies: ContenderName[] | undefined, issues: Issues): ScenarioPlan['check'] | undefined {
  const c = readObject(v, 'check', issues, S.CHECK_KEYS);
  if (!c || c['efficiency'] === undefined) return c ? { efficiency: {} } : undefined;
  if (!isPlainObject(c['efficiency'])) {
    issues.add('check.efficiency', `expected a mapping of contender names to efficiency limits; got ${describe(c['efficiency'])}`);
    return undefined;
  }
  const out: Partial<Record<ContenderName, number>> = {};
  for (const [key, value] of Object.entries(c['efficiency'])) {
    const p = at('check.efficiency', key);
    const limit = readNumber(value, p, issues, { min: 1 });
    if (strategies && !strategies.includes(key)) {
      issues.add(p, `${key} is not among the strategies this scenario runs (${strategies.join(', ')})`);
    } else if (limit !== undefined) out[key] = limit;
  }
  return { efficiency: out };
}
