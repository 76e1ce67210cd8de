/**
 * One run of one contender on a network that is up, for any protocol plug-in (lab/protocols):
 * fresh folders, the plug-in's files, its phases started in order (each ready before the next),
 * every stdout line turned into per-node events on the machine's one clock, timed link events
 * from the transfer's origin, the end (every driver exited, or every receiver done or failed, or
 * the time limit), every process's CPU and memory read before it is stopped, then every
 * receiver's output verified byte for byte and the figures computed against the bound.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RunError, nodeLabel, type EmulatedNetwork, type RunningReceivers } from './hosts.js';
import { mapLimit } from './netns/backend.js';
import { treePids, treeUsage, type Usage } from './proc-usage.js';
import { cpuPressureUs, judge, medianOf, runQueueWaitS, waitForQuiet, type QuietWait } from './fidelity.js';
import type { NodeEvent, ProcessSpec, Protocol, RunContext } from './protocols/types.js';
import { contenderDir, type ReceiverResult, type RunResult, type Topology } from './types.js';
import type { ChildProcess } from 'node:child_process';

export { RunError } from './hosts.js';

/** Programs started at once within a phase: node's start-up is CPU-bound, two cores gain nothing from more. */
const START_CONCURRENCY = 16;
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3000;

/**
 * Node programs that outlive a run: a ProcessSpec with a `reuse` key is started once per network
 * and handed to every later run whose spec has the same key and argv (the fragment receivers:
 * `fanout receive` serves one transfer after another). So a run does not pay for, or compete with,
 * 64 programs starting. A pooled program that has exited is started afresh.
 */
export class ProcessPool {
  readonly entries = new Map<string, Live>();
  static key(spec: ProcessSpec): string {
    return `${spec.reuse}\0${spec.argv.join('\0')}\0${JSON.stringify(spec.env ?? {})}`;
  }
  take(spec: ProcessSpec): Live | undefined {
    const key = ProcessPool.key(spec);
    const e = this.entries.get(key);
    if (e && e.exitCode === undefined) return e;
    this.entries.delete(key);
    return undefined;
  }
  put(e: Live): void {
    this.entries.set(ProcessPool.key(e.spec), e);
  }
  get size(): number {
    return this.entries.size;
  }
  /** Stops every pooled program (the network is going down or the lab is done). */
  async stopAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => stopLive(e)));
  }
}

async function stopLive(e: Live): Promise<void> {
  if (e.group) return e.group.stop();
  const p = e.proc!;
  if (e.exitCode !== undefined) return;
  p.kill(e.spec.stop);
  const kill = setTimeout(() => p.kill('SIGKILL'), STOP_GRACE_MS);
  await e.exited;
  clearTimeout(kill);
}

export interface RunOptions {
  topology: Topology;
  protocol: Protocol<unknown>;
  options: unknown;
  /** As the scenario wrote it. */
  contender: string;
  variant: string;
  repeat: number;
  srcFile: string;
  workDir: string;
  keep?: boolean;
  /** Called on every node event (progress display). */
  onEvent?: (ev: NodeEvent, doneCount: number) => void;
  /** Give up after this long from the origin (default: max(60 s, 20 x the bound)). */
  timeoutS?: number;
  /** Wait for the machine to be quiet before the transfer starts (default true; tests may skip it). */
  waitQuiet?: boolean;
  /** Programs kept across runs on this network (specs with `reuse`); without it every program is fresh. */
  pool?: ProcessPool;
}

interface Live {
  spec: ProcessSpec;
  proc: ChildProcess | null;
  group?: RunningReceivers;
  exited: Promise<number | null>;
  exitCode?: number | null;
  stderr: string;
  usage?: Usage;
  /** The run it belongs to now (a pooled program serves one run after another). */
  onLine: (line: string) => void;
  onExit: () => void;
  /** Kept in the network's pool after this run (not stopped). */
  pooled?: boolean;
  /** CPU seconds of its tree when this run took it over (pooled programs: the run's share is the difference). */
  cpuAtStartS?: number;
  /** Run-queue wait of its tree, s, as last sampled while it ran (source programs only). */
  waitS?: number;
  /** When its CPU and memory were last sampled (Date.now()). */
  usageAtMs?: number;
}

interface NodeState {
  startMs: number | null;
  firstByteMs: number | null;
  doneMs: number | null;
  error: string | null;
  downBytes: number;
  upBytes: number;
  counters?: Record<string, number>;
  controlBytes?: number;
  duplicateChunks?: number;
}


export async function runOnce(net: EmulatedNetwork, o: RunOptions): Promise<RunResult> {
  const t = o.topology;
  const proto = o.protocol;
  const runDir = join(o.workDir, `${contenderDir(o.contender)}-${o.repeat}`);
  rmSync(runDir, { recursive: true, force: true });
  const nodeDirs = t.receivers.map((r) => join(runDir, `rx${r.index}`));
  for (const d of nodeDirs) mkdirSync(d, { recursive: true });
  // Folders that live as long as the network's pool (a pooled receiver stores there run after run).
  const poolDirs = o.pool ? t.receivers.map((r) => join(o.workDir, `pool-${proto.name}`, `rx${r.index}`)) : nodeDirs;
  if (o.pool) for (const d of poolDirs) mkdirSync(d, { recursive: true });
  const fileBytes = statSync(o.srcFile).size;
  const ctx: RunContext = {
    topology: t,
    variant: o.variant,
    contender: o.contender,
    options: o.options,
    repeat: o.repeat,
    srcFile: o.srcFile,
    fileBytes,
    runDir,
    nodeDir: (i) => nodeDirs[i]!,
    poolDir: (i) => poolDirs[i]!,
    address: (n) => net.address(n),
    runId: randomBytes(16).toString('hex'),
  };
  const bound = proto.lowerBound(t, o.options, fileBytes, o.variant);
  const nodes: NodeState[] = t.receivers.map(() => ({ startMs: null, firstByteMs: null, doneMs: null, error: null, downBytes: 0, upBytes: 0 }));
  const live: Live[] = [];
  const timers: NodeJS.Timeout[] = [];
  const eventErrors: string[] = [];
  let originMs: number | null = null;
  let launchStartMs: number | null = null;
  let endedAtMs: number | null = null;
  let doneCount = 0;
  let wake: () => void = () => {};
  const settled = (): boolean => nodes.every((n) => n.doneMs !== null || n.error !== null);

  const setOrigin = (ms: number): void => {
    if (originMs !== null) return;
    originMs = ms;
    for (const le of t.events) {
      timers.push(setTimeout(() => net.applyEvent(le).catch((err: unknown) => eventErrors.push(String(err))), Math.max(0, ms + le.atMs - Date.now())));
    }
  };
  const onNodeEvent = (ev: NodeEvent): void => {
    const ms = ev.wallMs ?? Date.now();
    if (ev.kind === 'origin') return setOrigin(ms);
    if (ev.child) {
      const node = ev.node < 0 ? ({ role: 'source' } as const) : ({ role: 'receiver', index: ev.node } as const);
      net.adopt(node, ev.child.pid, ev.child.argv).catch((err: unknown) => eventErrors.push(`recording ${ev.child!.pid}: ${String(err)}`));
    }
    const n = nodes[ev.node];
    if (n === undefined) return;
    if (ev.downBytes !== undefined) n.downBytes = ev.downBytes;
    if (ev.upBytes !== undefined) n.upBytes = ev.upBytes;
    if (ev.counters !== undefined) n.counters = ev.counters;
    if (ev.controlBytes !== undefined) n.controlBytes = ev.controlBytes;
    if (ev.duplicateChunks !== undefined) n.duplicateChunks = ev.duplicateChunks;
    if (ev.kind === 'start') n.startMs ??= ms;
    if (ev.kind === 'first-byte') n.firstByteMs ??= ms;
    if (ev.kind === 'done' && n.doneMs === null) {
      n.doneMs = ms;
      n.firstByteMs ??= ms;
      doneCount++;
    }
    if (ev.kind === 'error' && n.doneMs === null) n.error ??= ev.message ?? 'failed';
    o.onEvent?.(ev, doneCount);
    if (settled()) wake();
  };

  /** This run's handling of a program's lines and exit (a pooled program is re-bound by each run). */
  const bind = (entry: Live, ready: (() => void) | null): void => {
    let waiting = ready;
    entry.onLine = (line) => {
      // A program's last lines (done, summary) come just before it may exit: sample it then.
      sampleUsage(entry, 200);
      // The source's wait for a core counts from its first word (its own start-up is not the transfer).
      if (entry.spec.node.role === 'source' && !waitAtStart.has(entry)) {
        sampleWait();
        waitAtStart.set(entry, entry.waitS ?? 0);
      }
      if (waiting && entry.spec.ready?.test(line)) {
        waiting();
        waiting = null;
      }
      for (const ev of proto.parseLine(entry.spec, line, ctx)) onNodeEvent(ev);
    };
    entry.onExit = () => wake();
  };

  const start = async (spec: ProcessSpec): Promise<void> => {
    const reused = spec.reuse !== undefined ? o.pool?.take(spec) : undefined;
    if (reused) {
      // Up and ready since an earlier run: this run takes it over.
      bind(reused, null);
      reused.cpuAtStartS = reused.proc?.pid === undefined ? 0 : treeUsage(reused.proc.pid).cpuS;
      reused.usage = undefined;
      live.push(reused);
      return;
    }
    const proc = net.spawn(spec.node, spec.argv, spec.env);
    const entry: Live = {
      spec,
      proc,
      stderr: '',
      exited: new Promise((resolve) => proc.once('close', (code) => resolve(code))),
      onLine: () => {},
      onExit: () => {},
      cpuAtStartS: 0,
    };
    live.push(entry);
    if (spec.reuse !== undefined && o.pool) {
      entry.pooled = true;
      o.pool.put(entry);
    }
    void entry.exited.then((c) => {
      entry.exitCode = c;
      entry.onExit();
    });
    proc.stderr!.on('data', (b: Buffer) => {
      if (entry.stderr.length < 8192) entry.stderr += b.toString();
    });
    let ready: (() => void) | null = null;
    const readyAt = new Promise<void>((resolve) => (ready = resolve));
    bind(entry, ready);
    createInterface({ input: proc.stdout! }).on('line', (line) => entry.onLine(line));
    if (spec.ready === null) return;
    const limitMs = spec.readyTimeoutMs ?? READY_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      readyAt.then(() => 'ready' as const),
      entry.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), limitMs))),
    ]);
    clearTimeout(timer);
    if (outcome === 'exited') throw new RunError(`${spec.label} (${nodeLabel(spec.node)}) exited with ${entry.exitCode} before it was ready: ${entry.stderr.trim().slice(-2000)}`);
    if (outcome === 'timeout') throw new RunError(`${spec.label} (${nodeLabel(spec.node)}) was not ready within ${limitMs / 1000} s: ${entry.stderr.trim().slice(-2000)}`);
  };

  /** Samples the source's programs' run-queue wait (they may exit before the end: keep the last reading). */
  const sampleWait = (): void => {
    for (const e of live) {
      if (e.spec.node.role !== 'source' || e.proc?.pid === undefined || e.exitCode !== undefined) continue;
      let w = 0;
      let any = false;
      for (const p of treePids(e.proc.pid)) {
        const v = runQueueWaitS(p);
        if (v !== null) {
          w += v;
          any = true;
        }
      }
      if (any) e.waitS = Math.max(e.waitS ?? 0, w);
    }
  };
  const waitAtStart = new Map<Live, number>();

  /**
   * Samples a program's CPU and peak memory while it runs, at most every `everyMs`: a program that
   * exits by itself before the end (a NAK receiver after BYE, a FloodClone node after ALLDONE)
   * keeps its last reading instead of counting as nothing (/proc forgets it at exit).
   */
  /** Reads a running program's tree and keeps the larger of that and what was read before. */
  const readUsage = (e: Live, pid: number): void => {
    const u = treeUsage(pid);
    if (u.cpuS === 0 && u.peakRssBytes === 0) return; // gone meanwhile
    e.usage = { cpuS: Math.max(e.usage?.cpuS ?? 0, u.cpuS), peakRssBytes: Math.max(e.usage?.peakRssBytes ?? 0, u.peakRssBytes) };
  };
  const sampleUsage = (e: Live, everyMs: number): void => {
    // Nodes only, never the source (it runs to the end and is read then), and no pooled program
    // (read at the end too): the lab stays out of the way of the program it times. (Measured on
    // gate-late-slow's 1.5 s runs: no difference either way, probe-prioritise 1.14-1.19.)
    if (e.spec.node.role === 'source' || e.pooled || e.proc?.pid === undefined || e.exitCode !== undefined) return;
    const now = Date.now();
    if (e.usageAtMs !== undefined && now - e.usageAtMs < everyMs) return;
    e.usageAtMs = now;
    readUsage(e, e.proc.pid);
  };

  const stopAll = async (): Promise<void> => {
    sampleWait();
    for (const e of live) if (e.proc?.pid !== undefined && e.exitCode === undefined) readUsage(e, e.proc.pid);
    for (const e of live) {
      // A pooled program stays up for the next run; this run is charged only what it used meanwhile.
      if (e.pooled && e.usage) e.usage = { cpuS: Math.max(0, e.usage.cpuS - (e.cpuAtStartS ?? 0)), peakRssBytes: e.usage.peakRssBytes };
      e.onLine = () => {};
      e.onExit = () => {};
    }
    await Promise.all(live.filter((e) => !(e.pooled && e.exitCode === undefined && !broken)).map((e) => stopLive(e)));
  };

  let drivers: ProcessSpec[] = [];
  /** Until the run ends well: a broken run stops its pooled programs too (the next run starts them afresh). */
  let broken = true;
  let quiet: QuietWait = { waitedS: 0, busyShare: null, quiet: false };
  let pressureAtOrigin: number | null = null;
  let pressureAtEnd: number | null = null;
  const beforeTransfer = async (): Promise<void> => {
    if (o.waitQuiet !== false) quiet = await waitForQuiet();
    sampleWait();
    for (const e of live) if (e.waitS !== undefined) waitAtStart.set(e, e.waitS);
    pressureAtOrigin = cpuPressureUs();
  };
  try {
    launchStartMs = Date.now();
    await proto.prepare?.(ctx);
    const phases = proto.phases(ctx);
    drivers = phases.flatMap((p) => p.procs).filter((s) => s.driver);
    const gated = phases.some((p) => p.procs.some((s) => s.go));
    for (let k = 0; k < phases.length; k++) {
      const phase = phases[k]!;
      if (k === phases.length - 1 && !gated) {
        // The nodes are up; their start-up (and the last run's checks) must not compete with the transfer.
        await beforeTransfer();
        setOrigin(Date.now());
      }
      // Fragment receivers on a backend that runs them its own way (Docker: in their containers).
      if (net.backend !== 'netns' && phase.procs.length > 0 && phase.procs.every((s) => s.fanoutReceiver)) {
        const group = await net.startReceivers(phase.procs.map((s) => s.fanoutReceiver!.outDir));
        live.push({ spec: phase.procs[0]!, proc: null, group, exited: new Promise(() => {}), stderr: '', onLine: () => {}, onExit: () => {} });
        continue;
      }
      await mapLimit(phase.procs, START_CONCURRENCY, start);
    }
    if (gated) {
      // Everyone is ready and waiting: once the machine is quiet, the transfer starts, for all of them at once.
      await beforeTransfer();
      setOrigin(Date.now());
      for (const e of live) if (e.spec.go && e.proc && e.exitCode === undefined) e.proc.kill(e.spec.go);
    }
    // The origin may have been set by the last phase's own first line; wait for the end.
    const limitS = o.timeoutS ?? Math.max(60, 20 * bound.seconds, proto.timeLimitS?.(t, o.options, fileBytes, o.variant) ?? 0);
    const deadline = (originMs ?? Date.now()) + limitS * 1000;
    for (;;) {
      const driverLive = live.filter((e) => e.spec.driver && e.exitCode === undefined);
      if (drivers.length > 0 ? driverLive.length === 0 : settled()) break;
      // A non-driver that dies mid-run: its node fails (a service or the source: the run is broken).
      for (const e of live) {
        if (e.spec.driver || e.exitCode === undefined || e.group) continue;
        if (e.spec.node.role === 'receiver') {
          const n = nodes[e.spec.node.index]!;
          if (n.doneMs === null && n.error === null) n.error = `${e.spec.label} exited with ${e.exitCode}: ${e.stderr.trim().slice(-300)}`;
        } else if (drivers.length === 0) {
          throw new RunError(`${e.spec.label} (${nodeLabel(e.spec.node)}) exited with ${e.exitCode} mid-run: ${e.stderr.trim().slice(-2000)}`);
        }
      }
      if (drivers.length === 0 && settled()) break;
      if (Date.now() >= deadline) {
        const late = live.find((e) => e.spec.driver && e.exitCode === undefined);
        if (late) throw new RunError(`${late.spec.label} did not finish within ${limitS.toFixed(0)} s (the run's time limit: 20x the bound, at least 60 s, or what the protocol asks for)`);
        for (const n of nodes) if (n.doneMs === null && n.error === null) n.error = `not done after ${limitS.toFixed(0)} s (the run's time limit)`;
        break;
      }
      sampleWait();
      for (const e of live) sampleUsage(e, 1000);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.min(250, Math.max(1, deadline - Date.now()))).unref();
      });
    }
    endedAtMs = Date.now();
    pressureAtEnd = cpuPressureUs();
    if (eventErrors.length > 0) throw new RunError(`a link event failed: ${eventErrors.join('; ')}`);
    // A driver's own verdict: 0 all delivered, 1 some node failed (its summary says which); anything else broke the run.
    const brokenDriver = live.find((e) => e.spec.driver && e.exitCode !== undefined && e.exitCode !== 0 && e.exitCode !== 1);
    if (brokenDriver) throw new RunError(`${brokenDriver.spec.label} exited with ${brokenDriver.exitCode}: ${brokenDriver.stderr.trim().slice(-2000)}`);
    broken = false;
  } finally {
    for (const tm of timers) clearTimeout(tm);
    await stopAll();
  }

  const origin = originMs ?? endedAtMs;
  const rel = (ms: number | null): number | null => (ms === null ? null : Math.max(0, ms - origin) / 1000);
  const figures = proto.figures?.(ctx) ?? null;
  const results: ReceiverResult[] = [];
  for (const r of t.receivers) {
    const n = nodes[r.index]!;
    const own = figures?.receivers?.[r.index];
    const measured: ReceiverResult = own ?? {
      index: r.index,
      address: net.address({ role: 'receiver', index: r.index }),
      downBps: r.downBps,
      upBps: r.upBps,
      fragmentBytes: fileBytes,
      bytes: n.downBytes,
      upBytes: n.upBytes,
      ...(n.controlBytes !== undefined ? { controlBytes: n.controlBytes } : {}),
      ...(n.duplicateChunks !== undefined ? { duplicateChunks: n.duplicateChunks } : {}),
      startS: rel(n.startMs),
      firstByteS: rel(n.firstByteMs),
      doneS: rel(n.doneMs),
      verified: false,
      ...(n.counters ? { counters: n.counters } : {}),
    };
    const verifyError = n.error ?? (await proto.verify(ctx, r.index));
    const result: ReceiverResult = { ...measured, verified: verifyError === null };
    if (verifyError !== null) {
      result.error = verifyError;
    } else if (own === undefined) {
      result.bytes = fileBytes;
    }
    results.push(result);
  }
  if (!o.keep) {
    rmSync(runDir, { recursive: true, force: true });
    // What a pooled receiver stored for this run is verified: the next run starts from empty folders.
    if (o.pool) for (const d of poolDirs) for (const f of readdirSync(d)) rmSync(join(d, f), { recursive: true, force: true });
  }

  const sum = (f: (e: Live) => boolean): Usage =>
    live.filter(f).reduce((a, e) => ({ cpuS: a.cpuS + (e.usage?.cpuS ?? 0), peakRssBytes: a.peakRssBytes + (e.usage?.peakRssBytes ?? 0) }), { cpuS: 0, peakRssBytes: 0 });
  const src = sum((e) => e.spec.node.role === 'source');
  const others = sum((e) => e.spec.node.role !== 'source');
  const doneTimes = results.map((r) => r.doneS);
  const allDone = doneTimes.every((d) => d !== null);
  const makespanS = figures?.makespanS ?? (allDone ? Math.max(...(doneTimes as number[])) : (endedAtMs! - origin) / 1000);
  const payloadBytes = figures?.payloadBytes ?? results.reduce((a, r) => a + (r.verified ? r.fragmentBytes : r.bytes), 0);
  const peerUpBytes = results.reduce((a, r) => a + (r.upBytes ?? 0), 0);
  const sourceLive = live.filter((e) => e.spec.node.role === 'source' && e.waitS !== undefined);
  const runS = endedAtMs === null ? makespanS : Math.max(1e-3, (endedAtMs - origin) / 1000);
  const lags = results.map((r) => r.firstByteS);
  const fidelity = judge(
    {
      quietWaitS: quiet.waitedS,
      busyAtStart: quiet.busyShare,
      sourceWaitS: sourceLive.length === 0 ? null : sourceLive.reduce((a, e) => a + e.waitS! - (waitAtStart.get(e) ?? 0), 0),
      cpuPressure: pressureAtOrigin === null || pressureAtEnd === null ? null : Math.min(1, (pressureAtEnd - pressureAtOrigin) / 1e6 / runS),
      startLagMedianS: medianOf(lags),
      startLagMaxS: lags.some((x) => x !== null) ? Math.max(...lags.filter((x): x is number => x !== null)) : null,
    },
    makespanS,
    { checked: o.waitQuiet !== false, quiet: quiet.quiet },
  );
  const counted = <K extends 'controlBytes' | 'duplicateChunks'>(k: K): number | undefined =>
    results.some((r) => r[k] !== undefined) ? results.reduce((a, r) => a + (r[k] ?? 0), 0) : undefined;
  const controlBytes = counted('controlBytes');
  const duplicateChunks = counted('duplicateChunks');
  return {
    strategy: o.contender,
    protocol: proto.name,
    variant: o.variant,
    repeat: o.repeat,
    makespanS,
    lowerBoundS: bound.seconds,
    efficiency: makespanS / bound.seconds,
    boundTerm: bound.binding,
    launchS: launchStartMs === null ? 0 : Math.max(0, origin - launchStartMs) / 1000,
    rateOvershoot: figures?.rateOvershoot ?? 0,
    wireOverhead: figures?.wireOverhead ?? 0,
    payloadBytes,
    wireBytes: figures?.wireBytes ?? payloadBytes,
    cpuUserS: figures?.cpuUserS ?? src.cpuS,
    cpuSysS: figures?.cpuSysS ?? 0,
    maxRssBytes: figures?.maxRssBytes ?? src.peakRssBytes,
    nodesCpuS: others.cpuS,
    nodesMaxRssBytes: others.peakRssBytes,
    peerUpBytes,
    ...(controlBytes !== undefined ? { controlBytes } : {}),
    ...(duplicateChunks !== undefined ? { duplicateChunks } : {}),
    ...(figures?.probe ? { probe: figures.probe } : {}),
    failedReceivers: results.filter((r) => r.error !== undefined).length,
    receivers: results,
    fidelity,
  };
}
