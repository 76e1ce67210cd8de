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
import type { Fidelity } from './fidelity.js';
import type { ProbeCosts } from '../sender/strategies/types.js';
/**
 * A contender in a scenario: `protocol/variant` (`bittorrent/aria2`, `fragments/backpressure`), or
 * a bare fragment strategy name (`backpressure`) in a fragments job. Results, medians and the gate
 * are keyed by it exactly as the scenario wrote it.
 */
export type ContenderName = string;

/** A file-name-safe form of a contender name (`bittorrent/aria2` -> `bittorrent_aria2`). */
export function contenderDir(contender: ContenderName): string {
  return contender.replace(/[^a-zA-Z0-9.-]/g, '_');
}

/** What every node must end up with: its own fragment, or the whole file. */
export type JobKind = 'fragments' | 'whole-file';

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
  /** Random loss of packets arriving at the receiver (its download direction), percent 0..100. */
  lossDownPct?: number;
  /** Random loss of packets the receiver sends (its upload direction), percent 0..100. */
  lossUpPct?: number;
}

/** A link change applied `atMs` after the transfer starts, in place (`tc class change`). */
export interface LinkEvent {
  atMs: number;
  /** Receiver indexes it applies to (resolved from the scenario's `select`). */
  receivers: number[];
  downBps?: number;
  upBps?: number;
}

/**
 * A group of receivers behind one shared link (scenario `sites:`): the site's receivers reach
 * each other without it, and everything else (the source, receivers outside, other sites) across
 * it, once each way. `upBps` carries what leaves the site, `downBps` what enters it; link rates
 * in bit/s like every other rate here (Infinity = unshaped).
 */
export interface SiteSpec {
  /** [a-z0-9-]+, unique in the scenario. */
  name: string;
  /** Receiver indexes, ascending, at least one; a receiver is in at most one site. */
  receivers: number[];
  upBps: number;
  downBps: number;
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
    /** Default fragments: receiver i gets fragment i. whole-file: every node gets the whole file. */
    job: JobKind;
    /** The fragment sender's aggregate limit, Kbps (1 Kbps = 1000 bit/s); 0 in a whole-file job (no such sender). */
    rateKbps: number;
    /** Fragment connections open at once; defaults to the receiver count. */
    width: number;
    /** Each protocol's own options as it parsed them (`transfer.<protocol>` in the YAML), by protocol name. */
    options: Record<string, unknown>;
    /** Fragments job: sender and receivers prove a fresh pre-shared key (`--auth-key`, lab/auth.ts). */
    authKey?: boolean;
  };
  strategies: ContenderName[];
  repeat: number;
  receivers: ReceiverSpec[];
  /** The source's link (scenario key `source`, or `sender` as before). */
  sender: { upBps: number; /** Absent: unshaped. */ downBps?: number };
  events: LinkEvent[];
  /** Receivers behind shared trunks (absent or empty: every receiver on the core). */
  sites?: SiteSpec[];
  check?: { efficiency: Partial<Record<ContenderName, number>> };
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
  /** What the node had to end up with: its fragment, or the whole file. */
  fragmentBytes: number;
  /** Payload bytes the node stored (acknowledged, for fragments). */
  bytes: number;
  /** Payload bytes the node uploaded to other nodes (peer-to-peer protocols), when known. */
  upBytes?: number;
  /** Bytes of the protocol's own control traffic the node sent and received (not payload), when known. */
  controlBytes?: number;
  /** Chunks the node received that it held already (peer-to-peer protocols), when known. */
  duplicateChunks?: number;
  startS: number | null;
  firstByteS: number | null;
  doneS: number | null;
  /** The stored fragment (or file) was compared byte for byte with its slice of the source. */
  verified: boolean;
  /**
   * A protocol's own per-node counters, as it last reported them (coded: packets received,
   * linearly dependent, uploaded to peers, coding header bytes per packet, drops).
   */
  counters?: Record<string, number>;
  error?: string;
}

export interface RunResult {
  /** The contender's name as the scenario wrote it (a bare fragment strategy, or protocol/variant). */
  strategy: ContenderName;
  /** The protocol plug-in (lab/protocols) and its variant. */
  protocol: string;
  variant: string;
  /** 1-based. */
  repeat: number;
  makespanS: number;
  lowerBoundS: number;
  /** makespan / lower bound (>= 1 when the bound is right). */
  efficiency: number;
  /** The lab's own bring-up of the run: from preparing its files to the transfer's origin (every phase started and ready), s. */
  launchS?: number;
  /** Which term of the bound binds (fragments: rate, slowest-node, width; whole file: source-up, slowest-down, aggregate-up). */
  boundTerm?: string;
  /** Highest bytes written in any 1 s window over the limit, as a fraction (0.004 = 0.4 % over). */
  rateOvershoot: number;
  /** wire bytes / payload bytes - 1 */
  wireOverhead: number;
  payloadBytes: number;
  wireBytes: number;
  /** The source's processes: CPU seconds and peak RSS. */
  cpuUserS: number;
  cpuSysS: number;
  maxRssBytes: number;
  /** Every node's processes together (receivers, peers, services; not the source): CPU s and the sum of their peak RSS. */
  nodesCpuS?: number;
  nodesMaxRssBytes?: number;
  /** Bytes every node uploaded to other nodes, summed (peer-to-peer protocols). */
  peerUpBytes?: number;
  /** Control bytes (sent + received) of every node, summed, when the protocol reports them. */
  controlBytes?: number;
  /** Duplicate chunks every node received, summed, when the protocol reports them. */
  duplicateChunks?: number;
  failedReceivers: number;
  receivers: ReceiverResult[];
  /** What the strategy's probing cost (probe-prioritise): parks, set-ups made again, probe bytes, mean set-up ms. */
  probe?: ProbeCosts;
  /** Simulated runs: events the simulator processed (its own cost). */
  simEvents?: number;
  /** Emulated runs: was the machine quiet, was the source starved of CPU, how long links took to start (lab/fidelity.ts). */
  fidelity?: Fidelity;
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
  medians: Partial<Record<ContenderName, StrategyMedians>>;
}
