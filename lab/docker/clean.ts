/**
 * The Docker part of `fanout clean`: remove the containers and networks a killed lab run left
 * (found by the lab's labels, which are this backend's ledger), and nothing else.
 *
 * planDockerClean (pure) decides:
 *   - every container and network labelled `org.fanout-lab.run=<prefix>` is removed, unless its
 *     owner (the labelled pid, still running the labelled argv) is alive: that is a run in
 *     progress, skipped unless `force`;
 *   - the exchange folder a run's network names in its labels (lab/docker/exchange.ts), when it
 *     is named like one;
 *   - a process of this machine running inside a lab container's network namespace but outside
 *     the container (a sender started with nsenter whose lab was killed) is killed, if its argv
 *     mentions fanout; processes inside the container die with it.
 * Objects without the lab's labels are never looked at: the engine is asked only for labelled ones.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import { isFanoutCmdline, realProcessOps, sameProcess, type ProcessOps } from '../netns/teardown.js';
import { LABEL_RUN, ownerOf, runFilter } from './plan.js';
import { LABEL_EXCHANGE, isExchangePath, removeExchange } from './exchange.js';
import { removeNetwork, removeObjects } from './remove.js';

/** A labelled container as clean sees it. */
export interface LabContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Its main process on this machine (0 when not running). */
  pid: number;
}

/** A labelled network. */
export interface LabNetworkInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface DockerCleanInputs {
  containers: readonly LabContainerInfo[];
  networks: readonly LabNetworkInfo[];
  /** argv of each owner pid and each pid found in a lab container's namespace (null = no such process). */
  cmdlines: ReadonlyMap<number, string[] | null>;
  /** Start time (/proc/<pid>/stat field 22) of each pid (null = gone; missing = unknown). */
  startTimes?: ReadonlyMap<number, number | null>;
  /** Per container id: pids of this machine's processes in its network namespace but not in the container. */
  strayPids?: ReadonlyMap<string, readonly number[]>;
  force?: boolean;
  selfPid?: number;
  prefixes?: readonly string[];
}

export interface DockerCleanPlan {
  /** `startTime`: the process's start time when planned; it is killed only if it still is. */
  kill: { pid: number; reason: string; startTime?: number }[];
  removeContainers: { id: string; name: string; reason: string }[];
  /** With the exchange folder its labels name (lab/docker/exchange.ts), if any. */
  removeNetworks: { id: string; name: string; reason: string; exchange?: string }[];
  skipped: { what: string; reason: string }[];
}

/** Decide what to remove. Pure. */
export function planDockerClean(inputs: DockerCleanInputs): DockerCleanPlan {
  const plan: DockerCleanPlan = { kill: [], removeContainers: [], removeNetworks: [], skipped: [] };
  const live = new Map<string, boolean>();
  const inUse = (labels: Record<string, string>): boolean => {
    const run = labels[LABEL_RUN] ?? '';
    const cached = live.get(run);
    if (cached !== undefined) return cached;
    const owner = ownerOf(labels);
    let alive = false;
    if (owner !== null && !inputs.force && owner.pid !== inputs.selfPid) {
      const argv = inputs.cmdlines.get(owner.pid) ?? null;
      alive = argv !== null && isFanoutCmdline(argv, owner.cmdline);
    }
    live.set(run, alive);
    return alive;
  };
  const inScope = (labels: Record<string, string>): boolean => {
    const run = labels[LABEL_RUN];
    return run !== undefined && /^fl[0-9a-f]{4}$/.test(run) && (inputs.prefixes === undefined || inputs.prefixes.includes(run));
  };
  for (const c of inputs.containers) {
    if (!inScope(c.labels)) continue;
    const run = c.labels[LABEL_RUN]!;
    if (inUse(c.labels)) {
      plan.skipped.push({ what: `container ${c.name}`, reason: `run ${run} is in use by live pid ${ownerOf(c.labels)!.pid} (use --force)` });
      continue;
    }
    for (const pid of inputs.strayPids?.get(c.id) ?? []) {
      const argv = inputs.cmdlines.get(pid) ?? null;
      if (pid === inputs.selfPid || argv === null) continue;
      if (isFanoutCmdline(argv)) {
        const k: DockerCleanPlan['kill'][number] = { pid, reason: `running in lab container ${c.name}'s network namespace` };
        const t = inputs.startTimes?.get(pid);
        if (t !== undefined && t !== null) k.startTime = t;
        plan.kill.push(k);
      }
      else plan.skipped.push({ what: `pid ${pid}`, reason: `in ${c.name}'s network namespace but not a fanout process: ${argv.join(' ').slice(0, 80)}` });
    }
    plan.removeContainers.push({ id: c.id, name: c.name, reason: `labelled run ${run}` });
  }
  for (const n of inputs.networks) {
    if (!inScope(n.labels)) continue;
    const run = n.labels[LABEL_RUN]!;
    if (inUse(n.labels)) {
      plan.skipped.push({ what: `network ${n.name}`, reason: `run ${run} is in use (use --force)` });
      continue;
    }
    const exchange = n.labels[LABEL_EXCHANGE];
    plan.removeNetworks.push({ id: n.id, name: n.name, reason: `labelled run ${run}`, ...(exchange !== undefined && isExchangePath(exchange) ? { exchange } : {}) });
  }
  return plan;
}

/** Pids of this machine's processes in the network namespace of `pid` but outside its container. */
async function strayPidsOf(pid: number, containerId: string): Promise<number[]> {
  let ns;
  try {
    ns = await stat(`/proc/${pid}/ns/net`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = await stat(`/proc/${e}/ns/net`);
      if (s.ino !== ns.ino || s.dev !== ns.dev) continue;
      if ((await readFile(`/proc/${e}/cgroup`, 'utf8')).includes(containerId)) continue;
      out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Ask the engine (labelled objects only) and /proc for planDockerClean's inputs. */
export async function gatherDockerClean(docker: Dockerode, opts: { force?: boolean; prefixes?: readonly string[]; processOps?: ProcessOps } = {}): Promise<DockerCleanInputs> {
  const ops = opts.processOps ?? realProcessOps;
  const filters = JSON.stringify(runFilter());
  const [list, nets] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })]);
  const containers: LabContainerInfo[] = [];
  const strayPids = new Map<string, number[]>();
  const pids = new Set<number>();
  for (const c of list) {
    let pid = 0;
    if (c.State === 'running') {
      try {
        pid = (await docker.getContainer(c.Id).inspect()).State.Pid;
      } catch {
        pid = 0;
      }
    }
    containers.push({ id: c.Id, name: (c.Names[0] ?? c.Id).replace(/^\//, ''), labels: c.Labels ?? {}, pid });
    if (pid > 1) {
      const stray = await strayPidsOf(pid, c.Id);
      strayPids.set(c.Id, stray);
      for (const p of stray) pids.add(p);
    }
    const owner = ownerOf(c.Labels);
    if (owner) pids.add(owner.pid);
  }
  const networks: LabNetworkInfo[] = nets.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
  for (const n of networks) {
    const owner = ownerOf(n.labels);
    if (owner) pids.add(owner.pid);
  }
  const cmdlines = new Map<number, string[] | null>();
  const startTimes = new Map<number, number | null>();
  for (const p of pids) {
    cmdlines.set(p, await ops.readCmdline(p));
    if (ops.readStartTime) startTimes.set(p, await ops.readStartTime(p));
  }
  const inputs: DockerCleanInputs = { containers, networks, cmdlines, startTimes, strayPids, selfPid: process.pid };
  if (opts.force) inputs.force = true;
  if (opts.prefixes !== undefined) inputs.prefixes = opts.prefixes;
  return inputs;
}

/** What the Docker part of clean did. */
export interface DockerCleanReport {
  plan: DockerCleanPlan;
  killed: number[];
  removedContainers: string[];
  removedNetworks: string[];
  /** Exchange folders removed. */
  removedFolders: string[];
  errors: string[];
}

/** Carry out a plan: kill strays, remove containers, then networks. */
export async function executeDockerClean(docker: Dockerode, plan: DockerCleanPlan, ops: ProcessOps = realProcessOps): Promise<DockerCleanReport> {
  const report: DockerCleanReport = { plan, killed: [], removedContainers: [], removedNetworks: [], removedFolders: [], errors: [] };
  for (const k of plan.kill) {
    if (!(await sameProcess(k.pid, k.startTime, ops))) continue; // pid reused since the plan
    try {
      ops.kill(k.pid, 'SIGKILL');
      report.killed.push(k.pid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') report.errors.push(`kill ${k.pid}: ${String(e)}`);
    }
  }
  // The safe order (remove.ts): every container off each network one at a time, the containers
  // removed meanwhile; the networks are removed below, one by one, to report each.
  const errors = await removeObjects(docker, plan.removeContainers.map((c) => c.id), plan.removeNetworks.map((n) => n.id), { removeNetworks: false });
  report.errors.push(...errors);
  const failed = new Set(errors.map((e) => e.slice(0, 12)));
  report.removedContainers = plan.removeContainers.filter((c) => !failed.has(c.id.slice(0, 12))).map((c) => c.name);
  for (const n of plan.removeNetworks) {
    const err = await removeNetwork(docker, n.id);
    if (err === null) report.removedNetworks.push(n.name);
    else report.errors.push(`network ${n.name}: ${err}`);
    if (err === null && n.exchange !== undefined) {
      await removeExchange(n.exchange).then(
        () => report.removedFolders.push(n.exchange!),
        (e: unknown) => report.errors.push(String(e)),
      );
    }
  }
  return report;
}

/** The human lines of a Docker clean (or of its plan, for a dry run). */
export function formatDockerClean(r: DockerCleanReport, dryRun: boolean): string[] {
  const lines: string[] = [];
  const p = r.plan;
  if (dryRun) {
    for (const k of p.kill) lines.push(`would kill pid ${k.pid} (${k.reason})`);
    for (const c of p.removeContainers) lines.push(`would remove container ${c.name} (${c.reason})`);
    for (const n of p.removeNetworks) lines.push(`would remove network ${n.name} (${n.reason})${n.exchange ? ` and folder ${n.exchange}` : ''}`);
  } else {
    if (r.killed.length > 0) lines.push(`killed ${r.killed.length} process(es) in lab containers' namespaces: ${r.killed.join(' ')}`);
    if (r.removedContainers.length > 0) lines.push(`removed ${r.removedContainers.length} container(s): ${r.removedContainers.join(' ')}`);
    if (r.removedNetworks.length > 0) lines.push(`removed ${r.removedNetworks.length} Docker network(s): ${r.removedNetworks.join(' ')}`);
    if (r.removedFolders.length > 0) lines.push(`removed ${r.removedFolders.length} exchange folder(s): ${r.removedFolders.join(' ')}`);
  }
  for (const s of p.skipped) lines.push(`skipped ${s.what}: ${s.reason}`);
  for (const e of r.errors) lines.push(`error: ${e}`);
  return lines;
}

/**
 * The Docker part of `fanout clean` end to end: nothing when no engine answers (null), else
 * plan and (unless `dryRun`) carry out. Strays are looked for only when the engine is local.
 */
export async function runDockerClean(opts: { dryRun?: boolean; force?: boolean; prefixes?: readonly string[]; processOps?: ProcessOps } = {}): Promise<DockerCleanReport | null> {
  const { probeDockerEngine } = await import('../doctor.js');
  const { connectEngine, remoteEngineReason } = await import('./engine.js');
  const probe = await probeDockerEngine(process.env.DOCKER_HOST, 1000);
  if (!probe.ok) return null;
  const { docker } = await connectEngine();
  const gatherOpts: { force?: boolean; prefixes?: readonly string[]; processOps?: ProcessOps } = {};
  if (opts.force) gatherOpts.force = true;
  if (opts.prefixes !== undefined) gatherOpts.prefixes = opts.prefixes;
  if (opts.processOps !== undefined) gatherOpts.processOps = opts.processOps;
  const inputs = await gatherDockerClean(docker, gatherOpts);
  if (remoteEngineReason(process.env.DOCKER_HOST) !== null) inputs.strayPids = new Map();
  const plan = planDockerClean(inputs);
  if (opts.dryRun) return { plan, killed: [], removedContainers: [], removedNetworks: [], removedFolders: [], errors: [] };
  return executeDockerClean(docker, plan, opts.processOps);
}
