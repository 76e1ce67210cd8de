/**
 * The lab's data model, shared by every part of lab/:
 *
 *   scenario YAML --(lab/scenario)--> Topology --(backend)--> hosts --(runner)--> RunResult[] --(results)--> files
 *
 * A Topology is plain data with every random draw already made (from the scenario's seed), so a
 * backend (netns, docker, sim) never draws anything and two backends given one Topology build
 * the same network. Rates are in bit/s of *link rate*, as tc's HTB enforces them (whole Ethernet
 * frames); the lower bound converts them to payload goodput with the same factor everywhere.
 */
import type { StrategyName } from '../sender/strategies/names.js';

export type BackendName = 'netns' | 'docker' | 'sim';
export type BackendChoice = 'auto' | BackendName;

export interface ReceiverSpec {
  /** 0-based; receiver i gets fragment i. */
  index: number;
  /** Link rate towards the receiver (its download), bit/s. */
  downBps: number;
  /** Link rate from the receiver (its upload), bit/s. */
  upBps: number;
  /** One-way delay on the receiver's link, ms (needs tc netem; only when the scenario sets it). */
  delayMs?: number;
  /** Delay variation around delayMs, ms (netem). */
  jitterMs?: number;
  /** Random loss on the receiver's link, percent 0..100 (netem). */
  lossPct?: number;
}

/** A link change applied `atMs` after the transfer starts, in place (`tc class change`). */
export interface LinkEvent {
  atMs: number;
  /** Receiver indexes it applies to (resolved from the scenario's `select`). */
  receivers: number[];
  downBps?: number;
  upBps?: number;
}

export type FileSpec = { kind: 'size'; sizeBytes: number } | { kind: 'path'; path: string };

export interface Topology {
  /** [a-z0-9-]+ */
  name: string;
  description: string;
  backend: BackendChoice;
  seed: number;
  file: FileSpec;
  transfer: {
    protocol: 'fragments';
    /** The sender's aggregate limit, Kbps (1 Kbps = 1000 bit/s). */
    rateKbps: number;
    /** Connections open at once; defaults to the receiver count. */
    width: number;
  };
  strategies: StrategyName[];
  repeat: number;
  receivers: ReceiverSpec[];
  sender: { upBps: number };
  events: LinkEvent[];
  check?: { efficiency: Partial<Record<StrategyName, number>> };
  /** Overrides of the simulator's model (lab/sim/engine.ts SimModel), for `backend: sim` only. */
  sim?: Partial<SimModelParams>;
}

/** The simulator's model parameters (see lab/sim/engine.ts). */
export interface SimModelParams {
  connectMs: number;
  setupCpuMs: number;
  setupCores: number;
  rttMs: number;
  initialWindowBytes: number;
  progressTailMs: number;
  finalizeMs: number;
  linkEfficiency: number;
}

/** One receiver in one run. Times are seconds since the sender started. */
export interface ReceiverResult {
  index: number;
  address: string;
  downBps: number;
  upBps: number;
  fragmentBytes: number;
  /** Payload bytes the receiver stored and acknowledged. */
  bytes: number;
  startS: number | null;
  firstByteS: number | null;
  doneS: number | null;
  /** The stored fragment was compared byte for byte with its slice of the source. */
  verified: boolean;
  error?: string;
}

export interface RunResult {
  strategy: StrategyName;
  /** 1-based. */
  repeat: number;
  makespanS: number;
  lowerBoundS: number;
  /** makespan / lower bound (>= 1 when the bound is right). */
  efficiency: number;
  /** Highest bytes written in any 1 s window over the limit, as a fraction (0.004 = 0.4 % over). */
  rateOvershoot: number;
  /** wire bytes / payload bytes - 1 */
  wireOverhead: number;
  payloadBytes: number;
  wireBytes: number;
  cpuUserS: number;
  cpuSysS: number;
  maxRssBytes: number;
  failedReceivers: number;
  receivers: ReceiverResult[];
  /** Simulated runs: events the simulator processed (its own cost). */
  simEvents?: number;
}

export interface Environment {
  kernel: string;
  qdisc: string;
  node: string;
  gitCommit: string | null;
  cpus: number;
  hostname: string;
}

export interface StrategyMedians {
  makespanS: number;
  lowerBoundS: number;
  efficiency: number;
}

export interface ScenarioResults {
  scenario: Topology;
  backend: BackendName;
  /** Why this backend was chosen (e.g. "auto: root and namespaces available"). */
  backendReason: string;
  /** True when no real network was involved (the flow simulator): figures are predictions. */
  simulated?: boolean;
  environment: Environment;
  startedAt: string;
  /** Warnings the run raised (fidelity guard, ...). */
  warnings: string[];
  runs: RunResult[];
  medians: Partial<Record<StrategyName, StrategyMedians>>;
}
