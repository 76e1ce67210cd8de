/**
 * What a protocol is to the lab: a plug-in. The lab knows nothing of fragments, swarms or codes;
 * it asks the plug-in, for one run of one variant:
 *
 *   - which programs run on which nodes, in which order (phases), how each tells it is ready
 *     (a stdout line) and how it is stopped (a signal), and which of them drive the run (the run
 *     is over when every driver has exited; without drivers, when every receiver is done);
 *   - how a line a program prints becomes per-node events (start, first byte, done, bytes up and
 *     down), with times on the machine's one clock (namespaces and containers share it);
 *   - how a node's stored output is verified (byte for byte against the source);
 *   - its lower bound (seconds, and which term binds);
 *   - optionally, a simulation (the flow simulator running the same policy objects).
 *
 * The generic runner (lab/protocol-run.ts) does the rest for every protocol: folders, spawning on
 * the backend, readiness, timed link events, timeouts, stopping, CPU and memory of every process,
 * verification and the RunResult.
 */
import type { Issues } from '../scenario/errors.js';
import type { NodeRef } from '../hosts.js';
import type { JobKind, RunResult, SimModelParams, Topology } from '../types.js';

export type { NodeRef } from '../hosts.js';

/** One program on one node. */
export interface ProcessSpec {
  node: NodeRef;
  /** For messages: `tracker`, `seeder`, `receiver 3`. */
  label: string;
  /** An absolute program path, then its arguments. Paths are this machine's. */
  argv: string[];
  env?: Record<string, string>;
  /** A stdout line matching this means ready; null: ready once spawned. */
  ready: RegExp | null;
  /** Default 20 s. */
  readyTimeoutMs?: number;
  stop: 'SIGTERM' | 'SIGINT';
  /** The run ends when every driver has exited (the fragment sender). */
  driver?: boolean;
  /**
   * The program waits, ready, for this signal before it transfers anything: the lab sends it to
   * every such program at once when all phases are ready, and the transfer's origin is then. So
   * the nodes' own start-up (processes, a client loading its state) is not measured as transfer.
   */
  go?: NodeJS.Signals;
  /**
   * May be kept running after the run and handed to the next run on the same network whose spec has
   * the same key, argv and env (lab/runner.ts ProcessPool): for programs that serve one transfer
   * after another (`fanout receive`). They must store under `ctx.poolDir(i)`, which the runner
   * empties after each run's verification.
   */
  reuse?: string;
  /**
   * Runs the lab's own `fanout receive` storing into `outDir`: a backend may run it its own way
   * (Docker: inside the receiver container built for it) instead of spawning argv.
   */
  fanoutReceiver?: { outDir: string };
}

/** Programs started together; the next phase starts once every one of them is ready. */
export interface LaunchPhase {
  name: string;
  procs: ProcessSpec[];
}

/** What a plug-in knows of the run it launches. */
export interface RunContext<O = unknown> {
  topology: Topology;
  /** `aria2`, `backpressure`, ... */
  variant: string;
  /** The name the scenario wrote (`bittorrent/aria2`, or a bare fragment strategy). */
  contender: string;
  options: O;
  repeat: number;
  srcFile: string;
  fileBytes: number;
  /** This run's folder (fresh); the plug-in may write its own files here. */
  runDir: string;
  /** Where receiver i stores what it gets (a folder on this machine, fresh). */
  nodeDir(index: number): string;
  /**
   * Receiver i's folder for a program kept across runs (`reuse`): the same folder run after run,
   * emptied after each run. Without a pool it is nodeDir(i).
   */
  poolDir(index: number): string;
  /** A node's IPv4 address in the lab. */
  address(node: NodeRef): string;
  /** 32 hex digits, fresh per run. */
  runId: string;
}

export type NodeEventKind = 'origin' | 'start' | 'first-byte' | 'done' | 'error' | 'progress';

/**
 * Something a node's program said. `node` is the receiver index (-1: the source; the origin event
 * has none). Time: `wallMs` (ms since the epoch, the machine's clock) or, when absent, the moment
 * the lab read the line. `origin` marks the start of the transfer: the lab's link events count
 * from it and every time is reported relative to it (default: when the lab sent the `go` signal,
 * or without one, when the last phase started).
 */
export interface NodeEvent {
  kind: NodeEventKind;
  node: number;
  wallMs?: number;
  /** Totals so far (not increments). */
  downBytes?: number;
  upBytes?: number;
  /** The protocol's own counters so far (totals; the last report wins), kept in the node's result. */
  counters?: Record<string, number>;
  /** Control bytes sent and received so far (not payload), when the protocol counts them. */
  controlBytes?: number;
  /** Chunks received that were held already, so far. */
  duplicateChunks?: number;
  message?: string;
  /** A process the node's program started (aria2c under its agent): recorded, so teardown ends it by id. */
  child?: { pid: number; argv: string[] };
}

/** A bound and the term that binds. */
export interface Bound {
  seconds: number;
  binding: string;
}

/** Figures a plug-in reports itself when it knows better than the events (the fragment sender's own summary). */
export type RunFigures = Partial<Omit<RunResult, 'strategy' | 'protocol' | 'variant' | 'repeat' | 'lowerBoundS' | 'efficiency'>>;

/** A tool a protocol runs, and the Debian package that provides it. */
export interface ToolNeed {
  bin: string;
  pkg: string;
}

export interface Protocol<O = unknown> {
  readonly name: string;
  readonly job: JobKind;
  /** Variants in the order `strategies:` defaults to. */
  readonly variants: readonly string[];
  readonly tools: readonly ToolNeed[];
  /** Extra hosts (not receivers, not shaped) its runs need, e.g. `tracker`. */
  readonly services: readonly string[];
  /** Backends it can run on besides the simulator. */
  readonly backends: readonly ('netns' | 'docker')[];
  /** One line for --help and doctor. */
  readonly summary: string;
  /** `transfer.<name>` in the YAML (undefined when absent: defaults). Records issues with their paths. */
  parseOptions(raw: unknown, path: string, issues: Issues): O | undefined;
  /** Files the run needs before anything starts (a torrent, a manifest). */
  prepare?(ctx: RunContext<O>): Promise<void>;
  phases(ctx: RunContext<O>): LaunchPhase[];
  /** Events in one line a process printed on stdout. */
  parseLine(spec: ProcessSpec, line: string, ctx: RunContext<O>): NodeEvent[];
  /** null when receiver `index` holds what it should, byte for byte; otherwise why not. */
  verify(ctx: RunContext<O>, index: number): Promise<string | null>;
  /** The variant, when the bound depends on it (p2mp-ftp: stop-and-wait is always unicast). */
  lowerBound(t: Topology, options: O, fileBytes: number, variant?: string): Bound;
  /**
   * A longer time limit than the runner's default (20x the bound, at least 60 s), for a protocol
   * whose own design keeps it far from the bound (stop-and-wait waits out a timeout per lost
   * segment): the run is stopped as failed only after this many seconds.
   */
  timeLimitS?(t: Topology, options: O, fileBytes: number, variant: string): number;
  /** Figures that override what the runner measured from events (optional). */
  figures?(ctx: RunContext<O>): RunFigures | null;
  /** A simulated run, when the flow simulator models this protocol. */
  simulate?(t: Topology, variant: string, contender: string, repeat: number, model: Partial<SimModelParams>): RunResult;
  /** When only some variants have a simulation: whether `variant` has (absent: every variant has). */
  canSimulate?(variant: string): boolean;
}
