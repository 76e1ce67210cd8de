/**
 * The ledger: what a lab run has made, written down BEFORE it is made, so teardown and
 * `fanout clean` undo exactly that, even after a crash or SIGKILL.
 *
 * One JSON-lines file per run: `<dir>/<prefix>.jsonl` (dir defaults to /run/fanout-lab, a tmpfs
 * that a reboot empties, like the namespaces themselves). The first line is a `run` header
 * naming the owning process; then one line per object:
 *
 *   {"kind":"run","prefix":"fl3a9c","pid":4242,"cmdline":["node","fanout.js","lab"],"startedAtMs":...}
 *   {"kind":"netns","name":"fl3a9c-br"}
 *   {"kind":"link","ns":"fl3a9c-br","name":"fl3a9c-r0"}
 *   {"kind":"process","pid":4300,"ns":"fl3a9c-r0","cmdline":["node","receiver.js"]}
 *
 * Each `record` call is one append (one write(2)), so a SIGKILL can at worst cut the last line;
 * readers skip a line that does not parse. Undo runs the entries in reverse: processes are killed
 * (only if /proc/<pid>/cmdline still shows the same process), namespaces deleted. A link entry
 * whose namespace is itself in the ledger needs no action of its own: deleting the namespace
 * deletes every interface in it (and a veth dies with either end), which is also much faster
 * than deleting links one by one.
 */
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Where ledgers live unless told otherwise. */
export const DEFAULT_LEDGER_DIR = '/run/fanout-lab';

/** The header line: who owns this run. */
export interface RunEntry {
  kind: 'run';
  prefix: string;
  pid: number;
  /** The owner's argv as /proc/<pid>/cmdline shows it (to tell a live owner from a reused pid). */
  cmdline?: string[];
  startedAtMs: number;
}

/** A network namespace the run made. */
export interface NetnsEntry {
  kind: 'netns';
  name: string;
}

/** An interface the run made, in namespace `ns`. */
export interface LinkEntry {
  kind: 'link';
  ns: string;
  name: string;
}

/** A process the run started (e.g. a receiver inside its namespace). */
export interface ProcessEntry {
  kind: 'process';
  pid: number;
  ns?: string;
  /** Its argv as /proc/<pid>/cmdline shows it; undo kills the pid only if this still matches. */
  cmdline?: string[];
}

export type LedgerEntry = RunEntry | NetnsEntry | LinkEntry | ProcessEntry;

/** Something wrong with a ledger file (exists already, not a lab prefix). */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
}

/** `<dir>/<prefix>.jsonl` */
export function ledgerPath(dir: string, prefix: string): string {
  return join(dir, `${prefix}.jsonl`);
}

/** An open ledger of one run. */
export class Ledger {
  private constructor(
    readonly path: string,
    readonly prefix: string,
  ) {}

  /**
   * Create `<dir>/<prefix>.jsonl` (the directory too) and write the run header. Fails with
   * LedgerError if the file exists: two runs never share a prefix.
   */
  static async create(
    dir: string,
    prefix: string,
    owner: { pid: number; cmdline?: string[] } = { pid: process.pid },
    nowMs: number = Date.now(),
  ): Promise<Ledger> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const path = ledgerPath(dir, prefix);
    const header: RunEntry = { kind: 'run', prefix, pid: owner.pid, startedAtMs: nowMs };
    if (owner.cmdline !== undefined) header.cmdline = owner.cmdline;
    let fh;
    try {
      fh = await open(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new LedgerError(`ledger ${path} already exists`);
      throw e;
    }
    try {
      await fh.write(`${JSON.stringify(header)}\n`);
    } finally {
      await fh.close();
    }
    return new Ledger(path, prefix);
  }

  /** Append entries (one write). Call BEFORE making the objects they name. */
  async record(...entries: Exclude<LedgerEntry, RunEntry>[]): Promise<void> {
    if (entries.length === 0) return;
    const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    const fh = await open(this.path, 'a');
    try {
      await fh.write(text);
    } finally {
      await fh.close();
    }
  }

  /** Read back everything recorded so far. */
  async entries(): Promise<LedgerEntry[]> {
    return (await readLedgerFile(this.path)).entries;
  }

  /** Delete the ledger file (after a complete undo). Missing is fine. */
  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

function isEntry(v: unknown): v is LedgerEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const isStr = (x: unknown): x is string => typeof x === 'string' && x !== '';
  const isPid = (x: unknown): boolean => Number.isInteger(x) && (x as number) > 0;
  const isArgv = (x: unknown): boolean => x === undefined || (Array.isArray(x) && x.every((w) => typeof w === 'string'));
  switch (e.kind) {
    case 'run':
      return isStr(e.prefix) && isPid(e.pid) && isArgv(e.cmdline);
    case 'netns':
      return isStr(e.name);
    case 'link':
      return isStr(e.ns) && isStr(e.name);
    case 'process':
      return isPid(e.pid) && (e.ns === undefined || isStr(e.ns)) && isArgv(e.cmdline);
    default:
      return false;
  }
}

/** Parse ledger text; lines that are not a valid entry (e.g. a cut last line) are counted, not fatal. */
export function parseLedger(text: string): { entries: LedgerEntry[]; badLines: number } {
  const entries: LedgerEntry[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(line);
      if (isEntry(v)) entries.push(v);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { entries, badLines };
}

/** Read one ledger file. */
export async function readLedgerFile(path: string): Promise<{ entries: LedgerEntry[]; badLines: number }> {
  return parseLedger(await readFile(path, 'utf8'));
}

/** The ledger files in `dir` named `<fl + 4 hex>.jsonl` (a missing dir = none). */
export async function listLedgerFiles(dir: string): Promise<{ prefix: string; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => /^fl[0-9a-f]{4}\.jsonl$/.test(n))
    .sort()
    .map((n) => ({ prefix: n.slice(0, 6), path: join(dir, n) }));
}

/** One step of undoing a ledger. */
export type UndoAction =
  | { kind: 'kill'; pid: number; cmdline?: string[] }
  | { kind: 'delete-link'; ns: string; name: string }
  | { kind: 'delete-netns'; name: string };

/**
 * The steps that undo `entries`, in reverse order of recording. A link in a namespace the
 * ledger also holds is covered by that namespace's deletion (no step of its own); the same
 * object recorded twice is undone once. Pure.
 */
export function undoActions(entries: readonly LedgerEntry[]): UndoAction[] {
  const namespaces = new Set(entries.filter((e): e is NetnsEntry => e.kind === 'netns').map((e) => e.name));
  const out: UndoAction[] = [];
  const seen = new Set<string>();
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    let action: UndoAction | null = null;
    if (e.kind === 'process') {
      action = e.cmdline !== undefined ? { kind: 'kill', pid: e.pid, cmdline: e.cmdline } : { kind: 'kill', pid: e.pid };
    } else if (e.kind === 'netns') {
      action = { kind: 'delete-netns', name: e.name };
    } else if (e.kind === 'link' && !namespaces.has(e.ns)) {
      action = { kind: 'delete-link', ns: e.ns, name: e.name };
    }
    if (action === null) continue;
    const key =
      action.kind === 'kill' ? `kill:${action.pid}` : action.kind === 'delete-netns' ? `ns:${action.name}` : `link:${action.ns}/${action.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(action);
  }
  return out;
}
