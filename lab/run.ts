/**
 * A scenario, end to end: load and check it, pick a backend, make the source file, build the
 * network once, run every strategy and repeat on it (rebuilding only if a run breaks it), tear
 * down in `finally` and on signals, then medians, checks and the results folder.
 */
import type { Fidelity } from './fidelity.js';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { cpus, hostname, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { RealCommander, type Commander } from './commander.js';
import { BackendUnavailableError, chooseBackend, detectCapabilities, hasTool, type Capabilities } from './doctor.js';
import type { EmulatedNetwork } from './hosts.js';
import { NetnsNetwork } from './netns/backend.js';
import { NetnsHosts } from './netns/hosts.js';
import { installTeardownOnSignals } from './netns/signals.js';
import { computeMedians } from './results/stats.js';
import { defaultResultsDir, writeResults } from './results/write.js';
import { fillBytes } from './rng.js';
import { resolveContender, type Contender, type Protocol } from './protocols/index.js';
import { ProcessPool, runOnce, RunError } from './runner.js';
import { HANDICAP_ENV, parseHandicap } from '../sender/strategies/handicap.js';
import { loadScenario, type ScenarioCaps } from './scenario/index.js';
import { checkScenarioLimits } from './scenario/limits.js';
import { checkLabDisk } from './diskspace.js';
import { makeWorkDir, releaseWorkDir } from './workdir.js';
import type { BackendChoice, BackendName, ContenderName, Environment, RunResult, ScenarioResults, Topology } from './types.js';

/**
 * Concurrent shaped traffic this 2-core machine emulates faithfully with the whole lab running
 * (64 receiver processes, the sender, HTB with 8-segment GSO): measured, the sender reached its
 * 200 Mbit/s limit with a fifth of the CPU idle, but only ~300 of 400 Mbit/s. LAB-NOTES' 1 Gbit/s
 * was iperf-like traffic with full GSO, which HTB does not shape honestly (lab/netns/commands.ts).
 */
export const FAITHFUL_SHAPED_BPS = 300e6;

export interface LabOptions {
  scenarioPath: string;
  /** Contenders to run (names as in a scenario's `strategies`). */
  strategies?: ContenderName[];
  repeat?: number;
  /** Repeats once the backend is known (the regression gate repeats emulated runs, not simulated ones). */
  repeatFor?: (backend: BackendName) => number;
  out?: string;
  backend?: BackendChoice;
  keep?: boolean;
  commander?: Commander;
  /** Progress lines for a person. */
  log?: (line: string) => void;
  /** Live status (a TTY line), or null. */
  status?: ((line: string) => void) | null;
  /** Already detected (tests, doctor). */
  caps?: Capabilities;
  /** How the topology is read (default: loadScenario of scenarioPath); a sweep passes one point's. */
  load?: (caps: ScenarioCaps) => Topology;
}

export interface LabOutcome {
  results: ScenarioResults;
  outDir: string;
  files: string[];
  /** Failed checks: `strategy: efficiency X > threshold Y`. */
  checkFailures: string[];
  /** Runs in which a receiver failed or a fragment did not verify. */
  brokenRuns: number;
}

/** Faithfulness: the most traffic that is shaped at once, against what this machine can do. */
export function fidelityWarnings(t: Topology): string[] {
  const downs = t.receivers.map((r) => r.downBps).sort((a, b) => b - a);
  let concurrent: number;
  if (t.transfer.job === 'fragments') {
    const widest = downs.slice(0, t.transfer.width).reduce((a, b) => a + b, 0);
    concurrent = Math.min(widest, t.transfer.rateKbps * 1000, t.sender.upBps);
  } else {
    // Every node may upload at once: the source's and every receiver's up links, bounded by the downs.
    const ups = t.sender.upBps + t.receivers.reduce((a, r) => a + r.upBps, 0);
    concurrent = Math.min(ups, downs.reduce((a, b) => a + b, 0));
  }
  if (concurrent <= FAITHFUL_SHAPED_BPS) return [];
  return [
    `fidelity: up to ${(concurrent / 1e6).toFixed(0)} Mbit/s of shaped traffic at once, above the ~${FAITHFUL_SHAPED_BPS / 1e6} Mbit/s this machine shapes within 5 % (LAB-NOTES); expect rate errors and optimistic makespans`,
  ];
}

export function environment(): Environment {
  let gitCommit: string | null = null;
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    gitCommit = null;
  }
  return { kernel: release(), qdisc: 'htb', node: process.version, gitCommit, cpus: cpus().length, hostname: hostname() };
}

/** Writes the scenario's source file from its seed, in blocks (never the whole file in memory). */
export function writeSeededFile(path: string, sizeBytes: number, seed: number): void {
  const fd = openSync(path, 'w');
  const block = Buffer.allocUnsafe(4 << 20);
  try {
    for (let at = 0; at < sizeBytes; at += block.length) {
      const n = Math.min(block.length, sizeBytes - at);
      fillBytes(block.subarray(0, n), seed, at);
      writeSync(fd, block, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

interface NetworkNeeds {
  /** The protocols the contenders run (docker: one with programs of its own gets its own image). */
  protocols: Protocol<unknown>[];
  services: string[];
  impairments: 'netem' | 'nftables';
  /** The lab's work folder (docker: bind-mounted into protocol containers at the same path). */
  workDir: string;
}

async function buildNetwork(
  backend: BackendName,
  t: Topology,
  commander: Commander,
  needs: NetworkNeeds,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<EmulatedNetwork> {
  if (backend === 'netns') return new NetnsHosts(await NetnsNetwork.up(t, { commander, services: needs.services, impairments: needs.impairments }));
  if (backend === 'docker') {
    // Loaded only here: testcontainers costs ~0.2 s to import and netns runs never need it.
    const { DockerNetwork } = await import('./docker/backend.js');
    // Protocols with programs of their own (bittorrent) run in containers of their own image.
    const sourceMounts = t.file.kind === 'path' ? [dirname(resolve(t.file.path))] : [];
    return DockerNetwork.up(t, { commander, log, services: needs.services, protocols: needs.protocols, mounts: [needs.workDir], sourceMounts });
  }
  throw new RunError(`the ${backend} backend is not available in this version of the lab yet; use --backend netns (as root)`);
}

export async function runLab(o: LabOptions): Promise<LabOutcome> {
  const log = o.log ?? (() => {});
  const status = o.status ?? null;
  const commander = o.commander ?? new RealCommander();
  // Every problem the file itself has is reported before the kernel is probed (the probe makes a
  // throwaway namespace); then what this machine can do (netem, nftables) is checked against it.
  const load = o.load ?? ((c: ScenarioCaps): Topology => loadScenario(o.scenarioPath, c));
  if (!o.caps) load({ netem: true, nftables: true, hasTool });
  const caps = o.caps ?? (await detectCapabilities(commander));
  const topology = load({ netem: caps.netem.ok, nftables: caps.nftables?.ok ?? false, hasTool });
  if (o.strategies) topology.strategies = o.strategies;
  if (o.repeat) topology.repeat = o.repeat;
  const contenders: Contender[] = topology.strategies.map((name) => {
    const c = resolveContender(name, topology.transfer.job);
    if ('error' in c) throw new BackendUnavailableError(`--strategies: ${c.error}`);
    return c;
  });
  const chosen = chooseProtocolBackend(o.backend ?? topology.backend, caps, contenders);
  const simulated = chosen.backend === 'sim';
  if (topology.transfer.authKey && chosen.backend === 'docker') {
    throw new BackendUnavailableError("transfer.authKey runs on netns only: the docker backend's receiver containers are started once, with fixed arguments");
  }
  if ((topology.sites ?? []).length > 0 && chosen.backend === 'docker') {
    throw new BackendUnavailableError('sites are not supported on docker yet; use netns or sim');
  }
  checkScenarioLimits(topology, chosen.backend, o.scenarioPath);
  if (!simulated) checkLabDisk(tmpdir(), topology.file, o.scenarioPath, topology.transfer.job === 'whole-file' ? topology.receivers.length : 1);
  log(
    `scenario ${topology.name}: ${topology.receivers.length} receivers, backend ${chosen.backend}${simulated ? ' (SIMULATED: no real network)' : ''} (${chosen.reason})`,
  );
  if (!o.repeat && o.repeatFor) topology.repeat = o.repeatFor(chosen.backend);
  const warnings = simulated ? [] : fidelityWarnings(topology);
  const handicap = parseHandicap(process.env[HANDICAP_ENV]);
  if (handicap) {
    warnings.push(`${HANDICAP_ENV}=${process.env[HANDICAP_ENV]}: ${handicap.strategy} is deliberately slowed (node ${handicap.node} waits ${handicap.untilMs} ms)`);
  }
  for (const w of warnings) log(`warning: ${w}`);

  const workDir = makeWorkDir(topology.name);
  const needs: NetworkNeeds = {
    protocols: [...new Set(contenders.map((c) => c.protocol))],
    services: [...new Set(contenders.flatMap((c) => c.protocol.services))],
    impairments: caps.netem.ok ? 'netem' : 'nftables',
    workDir,
  };
  let net: EmulatedNetwork | null = null;
  // Node programs kept across runs on this network (fragment receivers): stopped before it goes down.
  let pool = new ProcessPool();
  const teardown = async (): Promise<void> => {
    const n = net;
    net = null;
    const p = pool;
    pool = new ProcessPool();
    await p.stopAll().catch(() => {});
    if (n) await n.down();
    releaseWorkDir(workDir, o.keep === true);
  };
  // A signal tears the lab down and then exits the process (130/143): a run that ends because its
  // programs were killed meanwhile is not a result, so nothing after it may be written or reported.
  let interrupted = false;
  const uninstall = installTeardownOnSignals(async () => {
    interrupted = true;
    await teardown();
  });
  const unlessInterrupted = async (): Promise<void> => {
    if (interrupted) await new Promise<never>(() => {}); // the signal handler exits once teardown is done
  };
  const startedAt = new Date();
  const runs: RunResult[] = [];
  try {
    let srcFile = '';
    if (simulated) {
      // No bytes move: no source file, no network.
    } else if (topology.file.kind === 'size') {
      srcFile = join(workDir, 'src.bin');
      writeSeededFile(srcFile, topology.file.sizeBytes, topology.seed);
    } else {
      srcFile = topology.file.path;
    }
    const total = topology.strategies.length * topology.repeat;
    let k = 0;
    for (const contender of contenders) {
      const strategy = contender.name;
      const options = topology.transfer.options[contender.protocol.name];
      for (let repeat = 1; repeat <= topology.repeat; repeat++) {
        k++;
        // A signal tore the network down while the last run was ending: start nothing more (the
        // loop built a fresh network here once, which the exiting process then left behind).
        await unlessInterrupted();
        if (simulated) {
          const r = contender.protocol.simulate!(topology, contender.variant, strategy, repeat, topology.sim ?? {});
          runs.push(r);
          log(`[${k}/${total}] ${strategy} repeat ${repeat}/${topology.repeat}: makespan ${r.makespanS.toFixed(2)} s (simulated), bound ${r.lowerBoundS.toFixed(2)} s, efficiency ${r.efficiency.toFixed(3)}` + probeNote(r));
          continue;
        }
        if (net === null) {
          const t0 = performance.now();
          net = await buildNetwork(chosen.backend, topology, commander, needs, log);
          log(`network ${net.prefix} up in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
        }
        const label = `[${k}/${total}] ${strategy} repeat ${repeat}/${topology.repeat}`;
        let done = 0;
        const t0 = performance.now();
        status?.(`${label}: starting the nodes' programs`);
        const onEvent = (ev: { kind: string }, doneCount: number): void => {
          done = doneCount;
          if (ev.kind === 'done' || ev.kind === 'first-byte') {
            status?.(`${label}: ${done}/${topology.receivers.length} receivers done, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          }
        };
        const runOpts = { topology, protocol: contender.protocol, options, contender: strategy, variant: contender.variant, repeat, srcFile, workDir, keep: o.keep ?? false, onEvent, pool };
        let r: RunResult;
        try {
          r = await runOnce(net, runOpts);
        } catch (err) {
          // A run that breaks (a receiver that will not start, a sender that dies): tear the network
          // down, build a fresh one and try this run once more; a second failure ends the lab.
          // A signal's teardown may already have taken the network away: then stop here.
          if (net === null) throw err;
          log(`${label}: run broke (${(err as Error).message.split('\n')[0]}); rebuilding the network and retrying once`);
          const broken: EmulatedNetwork = net;
          net = null;
          await pool.stopAll().catch(() => {});
          await broken.down();
          net = await buildNetwork(chosen.backend, topology, commander, needs, log);
          log(`network ${net.prefix} up`);
          done = 0;
          try {
            r = await runOnce(net, runOpts);
          } catch (again) {
            throw new RunError(`${label} failed twice, on two networks: ${(again as Error).message}`);
          }
        }
        runs.push(r);
        const fid = r.fidelity;
        log(
          `${label}: makespan ${r.makespanS.toFixed(2)} s, bound ${r.lowerBoundS.toFixed(2)} s, efficiency ${r.efficiency.toFixed(3)}` +
            (r.launchS !== undefined ? ` (programs up and ready in ${r.launchS.toFixed(2)} s before the start` + (fid ? `, ${fidelityNote(fid)})` : ')') : '') +
            probeNote(r) +
            (r.failedReceivers ? `, ${r.failedReceivers} receivers FAILED` : ''),
        );
        if (fid?.starved) {
          const w = `${label}: NOT A FAITHFUL MEASUREMENT: ${fid.reasons.join('; ')}`;
          log(`warning: ${w}`);
          warnings.push(w);
        }
      }
    }
  } catch (err) {
    await unlessInterrupted();
    throw err;
  } finally {
    if (!interrupted) uninstall();
    await teardown();
  }
  await unlessInterrupted();
  const results: ScenarioResults = {
    scenario: topology,
    backend: chosen.backend,
    backendReason: chosen.reason,
    simulated,
    environment: environment(),
    startedAt: startedAt.toISOString(),
    warnings,
    runs,
    medians: computeMedians(runs),
  };
  const outDir = o.out ?? defaultResultsDir(topology.name, startedAt);
  const written = await writeResults(results, outDir);
  const checkFailures: string[] = [];
  for (const [strategy, max] of Object.entries(topology.check?.efficiency ?? {})) {
    const m = results.medians[strategy];
    if (m && max !== undefined && m.efficiency > max) {
      checkFailures.push(`${strategy}: median efficiency ${m.efficiency.toFixed(3)} > allowed ${max}`);
    }
  }
  return { results, outDir, files: written.files, checkFailures, brokenRuns: runs.filter((r) => r.failedReceivers > 0).length };
}

/** One clause for the run line: how long the lab waited for quiet, the source's wait for a core, the links' start lag. */
/** ", probes: 12 parks (12 set-ups again), 1.0 MiB probe bytes, set-up 1.2 ms" for a strategy that probes; "" otherwise. */
export function probeNote(r: Pick<RunResult, 'probe'>): string {
  const p = r.probe;
  if (!p) return '';
  const mib = (p.probeBytes / 1048576).toFixed(1);
  return `, probes: ${p.parks} parks (${p.extraSetups} set-ups again), ${mib} MiB probe bytes` + (p.setupMs === null ? '' : `, set-up ${p.setupMs} ms`);
}

export function fidelityNote(f: Fidelity): string {
  const parts = [`quiet after ${f.quietWaitS.toFixed(2)} s` + (f.busyAtStart === null ? '' : ` (${(f.busyAtStart * 100).toFixed(0)} % busy)`)];
  if (f.sourceWaitShare !== null) parts.push(`source waited ${(f.sourceWaitShare * 100).toFixed(1)} % for a core`);
  if (f.startLagMedianS !== null) parts.push(`first bytes ${f.startLagMedianS.toFixed(2)}/${f.startLagMaxS!.toFixed(2)} s median/last`);
  return parts.join(', ');
}

/**
 * The backend for these contenders: the scenario's or the flag's choice, narrowed to what every
 * contender's protocol can run on. A protocol without a simulation never runs on the simulator:
 * `--backend sim` is refused, and `auto` does not fall back to it.
 */
export function chooseProtocolBackend(
  choice: BackendChoice,
  caps: Pick<Capabilities, 'backends'>,
  contenders: readonly Contender[],
): { backend: BackendName; reason: string } {
  const noSim = contenders.filter((c) => !c.protocol.simulate || c.protocol.canSimulate?.(c.variant) === false).map((c) => c.name);
  const narrowed = { backends: { ...caps.backends } };
  if (noSim.length > 0) {
    narrowed.backends.sim = { usable: false, reason: `the flow simulator has no model of ${noSim.join(', ')} yet` };
  }
  for (const b of ['netns', 'docker'] as const) {
    const cannot = contenders.filter((c) => !c.protocol.backends.includes(b)).map((c) => c.name);
    if (cannot.length > 0 && narrowed.backends[b].usable) narrowed.backends[b] = { usable: false, reason: `${cannot.join(', ')} cannot run on ${b} in this version` };
  }
  return chooseBackend(choice, narrowed);
}
