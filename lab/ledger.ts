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
 * (only if /proc/<pid>/stat still shows the recorded start time, and /proc/<pid>/cmdline the same
 * argv: a pid reused by another process is never killed), namespaces deleted.
 *
 * The ledger folder is trusted only if it is a real directory (not a symlink) owned by this user
 * and writable by no one else; ledger files are opened with O_NOFOLLOW and must be regular files
 * owned by this user. Otherwise LedgerError: as root, a ledger planted by someone else would
 * otherwise name what to kill and delete. A link entry
 * whose namespace is itself in the ledger needs no action of its own: deleting the namespace
 * deletes every interface in it (and a veth dies with either end), which is also much faster
 * than deleting links one by one.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** Where ledgers live unless told otherwise. */
export const DEFAULT_LEDGER_DIR = '/run/fanout-lab';

/** The header line: who owns this run. */
export interface RunEntry {
  kind: 'run';
  prefix: string;
  pid: number;
  /** The owner's argv as /proc/<pid>/cmdline shows it (to tell a live owner from a reused pid). */
  cmdline?: string[];
  /** The owner's start time (field 22 of /proc/<pid>/stat, clock ticks after boot). */
  startTime?: number;
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
  /** Its start time (field 22 of /proc/<pid>/stat); undo kills the pid only if this still matches. Filled in by `record`. */
  startTime?: number;
}

export type LedgerEntry = RunEntry | NetnsEntry | LinkEntry | ProcessEntry;

/** Something wrong with a ledger file (exists already, not a lab prefix). */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
}

/**
 * Start time of a live process: field 22 of /proc/<pid>/stat (clock ticks after boot); with the
 * pid it names one process for the machine's uptime. Null when there is no such process.
 */
export async function readStartTime(pid: number): Promise<number | null> {
  try {
    return parseStatStartTime(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Field 22 of a /proc/<pid>/stat line (the command, field 2, may hold spaces and parentheses). */
export function parseStatStartTime(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' '); // fields 3 onwards
  const v = Number(fields[22 - 3]);
  return Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/**
 * Throws LedgerError unless `dir` is a directory (not a symlink to one) owned by this user and
 * not writable by group or others. A missing `dir` is fine (nothing to trust yet).
 */
export async function checkLedgerDir(dir: string): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const euid = process.geteuid?.();
  if (st.isSymbolicLink()) throw new LedgerError(`ledger folder ${dir} is a symbolic link: not trusted`);
  if (!st.isDirectory()) throw new LedgerError(`ledger folder ${dir} is not a directory`);
  if (euid !== undefined && st.uid !== euid) throw new LedgerError(`ledger folder ${dir} is owned by uid ${st.uid}, not ${euid}: not trusted`);
  if ((st.mode & 0o022) !== 0) throw new LedgerError(`ledger folder ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): not trusted`);
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
    await checkLedgerDir(dir);
    const path = ledgerPath(dir, prefix);
    const header: RunEntry = { kind: 'run', prefix, pid: owner.pid, startedAtMs: nowMs };
    if (owner.cmdline !== undefined) header.cmdline = owner.cmdline;
    const startTime = await readStartTime(owner.pid);
    if (startTime !== null) header.startTime = startTime;
    let fh;
    try {
      fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o644);
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
    for (const e of entries) {
      if (e.kind === 'process' && e.startTime === undefined) {
        const t = await readStartTime(e.pid);
        if (t !== null) e.startTime = t;
      }
    }
    const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    const fh = await open(this.path, constants.O_WRONLY | constants.O_APPEND | O_NOFOLLOW);
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
  const isTicks = (x: unknown): boolean => x === undefined || (Number.isSafeInteger(x) && (x as number) >= 0);
  switch (e.kind) {
    case 'run':
      return isStr(e.prefix) && isPid(e.pid) && isArgv(e.cmdline) && isTicks(e.startTime);
    case 'netns':
      return isStr(e.name);
    case 'link':
      return isStr(e.ns) && isStr(e.name);
    case 'process':
      return isPid(e.pid) && (e.ns === undefined || isStr(e.ns)) && isArgv(e.cmdline) && isTicks(e.startTime);
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
  const fh = await open(path, constants.O_RDONLY | O_NOFOLLOW);
  try {
    const st = await fh.stat();
    const euid = process.geteuid?.();
    if (!st.isFile()) throw new LedgerError(`ledger ${path} is not a regular file`);
    if (euid !== undefined && st.uid !== euid) throw new LedgerError(`ledger ${path} is owned by uid ${st.uid}, not ${euid}: not trusted`);
    return parseLedger(await fh.readFile('utf8'));
  } finally {
    await fh.close();
  }
}

/** The ledger files in `dir` named `<fl + 4 hex>.jsonl` (a missing dir = none). */
export async function listLedgerFiles(dir: string): Promise<{ prefix: string; path: string }[]> {
  await checkLedgerDir(dir);
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
  | { kind: 'kill'; pid: number; cmdline?: string[]; startTime?: number }
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
      const kill: UndoAction = { kind: 'kill', pid: e.pid };
      if (e.cmdline !== undefined) kill.cmdline = e.cmdline;
      if (e.startTime !== undefined) kill.startTime = e.startTime;
      action = kill;
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
