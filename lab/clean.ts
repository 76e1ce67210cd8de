/**
 * `fanout clean`: remove whatever lab runs left behind (a crash, a SIGKILL, a power cut of the
 * runner), and nothing else. Like Mininet's `mn -c`, but driven by the ledgers.
 *
 * What is removed (planClean, pure):
 *   - every ledger's objects, undone in reverse (lab/ledger.ts): recorded processes are killed
 *     only if /proc/<pid>/stat still shows the recorded start time and /proc/<pid>/cmdline that
 *     process (the recorded argv, or, when none was recorded, an argv mentioning `fanout`), both
 *     checked again right before the kill; recorded namespaces that still exist are deleted;
 *   - processes running inside a recorded namespace that is being deleted (they would otherwise
 *     keep the namespace and its veths alive after its name is gone), by pid and start time;
 *   - the ledger files once their namespaces are gone;
 *   - with `docker` set and an engine answering: containers and networks carrying the lab's run
 *     label, and fanout processes left inside their network namespaces (lab/docker/clean.ts);
 *   - work folders (`<tmpdir>/fanout-lab-<scenario>-XXXXXX`) whose lab is gone, by their owner
 *     marker (lab/workdir.ts; not with `prefixes`, which name network runs only).
 * A ledger whose owner (its `run` header) is still alive with the same argv is a run in
 * progress: it and every namespace with its prefix are skipped unless `force` is set.
 * A namespace with a lab-like name that no ledger names is reported, never removed: nothing
 * proves this lab made it (the namespace is created before it is recorded, so a run killed in
 * between leaves such a name; `ip netns delete NAME` removes it by hand).
 * Non-lab names (`myns`, `flx`, `eth0` in the root namespace) are never touched.
 */
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Commander } from './commander.js';
import { DEFAULT_LEDGER_DIR, listLedgerFiles, readLedgerFile, undoActions, type LedgerEntry, type RunEntry } from './ledger.js';
import { formatDockerClean, runDockerClean, type DockerCleanReport } from './docker/clean.js';
import { deleteLink, deleteNamespaces } from './netns/commands.js';
import { HOST_IFNAME, isLabName, prefixOf } from './netns/plan.js';
import { isFanoutCmdline, pidsInNamespaces, presentNamespaces, realProcessOps, sameProcess, type ProcessOps } from './netns/teardown.js';
import { readStartTime } from './ledger.js';
import { findWorkDirs, planWorkDirs, removeWorkDir, type WorkDirPlan } from './workdir.js';

/** One ledger file as read. */
export interface LedgerSnapshot {
  prefix: string;
  path: string;
  entries: LedgerEntry[];
}

/** Everything planClean looks at. */
export interface CleanInputs {
  ledgers: readonly LedgerSnapshot[];
  /** `ip netns list` names. */
  netnsList: readonly string[];
  /** argv of each pid the ledgers or namespaces name (null or missing = no such process). */
  cmdlines: ReadonlyMap<number, string[] | null>;
  /** Start time (/proc/<pid>/stat field 22) of each pid the ledgers or namespaces name (null = gone; missing = unknown). */
  startTimes?: ReadonlyMap<number, number | null>;
  /** Pids running inside each present namespace (missing = none known). */
  namespacePids?: ReadonlyMap<string, readonly number[]>;
  /** Clean runs whose owner is still alive, too. */
  force?: boolean;
  /** Never plan to kill this pid (the cleaning process itself). */
  selfPid?: number;
  /** Only these run prefixes (e.g. `fanout clean --prefix fl3a9c`); default: every lab name. */
  prefixes?: readonly string[];
}

/** What to remove, each with why. */
export interface CleanPlan {
  /** `startTime`: the process's start time when planned; the kill happens only if it still is. */
  kill: { pid: number; reason: string; startTime?: number }[];
  deleteLinks: { ns: string; name: string; reason: string }[];
  deleteNamespaces: { name: string; reason: string }[];
  removeLedgers: string[];
  skipped: { what: string; reason: string }[];
}

/** Decide what `fanout clean` removes. Pure. */
export function planClean(inputs: CleanInputs): CleanPlan {
  const plan: CleanPlan = { kill: [], deleteLinks: [], deleteNamespaces: [], removeLedgers: [], skipped: [] };
  const present = new Set(inputs.netnsList);
  const protectedPrefixes = new Set<string>();
  const scheduledNs = new Set<string>();
  const killed = new Set<number>();
  const inScope = (prefix: string | null): boolean =>
    prefix !== null && (inputs.prefixes === undefined || inputs.prefixes.includes(prefix));
  const argvOf = (pid: number): string[] | null => inputs.cmdlines.get(pid) ?? null;
  /** The pid is (still) the process that started at `recorded` (true when either is unknown). */
  const sameStart = (pid: number, recorded: number | undefined): boolean => {
    const now = inputs.startTimes?.get(pid);
    return recorded === undefined || now === undefined || now === recorded;
  };
  const addKill = (pid: number, reason: string): void => {
    if (killed.has(pid) || pid === inputs.selfPid) return;
    killed.add(pid);
    const k: CleanPlan['kill'][number] = { pid, reason };
    const t = inputs.startTimes?.get(pid);
    if (t !== undefined && t !== null) k.startTime = t;
    plan.kill.push(k);
  };

  for (const l of inputs.ledgers) {
    if (!inScope(l.prefix)) continue;
    const header = l.entries.find((e): e is RunEntry => e.kind === 'run');
    if (header !== undefined && !inputs.force && header.pid !== inputs.selfPid) {
      const argv = argvOf(header.pid);
      if (argv !== null && isFanoutCmdline(argv, header.cmdline) && sameStart(header.pid, header.startTime)) {
        protectedPrefixes.add(l.prefix);
        plan.skipped.push({ what: l.path, reason: `run ${l.prefix} is in use by live pid ${header.pid} (use --force)` });
        continue;
      }
    }
    for (const a of undoActions(l.entries)) {
      if (a.kind === 'kill') {
        const argv = argvOf(a.pid);
        if (argv === null) continue; // gone
        if (!sameStart(a.pid, a.startTime)) plan.skipped.push({ what: `pid ${a.pid}`, reason: 'now another process (start time differs from the ledger)' });
        else if (isFanoutCmdline(argv, a.cmdline)) addKill(a.pid, `recorded in ${l.path}`);
        else plan.skipped.push({ what: `pid ${a.pid}`, reason: `now another program: ${argv.join(' ').slice(0, 80)}` });
      } else if (a.kind === 'delete-netns') {
        if (!isLabName(a.name)) plan.skipped.push({ what: `namespace ${a.name}`, reason: 'not a lab name' });
        else if (present.has(a.name) && !scheduledNs.has(a.name)) {
          scheduledNs.add(a.name);
          plan.deleteNamespaces.push({ name: a.name, reason: `recorded in ${l.path}` });
        }
      } else if (!isLabName(a.ns) || !(isLabName(a.name) || a.name === HOST_IFNAME)) {
        plan.skipped.push({ what: `link ${a.ns}/${a.name}`, reason: 'not a lab name' });
      } else if (present.has(a.ns)) {
        plan.deleteLinks.push({ ns: a.ns, name: a.name, reason: `recorded in ${l.path}` });
      }
    }
    plan.removeLedgers.push(l.path);
  }

  for (const name of inputs.netnsList) {
    if (!isLabName(name) || scheduledNs.has(name) || !inScope(prefixOf(name))) continue;
    const p = prefixOf(name)!;
    if (protectedPrefixes.has(p)) {
      plan.skipped.push({ what: `namespace ${name}`, reason: `run ${p} is in use` });
      continue;
    }
    plan.skipped.push({ what: `namespace ${name}`, reason: 'lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)' });
  }

  for (const ns of scheduledNs) {
    for (const pid of inputs.namespacePids?.get(ns) ?? []) addKill(pid, `running in lab namespace ${ns}`);
  }
  return plan;
}

/** Options for runClean. */
export interface CleanOptions {
  ledgerDir?: string;
  force?: boolean;
  processOps?: ProcessOps;
  /** Where `ip netns` keeps its names (for finding processes inside them). */
  netnsDir?: string;
  /** Only plan; remove nothing. */
  dryRun?: boolean;
  /** Only these run prefixes. */
  prefixes?: readonly string[];
  /** Also remove labelled Docker containers and networks (lab/docker/clean.ts) when an engine answers. */
  docker?: boolean;
  /** Where the lab's work folders are looked for (default: the temporary folder). */
  workParent?: string;
}

/** What runClean did. */
export interface CleanReport {
  plan: CleanPlan;
  killed: number[];
  deletedLinks: string[];
  deletedNamespaces: string[];
  removedLedgers: string[];
  /** Lab namespaces still present afterwards (should be empty). */
  remaining: string[];
  errors: string[];
  /** Set when nothing was done (only planned). */
  dryRun?: boolean;
  /** The Docker part (null: no engine answered; absent: not asked). */
  docker?: DockerCleanReport | null;
  /** Work folders: what was planned and which were removed (absent with `prefixes`). */
  workDirs?: { plan: WorkDirPlan; removed: string[] };
}

/** Look at the machine (ledgers, namespaces, /proc) and gather planClean's inputs. */
export async function gatherCleanInputs(commander: Commander, opts: CleanOptions = {}): Promise<CleanInputs> {
  const ops = opts.processOps ?? realProcessOps;
  const ledgers: LedgerSnapshot[] = [];
  for (const f of await listLedgerFiles(opts.ledgerDir ?? DEFAULT_LEDGER_DIR)) {
    ledgers.push({ ...f, entries: (await readLedgerFile(f.path)).entries });
  }
  const netnsList = await presentNamespaces(commander);
  const namespacePids = await pidsInNamespaces(netnsList.filter(isLabName), opts.netnsDir);
  const pids = new Set<number>();
  for (const l of ledgers) for (const e of l.entries) if (e.kind === 'run' || e.kind === 'process') pids.add(e.pid);
  for (const list of namespacePids.values()) for (const p of list) pids.add(p);
  const cmdlines = new Map<number, string[] | null>();
  const startTimes = new Map<number, number | null>();
  for (const p of pids) {
    cmdlines.set(p, await ops.readCmdline(p));
    if (ops.readStartTime) startTimes.set(p, await ops.readStartTime(p));
  }
  const inputs: CleanInputs = { ledgers, netnsList, cmdlines, startTimes, namespacePids, selfPid: process.pid };
  if (opts.force) inputs.force = true;
  if (opts.prefixes !== undefined) inputs.prefixes = opts.prefixes;
  return inputs;
}

/** Plan and carry out `fanout clean`. */
export async function runClean(commander: Commander, opts: CleanOptions = {}): Promise<CleanReport> {
  const ops = opts.processOps ?? realProcessOps;
  const plan = planClean(await gatherCleanInputs(commander, opts));
  const report: CleanReport = { plan, killed: [], deletedLinks: [], deletedNamespaces: [], removedLedgers: [], remaining: [], errors: [] };
  if (opts.prefixes === undefined) {
    const dirs = await findWorkDirs(opts.workParent);
    const startTimes = new Map<number, number | null>();
    for (const d of dirs) if (d.owner) startTimes.set(d.owner.pid, await (ops.readStartTime ?? readStartTime)(d.owner.pid));
    report.workDirs = { plan: planWorkDirs(dirs, startTimes, process.pid), removed: [] };
  }
  if (opts.dryRun) {
    report.dryRun = true;
    if (opts.docker) report.docker = await runDockerClean({ ...opts, dryRun: true });
    return report;
  }

  for (const k of plan.kill) {
    // Checked again right before the kill: the pid may have been reused since the plan.
    if (!(await sameProcess(k.pid, k.startTime, ops))) continue;
    try {
      ops.kill(k.pid, 'SIGKILL');
      report.killed.push(k.pid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') report.errors.push(`kill ${k.pid}: ${String(e)}`);
    }
  }
  for (const l of plan.deleteLinks) {
    try {
      await commander.run(deleteLink(l.ns, l.name).argv);
      report.deletedLinks.push(`${l.ns}/${l.name}`);
    } catch (e) {
      if (!/Cannot find device/i.test(String(e))) report.errors.push(String((e as Error).message));
    }
  }
  const names = plan.deleteNamespaces.map((d) => d.name);
  if (names.length > 0) {
    const inv = deleteNamespaces(names);
    try {
      await commander.run(inv.argv, { input: inv.input! });
    } catch (e) {
      report.errors.push(String((e as Error).message)); // -force: it went on; re-listing tells what is left
    }
  }
  const after = new Set(await presentNamespaces(commander));
  report.deletedNamespaces = names.filter((n) => !after.has(n));
  report.remaining = [...after].filter((n) => names.includes(n));
  for (const path of plan.removeLedgers) {
    const prefix = basename(path).slice(0, 6);
    if ([...after].some((n) => n.startsWith(`${prefix}-`))) continue; // keep it: something is left
    try {
      await rm(path, { force: true });
      report.removedLedgers.push(path);
    } catch (e) {
      report.errors.push(`remove ${path}: ${String(e)}`);
    }
  }
  if (opts.docker) {
    report.docker = await runDockerClean(opts);
    report.errors.push(...(report.docker?.errors ?? []).map((e) => `docker: ${e}`));
  }
  for (const d of report.workDirs?.plan.remove ?? []) {
    try {
      await removeWorkDir(d.path);
      report.workDirs!.removed.push(d.path);
    } catch (e) {
      report.errors.push(`remove ${d.path}: ${String(e)}`);
    }
  }
  return report;
}

/** The human summary of a clean (or of its plan, for a dry run). */
export function formatCleanReport(r: CleanReport): string {
  const lines: string[] = [];
  const p = r.plan;
  if (r.dryRun) {
    for (const k of p.kill) lines.push(`would kill pid ${k.pid} (${k.reason})`);
    for (const l of p.deleteLinks) lines.push(`would delete ${l.ns}/${l.name} (${l.reason})`);
    for (const n of p.deleteNamespaces) lines.push(`would delete namespace ${n.name} (${n.reason})`);
    for (const f of p.removeLedgers) lines.push(`would remove ledger ${f}`);
    for (const d of r.workDirs?.plan.remove ?? []) lines.push(`would remove work folder ${d.path} (${d.reason})`);
  } else {
    if (r.killed.length > 0) lines.push(`killed ${r.killed.length} process(es): ${r.killed.join(' ')}`);
    if (r.deletedLinks.length > 0) lines.push(`deleted ${r.deletedLinks.length} interface(s): ${r.deletedLinks.join(' ')}`);
    if (r.deletedNamespaces.length > 0) lines.push(`deleted ${r.deletedNamespaces.length} namespace(s): ${r.deletedNamespaces.join(' ')}`);
    if (r.removedLedgers.length > 0) lines.push(`removed ${r.removedLedgers.length} ledger(s): ${r.removedLedgers.join(' ')}`);
    if (r.workDirs && r.workDirs.removed.length > 0) lines.push(`removed ${r.workDirs.removed.length} work folder(s) of labs that are gone: ${r.workDirs.removed.join(' ')}`);
  }
  for (const s of p.skipped) lines.push(`skipped ${s.what}: ${s.reason}`);
  // (A live lab's work folder is not worth a line: it is plainly in use.)
  const unowned = r.workDirs?.plan.unowned ?? [];
  if (unowned.length > 0) lines.push(`left ${unowned.length} work folder(s) without an owner marker (kept with --keep, or from an older version; remove by hand): ${unowned.join(' ')}`);
  if (r.docker) lines.push(...formatDockerClean({ ...r.docker, errors: [] }, r.dryRun === true)); // its errors are in r.errors
  if (r.remaining.length > 0) lines.push(`STILL PRESENT: ${r.remaining.join(' ')}`);
  for (const e of r.errors) lines.push(`error: ${e}`);
  if (lines.length === 0) lines.push('nothing to clean');
  return lines.join('\n');
}
