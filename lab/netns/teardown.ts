/**
 * Carry out the undo steps of a ledger (see lab/ledger.ts): kill recorded processes that are
 * still the same process, delete recorded links outside recorded namespaces, delete recorded
 * namespaces. Tolerates objects already gone; refuses any name that is not a lab name. Shared
 * by NetnsNetwork.down() and `fanout clean`.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import type { Commander } from '../commander.js';
import { readStartTime, type UndoAction } from '../ledger.js';
import { deleteLink, deleteNamespaces, listNamespaces, parseNetnsList } from './commands.js';
import { HOST_IFNAME, isLabName } from './plan.js';

/** How teardown sees and signals processes (injectable for tests). */
export interface ProcessOps {
  /** argv from /proc/<pid>/cmdline; null when there is no such (live) process. */
  readCmdline(pid: number): Promise<string[] | null>;
  /** Field 22 of /proc/<pid>/stat; null when there is no such process. Optional for fakes that predate it. */
  readStartTime?(pid: number): Promise<number | null>;
  kill(pid: number, signal: NodeJS.Signals): void;
}

/**
 * Is `pid` still the process that started at `startTime`? True when nothing was recorded (old
 * ledgers) or the ops cannot tell; false when it is gone or is another process (a reused pid).
 */
export async function sameProcess(pid: number, startTime: number | undefined, ops: ProcessOps): Promise<boolean> {
  if (startTime === undefined || ops.readStartTime === undefined) return true;
  return (await ops.readStartTime(pid)) === startTime;
}

/** /proc and process.kill. */
export const realProcessOps: ProcessOps = {
  async readCmdline(pid) {
    try {
      const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const argv = raw.split('\0');
      if (argv[argv.length - 1] === '') argv.pop();
      return argv.length === 0 ? null : argv; // a zombie shows an empty cmdline
    } catch {
      return null;
    }
  },
  readStartTime,
  kill(pid, signal) {
    process.kill(pid, signal);
  },
};

/**
 * The one shell wrapper a plug-in may put before a program: it runs the program with its stderr on
 * stdout (the lab reads stdout) and `exec`s it, so the pid is the program's own and its live argv
 * is just the program's (isFanoutCmdline unwraps it).
 */
export const STDERR_TO_STDOUT: readonly string[] = ['/bin/sh', '-c', 'exec "$0" "$@" 2>&1'];

/**
 * Is `actual` (a live process's argv) the lab's process? With a recorded argv: exactly that argv,
 * or, for `ip netns exec NS cmd ...`, exactly `cmd ...` (what the process shows once ip has exec'd
 * it), and for `cmd` = STDERR_TO_STDOUT + `prog ...`, exactly `prog ...` (guards against a reused
 * pid). Without: some argv word mentions `fanout`.
 */
export function isFanoutCmdline(actual: readonly string[], recorded?: readonly string[]): boolean {
  if (recorded !== undefined) {
    const same = (want: readonly string[]): boolean => actual.length === want.length && actual.every((w, i) => w === want[i]);
    // `ip netns exec NS cmd ...` execs cmd: the live process then shows just `cmd ...`.
    const exec = recorded[0] === 'ip' && recorded[1] === 'netns' && recorded[2] === 'exec' ? recorded.slice(4) : null;
    const n = STDERR_TO_STDOUT.length;
    const wrapped = exec !== null && exec.length > n && STDERR_TO_STDOUT.every((w, i) => exec[i] === w) ? exec.slice(n) : null;
    return same(recorded) || (exec !== null && exec.length > 0 && same(exec)) || (wrapped !== null && same(wrapped));
  }
  return actual.some((w) => w.includes('fanout'));
}

/** What an undo did. */
export interface UndoReport {
  killed: number[];
  /** Pids left alone, with why (gone, or now some other program). */
  skippedPids: { pid: number; reason: string }[];
  deletedNamespaces: string[];
  deletedLinks: { ns: string; name: string }[];
  /** Names refused because they are not lab names (a damaged or foreign ledger). */
  refused: string[];
  /** Namespaces still present after the attempt. */
  remaining: string[];
  errors: string[];
}

/** An empty report. */
export function emptyUndoReport(): UndoReport {
  return { killed: [], skippedPids: [], deletedNamespaces: [], deletedLinks: [], refused: [], remaining: [], errors: [] };
}

/** The lab namespaces currently present (`ip -j netns list`). */
export async function presentNamespaces(commander: Commander): Promise<string[]> {
  return parseNetnsList((await commander.run(listNamespaces().argv)).stdout);
}

/**
 * Execute `actions` in order, batching runs of namespace deletions into one `ip -force -batch`.
 * Never throws for an object that is already gone; failures land in `errors`/`remaining`.
 */
export async function executeUndo(
  actions: readonly UndoAction[],
  commander: Commander,
  ops: ProcessOps = realProcessOps,
): Promise<UndoReport> {
  const report = emptyUndoReport();
  let present: Set<string> | null = null;
  const nsPresent = async (): Promise<Set<string>> => (present ??= new Set(await presentNamespaces(commander)));

  for (let i = 0; i < actions.length; ) {
    const a = actions[i]!;
    if (a.kind === 'kill') {
      await killOne(a.pid, a.cmdline, ops, report, a.startTime);
      i++;
    } else if (a.kind === 'delete-link') {
      if (!isLabName(a.ns) || !(isLabName(a.name) || a.name === HOST_IFNAME)) {
        report.refused.push(`${a.ns}/${a.name}`);
      } else if ((await nsPresent()).has(a.ns)) {
        try {
          await commander.run(deleteLink(a.ns, a.name).argv);
          report.deletedLinks.push({ ns: a.ns, name: a.name });
        } catch (e) {
          if (!/Cannot find device|does not exist/i.test(String((e as Error).message))) report.errors.push(String(e));
        }
      }
      i++;
    } else {
      const run: string[] = [];
      while (i < actions.length && actions[i]!.kind === 'delete-netns') {
        run.push((actions[i] as { name: string }).name);
        i++;
      }
      await deleteRun(run, commander, await nsPresent(), report);
    }
  }
  return report;
}

async function killOne(pid: number, recorded: string[] | undefined, ops: ProcessOps, report: UndoReport, startTime?: number): Promise<void> {
  // Start time first, then argv, then the kill: a pid reused since it was recorded is left alone.
  if (!(await sameProcess(pid, startTime, ops))) {
    report.skippedPids.push({ pid, reason: 'gone, or its pid now names another process (start time differs)' });
    return;
  }
  const argv = await ops.readCmdline(pid);
  if (argv === null) {
    report.skippedPids.push({ pid, reason: 'gone' });
    return;
  }
  if (!isFanoutCmdline(argv, recorded)) {
    report.skippedPids.push({ pid, reason: `now another program: ${argv.join(' ').slice(0, 80)}` });
    return;
  }
  try {
    ops.kill(pid, 'SIGKILL');
    report.killed.push(pid);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') report.skippedPids.push({ pid, reason: 'gone' });
    else report.errors.push(`kill ${pid}: ${String(e)}`);
  }
}

async function deleteRun(names: string[], commander: Commander, present: Set<string>, report: UndoReport): Promise<void> {
  const todo: string[] = [];
  for (const n of names) {
    if (!isLabName(n)) report.refused.push(n);
    else if (present.has(n) && !todo.includes(n)) todo.push(n);
  }
  if (todo.length === 0) return;
  let failed = false;
  try {
    const inv = deleteNamespaces(todo);
    await commander.run(inv.argv, { input: inv.input! });
  } catch (e) {
    failed = true;
    report.errors.push(String((e as Error).message));
  }
  let left = new Set<string>();
  if (failed) left = new Set(await presentNamespaces(commander));
  for (const n of todo) {
    if (left.has(n)) report.remaining.push(n);
    else {
      report.deletedNamespaces.push(n);
      present.delete(n);
    }
  }
}

/**
 * For each namespace name, the pids of processes running inside it: a process is in a named
 * namespace when /proc/<pid>/ns/net is the same file (device and inode) as /run/netns/<name>.
 * One scan of /proc for all names.
 */
export async function pidsInNamespaces(names: readonly string[], netnsDir = '/run/netns'): Promise<Map<string, number[]>> {
  const byInode = new Map<string, string>();
  const out = new Map<string, number[]>();
  for (const n of names) {
    out.set(n, []);
    try {
      const s = await stat(`${netnsDir}/${n}`);
      byInode.set(`${s.dev}:${s.ino}`, n);
    } catch {
      // gone already
    }
  }
  if (byInode.size === 0) return out;
  const entries = await readdir('/proc');
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        try {
          const s = await stat(`/proc/${e}/ns/net`);
          const n = byInode.get(`${s.dev}:${s.ino}`);
          if (n !== undefined) out.get(n)!.push(Number(e));
        } catch {
          // exited meanwhile, or not ours to read
        }
      }),
  );
  for (const pids of out.values()) pids.sort((a, b) => a - b);
  return out;
}
