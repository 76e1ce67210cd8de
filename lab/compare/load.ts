/**
 * Reading results folders for `fanout compare`: each folder's summary.json (as `npm run lab`
 * writes it, a `ScenarioResults`), checked for the fields the comparison uses, and a short
 * unique name per folder.
 *
 * A summary is validated before anything is computed from it: every problem is reported with
 * its file and JSON path (`results/B/summary.json: invalid results summary:` then lines such as
 * `runs[3].makespanS: expected a number, got "fast"`),
 * so a hand-edited or truncated summary never turns into NaN in a table.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import type { ScenarioResults } from '../types.js';

/** A results folder could not be used (missing, unreadable, not a valid summary). The message is for the user. */
export class CompareInputError extends Error {
  override readonly name = 'CompareInputError';
}

/** One results folder, read and checked. */
export interface LoadedFolder {
  /** The folder as the user gave it. */
  dir: string;
  /** Short name, unique among the folders compared (the folder's basename, lengthened when two are equal). */
  name: string;
  results: ScenarioResults;
}

const SUMMARY = 'summary.json';

type Json = unknown;

/** Collects problems with their JSON paths. */
class Checker {
  readonly problems: string[] = [];

  problem(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }

  object(value: Json, path: string): Record<string, Json> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, Json>;
    this.problem(path, `expected an object, got ${describe(value)}`);
    return undefined;
  }

  array(value: Json, path: string): Json[] | undefined {
    if (Array.isArray(value)) return value;
    this.problem(path, `expected an array, got ${describe(value)}`);
    return undefined;
  }

  string(value: Json, path: string, optional = false): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || value === '') this.problem(path, `expected a non-empty string, got ${describe(value)}`);
  }

  number(value: Json, path: string, opts: { nullable?: boolean; integer?: boolean; min?: number } = {}): void {
    if (opts.nullable && value === null) return;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.problem(path, `expected a number${opts.nullable ? ' or null' : ''}, got ${describe(value)}`);
    } else if (opts.integer && !Number.isInteger(value)) {
      this.problem(path, `expected a whole number, got ${value}`);
    } else if (opts.min !== undefined && value < opts.min) {
      this.problem(path, `expected at least ${opts.min}, got ${value}`);
    }
  }
}

function describe(value: Json): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** At most this many problems are listed per summary; the rest are counted. */
const MAX_PROBLEMS = 12;

/**
 * Checks that `json` has every field of a ScenarioResults that the comparison reads, and
 * returns it typed. Throws CompareInputError starting with `where` and listing every problem
 * with its JSON path, one per line.
 */
export function checkSummary(json: Json, where: string): ScenarioResults {
  const c = new Checker();
  const root = c.object(json, '(top level)');
  if (root !== undefined) {
    const scenario = c.object(root['scenario'], 'scenario');
    if (scenario !== undefined) {
      c.string(scenario['name'], 'scenario.name');
      c.array(scenario['receivers'], 'scenario.receivers');
    }
    c.string(root['backend'], 'backend');
    c.string(root['startedAt'], 'startedAt', true);
    if (root['environment'] !== undefined) {
      const env = c.object(root['environment'], 'environment');
      const commit = env?.['gitCommit'];
      if (env !== undefined && commit !== undefined && commit !== null) c.string(commit, 'environment.gitCommit');
    }
    if (root['warnings'] !== undefined) {
      const warnings = c.array(root['warnings'], 'warnings');
      warnings?.forEach((w, i) => c.string(w, `warnings[${i}]`));
    }
    const runs = c.array(root['runs'], 'runs');
    runs?.forEach((value, i) => {
      const at = `runs[${i}]`;
      const run = c.object(value, at);
      if (run === undefined) return;
      c.string(run['strategy'], `${at}.strategy`);
      c.number(run['repeat'], `${at}.repeat`, { integer: true, min: 1 });
      c.number(run['makespanS'], `${at}.makespanS`, { min: 0 });
      c.number(run['lowerBoundS'], `${at}.lowerBoundS`, { min: 0 });
      c.number(run['efficiency'], `${at}.efficiency`, { min: 0 });
      c.number(run['failedReceivers'], `${at}.failedReceivers`, { integer: true, min: 0 });
      const receivers = c.array(run['receivers'], `${at}.receivers`);
      receivers?.forEach((rv, j) => {
        const rat = `${at}.receivers[${j}]`;
        const r = c.object(rv, rat);
        if (r === undefined) return;
        c.number(r['index'], `${rat}.index`, { integer: true, min: 0 });
        c.number(r['doneS'], `${rat}.doneS`, { nullable: true, min: 0 });
        if (r['error'] !== undefined) c.string(r['error'], `${rat}.error`);
      });
      if (receivers !== undefined && receivers.length === 0) c.problem(`${at}.receivers`, 'expected at least one receiver');
    });
    if (runs !== undefined && runs.length === 0) c.problem('runs', 'no runs: nothing to compare');
  }
  if (c.problems.length > 0) {
    const shown = c.problems.slice(0, MAX_PROBLEMS);
    const more = c.problems.length - shown.length;
    throw new CompareInputError(
      `${where}: invalid results summary:\n  ${shown.join('\n  ')}${more > 0 ? `\n  ... and ${more} more problem${more === 1 ? '' : 's'}` : ''}`,
    );
  }
  return json as ScenarioResults;
}

/** Reads and checks `<dir>/summary.json`. Throws CompareInputError when the folder or summary is missing, unreadable or invalid. */
export async function loadSummary(dir: string): Promise<ScenarioResults> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    throw new CompareInputError(`${dir}: ${errnoText(err, 'cannot read it')}`);
  }
  if (!info.isDirectory()) throw new CompareInputError(`${dir}: not a folder (expected a results folder holding summary.json)`);
  const path = join(dir, SUMMARY);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CompareInputError(`${dir}: no ${SUMMARY} here (is it a results folder that \`npm run lab\` wrote?)`);
    throw new CompareInputError(`${path}: ${errnoText(err, 'cannot read it')}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CompareInputError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return checkSummary(json, path);
}

function errnoText(err: unknown, fallback: string): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file or folder';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  return e.message ?? fallback;
}

/**
 * A short name per folder, unique among them: the basename, or for folders whose basenames
 * are equal, as many trailing path components as it takes (`one-slow/A`, `two/A`); the
 * same folder given twice is told apart by `#2`, `#3`.
 */
export function folderNames(dirs: readonly string[]): string[] {
  const full = dirs.map((d) => resolve(d));
  const parts = full.map((f) => {
    const p = f.split(sep).filter((s) => s !== '');
    return p.length > 0 ? p : [basename(f) || '/'];
  });
  const depth = dirs.map(() => 1);
  const nameOf = (i: number) => parts[i]!.slice(-depth[i]!).join('/');
  for (;;) {
    const names = dirs.map((_, i) => nameOf(i));
    let grew = false;
    names.forEach((n, i) => {
      const clash = names.some((m, j) => j !== i && m === n && full[j] !== full[i]);
      if (clash && depth[i]! < parts[i]!.length) {
        depth[i]!++;
        grew = true;
      }
    });
    if (!grew) break;
  }
  const seen = new Map<string, number>();
  return dirs.map((_, i) => {
    const n = nameOf(i);
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    return count === 1 ? n : `${n} #${count}`;
  });
}

/**
 * Loads every folder (all of them, so every bad one is reported at once) and names them.
 * Throws CompareInputError with one line per bad folder.
 */
export async function loadFolders(dirs: readonly string[]): Promise<LoadedFolder[]> {
  const names = folderNames(dirs);
  const settled = await Promise.allSettled(dirs.map((d) => loadSummary(d)));
  const problems = settled.flatMap((s) => (s.status === 'rejected' ? [errorText(s.reason)] : []));
  if (problems.length > 0) throw new CompareInputError(problems.join('\n'));
  return dirs.map((dir, i) => ({ dir, name: names[i]!, results: (settled[i] as PromiseFulfilledResult<ScenarioResults>).value }));
}

function errorText(err: unknown): string {
  if (err instanceof CompareInputError) return err.message;
  throw err;
}
