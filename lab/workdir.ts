/**
 * The work folder of one `fanout lab` invocation: `<tmpdir>/fanout-lab-<scenario>-XXXXXX`, holding
 * the source file and every node's output. The lab removes it at its teardown (unless --keep); a
 * lab killed by SIGKILL never gets there, and its folder, with a copy of the file per node, stayed
 * behind for good.
 *
 * So the folder carries an owner marker, `.fanout-owner.json`: the lab's pid and start time
 * (/proc/<pid>/stat field 22, which with the pid names one process for the machine's uptime).
 * `fanout clean` removes a work folder whose owner is gone (planWorkDirs, pure), leaves one whose
 * owner still runs, and leaves alone one without a marker: `--keep` removes the marker at the end,
 * because the folder is then the user's, and folders of older versions have none.
 *
 * Only names matching WORKDIR_NAME directly under the temporary folder are considered, and only
 * real directories (not symbolic links) owned by this user; the marker is read without following
 * links. Nothing else is ever removed.
 */
import { constants, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStatStartTime } from './ledger.js';

export const OWNER_MARKER = '.fanout-owner.json';
/** `fanout-lab-<scenario name>-<6 characters of mkdtemp>` */
export const WORKDIR_NAME = /^fanout-lab-[A-Za-z0-9._-]+-[A-Za-z0-9]{6}$/;

export interface WorkDirOwner {
  pid: number;
  /** Null when /proc did not say (then the owner counts as alive while the pid exists). */
  startTime: number | null;
}

function ownStartTime(): number | null {
  try {
    return parseStatStartTime(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** Makes the work folder with this process's owner marker in it. */
export function makeWorkDir(scenarioName: string, parent: string = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `fanout-lab-${scenarioName}-`));
  const owner: WorkDirOwner = { pid: process.pid, startTime: ownStartTime() };
  writeFileSync(join(dir, OWNER_MARKER), `${JSON.stringify(owner)}\n`, { flag: 'wx', mode: 0o644 });
  return dir;
}

/** At the lab's teardown: removes the folder, or with `keep` only its marker (the folder is then the user's). */
export function releaseWorkDir(dir: string, keep: boolean): void {
  if (keep) rmSync(join(dir, OWNER_MARKER), { force: true });
  else rmSync(dir, { recursive: true, force: true });
}

/** A work folder as found: its owner from the marker, null without a (valid) one. */
export interface WorkDirSnapshot {
  path: string;
  owner: WorkDirOwner | null;
}

export interface WorkDirPlan {
  remove: { path: string; reason: string }[];
  /** In use by a live lab. */
  skipped: { what: string; reason: string }[];
  /** Without an owner marker (kept with --keep, or from an older version): never removed. */
  unowned: string[];
}

/**
 * Which work folders `fanout clean` removes. `startTimes`: the current start time of each owner
 * pid (null or missing: no such process). Pure.
 */
export function planWorkDirs(dirs: readonly WorkDirSnapshot[], startTimes: ReadonlyMap<number, number | null>, selfPid?: number): WorkDirPlan {
  const plan: WorkDirPlan = { remove: [], skipped: [], unowned: [] };
  for (const d of dirs) {
    if (d.owner === null) {
      plan.unowned.push(d.path);
      continue;
    }
    const now = startTimes.get(d.owner.pid) ?? null;
    const alive = d.owner.pid === selfPid || (now !== null && (d.owner.startTime === null || now === d.owner.startTime));
    if (alive) plan.skipped.push({ what: `work folder ${d.path}`, reason: `in use by live pid ${d.owner.pid}` });
    else plan.remove.push({ path: d.path, reason: `its lab (pid ${d.owner.pid}) is gone` });
  }
  return plan;
}

function parseOwner(text: string): WorkDirOwner | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const pid = v['pid'];
    const st = v['startTime'];
    if (!Number.isInteger(pid) || (pid as number) <= 0) return null;
    if (st !== null && !(Number.isSafeInteger(st) && (st as number) >= 0)) return null;
    return { pid: pid as number, startTime: st as number | null };
  } catch {
    return null;
  }
}

/** The work folders under `parent` (real directories of this user, with a lab's name) and their owners. */
export async function findWorkDirs(parent: string = tmpdir()): Promise<WorkDirSnapshot[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const euid = process.geteuid?.();
  const out: WorkDirSnapshot[] = [];
  for (const name of names.filter((n) => WORKDIR_NAME.test(n)).sort()) {
    const path = join(parent, name);
    try {
      const st = await lstat(path);
      if (!st.isDirectory() || (euid !== undefined && st.uid !== euid)) continue;
    } catch {
      continue;
    }
    let owner: WorkDirOwner | null = null;
    try {
      const fh = await open(join(path, OWNER_MARKER), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
      try {
        const st = await fh.stat();
        if (st.isFile() && st.size < 4096 && (euid === undefined || st.uid === euid)) owner = parseOwner(await fh.readFile('utf8'));
      } finally {
        await fh.close();
      }
    } catch {
      owner = null;
    }
    out.push({ path, owner });
  }
  return out;
}

/** Removes one planned folder, after checking again that it is still a real directory. */
export async function removeWorkDir(path: string): Promise<void> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || !st.isDirectory()) return;
  await rm(path, { recursive: true, force: true });
}
