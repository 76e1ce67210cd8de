/**
 * Test fixtures for lab/results: `tinyResults()`, a hand-made ScenarioResults whose every
 * figure is known (2 strategies, 2 repeats, 4 receivers), and `sampleScenarioResults()`:
 *
 * A synthetic but plausible ScenarioResults, for tests and for looking at the charts without
 * a lab run: receivers with download rates spread log-uniformly, one much slower node, and
 * each strategy played through a small fluid model (not the real strategies, just their
 * typical shape):
 *
 * - round-robin: strict turns, so every active connection moves at the slowest one's pace;
 * - backpressure: max-min fair share of the sender's limit, each capped by its link;
 * - probe-prioritise: an equal-share probe for 0.3 s, then max-min fair;
 * - sequential: one receiver at a time, in index order;
 * - static-split: a fixed 1/n of the limit each, never redistributed.
 *
 * Seeded, so the same options give the same numbers. Link rates are tc link rates; payload
 * moves at GOODPUT_FACTOR of them, and the lower bound uses the same factor.
 */
import { STRATEGY_NAMES, type StrategyName } from '../../sender/strategies/names.js';
import type { ReceiverResult, ReceiverSpec, RunResult, ScenarioResults, Topology } from '../../lab/types.js';
import { computeMedians } from '../../lab/results/stats.js';

/** TCP payload per Ethernet frame at MTU 1500: 1448 / 1514. */
const GOODPUT_FACTOR = 1448 / 1514;

/** Options of `sampleScenarioResults`; every field has a default. */
export interface SampleOptions {
  receivers?: number;
  strategies?: StrategyName[];
  repeats?: number;
  seed?: number;
  /** Index of the slow node (default 41, or the last receiver when fewer). */
  slowReceiver?: number;
  slowDownBps?: number;
  minDownBps?: number;
  maxDownBps?: number;
  fragmentBytes?: number;
  rateKbps?: number;
  /** Make one receiver of the last strategy's last repeat fail mid-transfer. */
  withFailure?: boolean;
}

/** Mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Max-min fair split of `totalBps` over flows capped at `capsBps`. */
function maxMinShares(capsBps: number[], totalBps: number): number[] {
  const shares = capsBps.map(() => 0);
  let left = totalBps;
  let open = capsBps.map((_, i) => i);
  while (open.length > 0 && left > 1e-9) {
    const fair = left / open.length;
    const limited = open.filter((i) => capsBps[i]! <= fair);
    if (limited.length === 0) {
      for (const i of open) shares[i] = fair;
      break;
    }
    for (const i of limited) {
      shares[i] = capsBps[i]!;
      left -= capsBps[i]!;
    }
    open = open.filter((i) => !limited.includes(i));
  }
  return shares;
}

interface FlowState {
  remainingBits: number;
  startS: number | null;
  firstByteS: number | null;
  doneS: number | null;
}

/** Plays one strategy through the fluid model; returns per-receiver times. */
function simulate(strategy: StrategyName, capsBps: number[], sizeBits: number, rateBps: number, rand: () => number): FlowState[] {
  const n = capsBps.length;
  const flows: FlowState[] = capsBps.map(() => ({ remainingBits: sizeBits, startS: null, firstByteS: null, doneS: null }));
  const admit = (i: number, atS: number) => {
    const f = flows[i]!;
    f.startS = atS + 0.001 + rand() * 0.01;
    f.firstByteS = f.startS + 0.012 + rand() * 0.01;
  };
  if (strategy === 'sequential') admit(0, 0);
  else for (let i = 0; i < n; i++) admit(i, 0);
  let nowS = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const flowing = flows.map((f, i) => ({ f, i })).filter(({ f }) => f.doneS === null && f.firstByteS !== null && f.firstByteS <= nowS + 1e-12);
    const pending = flows.filter((f) => f.doneS === null && f.firstByteS !== null && f.firstByteS > nowS + 1e-12);
    if (flowing.length === 0 && pending.length === 0) break;
    const caps = flowing.map(({ i }) => capsBps[i]!);
    let rates: number[];
    if (strategy === 'round-robin') rates = caps.map(() => Math.min(Math.min(...caps), rateBps / flowing.length));
    else if (strategy === 'static-split') rates = caps.map((c) => Math.min(c, rateBps / n));
    else if (strategy === 'probe-prioritise' && nowS < 0.3) rates = caps.map((c) => Math.min(c, rateBps / n));
    else rates = maxMinShares(caps, rateBps);
    let stepS = Infinity;
    flowing.forEach(({ f }, k) => (stepS = Math.min(stepS, f.remainingBits / rates[k]!)));
    for (const f of pending) stepS = Math.min(stepS, f.firstByteS! - nowS);
    if (strategy === 'probe-prioritise' && nowS < 0.3) stepS = Math.min(stepS, 0.3 - nowS);
    flowing.forEach(({ f }, k) => {
      f.remainingBits -= rates[k]! * stepS;
      if (f.remainingBits <= 1e-6) f.doneS = nowS + stepS;
    });
    nowS += stepS;
    if (strategy === 'sequential') {
      const next = flows.findIndex((f) => f.startS === null);
      if (next >= 0 && flows.every((f) => f.startS === null || f.doneS !== null)) admit(next, nowS);
    }
  }
  return flows;
}

/** The sample topology the results describe. */
function sampleTopology(opts: Required<Omit<SampleOptions, 'withFailure'>>): Topology {
  const rand = prng(opts.seed);
  const lnMin = Math.log(opts.minDownBps);
  const lnMax = Math.log(opts.maxDownBps);
  const receivers: ReceiverSpec[] = Array.from({ length: opts.receivers }, (_, index) => {
    const downBps =
      index === opts.slowReceiver ? opts.slowDownBps : Math.round(Math.exp(lnMin + rand() * (lnMax - lnMin)) / 1e5) * 1e5;
    return { index, downBps, upBps: Math.round(downBps / 4) };
  });
  return {
    name: `sample-${opts.receivers}-one-slow`,
    description: 'Synthetic results: log-uniform download rates and one slow node',
    backend: 'auto',
    seed: opts.seed,
    file: { kind: 'size', sizeBytes: opts.fragmentBytes * opts.receivers },
    transfer: { job: 'fragments', rateKbps: opts.rateKbps, width: opts.receivers, options: {} },
    strategies: opts.strategies,
    repeat: opts.repeats,
    receivers,
    sender: { upBps: 1e9 },
    events: [],
  };
}

/** The lower bound of the fragments protocol: the sender's limit or the slowest link, whichever is longer. */
export function sampleLowerBoundS(topology: Topology, fragmentBytes: number): number {
  const totalBits = fragmentBytes * 8 * topology.receivers.length;
  const senderS = totalBits / (topology.transfer.rateKbps * 1000);
  const linkS = Math.max(...topology.receivers.map((r) => (fragmentBytes * 8) / (r.downBps * GOODPUT_FACTOR)));
  return Math.max(senderS, linkS);
}

/** A seeded synthetic ScenarioResults; defaults: 64 receivers, all 5 strategies, 3 repeats, one 2 Mbit/s node. */
export function sampleScenarioResults(options: SampleOptions = {}): ScenarioResults {
  const receiversN = options.receivers ?? 64;
  const opts = {
    receivers: receiversN,
    strategies: options.strategies ?? [...STRATEGY_NAMES],
    repeats: options.repeats ?? 3,
    seed: options.seed ?? 7,
    slowReceiver: options.slowReceiver ?? Math.min(41, receiversN - 1),
    slowDownBps: options.slowDownBps ?? 2e6,
    minDownBps: options.minDownBps ?? 5e6,
    maxDownBps: options.maxDownBps ?? 100e6,
    fragmentBytes: options.fragmentBytes ?? 1 << 20,
    rateKbps: options.rateKbps ?? 400_000,
  };
  const topology = sampleTopology(opts);
  const lowerBoundS = sampleLowerBoundS(topology, opts.fragmentBytes);
  const rand = prng(opts.seed * 7919 + 1);
  const runs: RunResult[] = [];
  for (const strategy of opts.strategies) {
    for (let repeat = 1; repeat <= opts.repeats; repeat++) {
      const caps = topology.receivers.map((r) => r.downBps * GOODPUT_FACTOR * (0.975 + rand() * 0.02));
      const flows = simulate(strategy, caps, opts.fragmentBytes * 8, opts.rateKbps * 1000 * (0.99 + rand() * 0.008), rand);
      const failIndex =
        options.withFailure && strategy === opts.strategies[opts.strategies.length - 1] && repeat === opts.repeats ? 5 : -1;
      const receivers: ReceiverResult[] = topology.receivers.map((spec, i) => {
        const f = flows[i]!;
        const failedHere = i === failIndex;
        return {
          index: spec.index,
          address: `198.18.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`,
          downBps: spec.downBps,
          upBps: spec.upBps,
          fragmentBytes: opts.fragmentBytes,
          bytes: failedHere ? Math.floor(opts.fragmentBytes * 0.4) : opts.fragmentBytes,
          startS: f.startS,
          firstByteS: f.firstByteS,
          doneS: failedHere ? null : f.doneS,
          verified: !failedHere,
          ...(failedHere ? { error: 'ECONNRESET: connection reset by peer after 419430 bytes' } : {}),
        };
      });
      const makespanS = Math.max(...flows.map((f) => f.doneS ?? 0)) + 0.004;
      const payloadBytes = receivers.reduce((sum, r) => sum + r.bytes, 0);
      const wireBytes = Math.round(payloadBytes * (1514 / 1448) * (1 + rand() * 0.002));
      runs.push({
        strategy,
        protocol: 'fragments',
        variant: strategy,
        repeat,
        makespanS,
        lowerBoundS,
        efficiency: makespanS / lowerBoundS,
        rateOvershoot: rand() * 0.008,
        wireOverhead: wireBytes / payloadBytes - 1,
        payloadBytes,
        wireBytes,
        cpuUserS: 0.2 + makespanS * 0.05 * (1 + rand()),
        cpuSysS: 0.3 + makespanS * 0.08 * (1 + rand()),
        maxRssBytes: Math.round((70 + rand() * 30) * 2 ** 20),
        failedReceivers: receivers.filter((r) => r.doneS === null).length,
        receivers,
      });
    }
  }
  const totalDownBps = topology.receivers.reduce((s, r) => s + r.downBps, 0);
  const warnings =
    totalDownBps > 1e9
      ? [`fidelity: the receivers' links add up to ${(totalDownBps / 1e9).toFixed(2)} Gbit/s; above about 1 Gbit/s the host may not shape them faithfully`]
      : [];
  return {
    scenario: topology,
    backend: 'netns',
    backendReason: 'auto: root and network namespaces available',
    environment: { kernel: '6.1.0-sample', qdisc: 'htb', node: 'v20.20.2', gitCommit: null, cpus: 2, hostname: 'sample-host' },
    startedAt: '2026-11-21T05:40:00.000Z',
    warnings,
    runs,
    medians: computeMedians(runs),
  };
}

/** One receiver of the tiny fixture: rates 10/20/5/40 Mbit/s by index, 1 MB fragments. */
function tinyReceiver(index: number, doneS: number | null, error?: string): ReceiverResult {
  const downBps = [10e6, 20e6, 5e6, 40e6][index]!;
  return {
    index,
    address: `198.18.0.${index + 2}`,
    downBps,
    upBps: downBps / 2,
    fragmentBytes: 1_000_000,
    bytes: doneS === null ? 250_000 : 1_000_000,
    startS: 0.01 * (index + 1),
    firstByteS: 0.01 * (index + 1) + 0.02,
    doneS,
    verified: doneS !== null,
    ...(error !== undefined ? { error } : {}),
  };
}

function tinyRun(strategy: StrategyName, repeat: number, makespanS: number, rateOvershoot: number, receivers: ReceiverResult[]): RunResult {
  const payloadBytes = receivers.reduce((sum, r) => sum + r.bytes, 0);
  return {
    strategy,
    protocol: 'fragments',
    variant: strategy,
    repeat,
    makespanS,
    lowerBoundS: 3.2,
    efficiency: makespanS / 3.2,
    rateOvershoot,
    wireOverhead: 0.05,
    payloadBytes,
    wireBytes: payloadBytes * 1.05,
    cpuUserS: 0.5,
    cpuSysS: 0.25,
    maxRssBytes: 80_000_000,
    failedReceivers: receivers.filter((r) => r.doneS === null).length,
    receivers,
  };
}

/**
 * The hand-made fixture. Lower bound 3.2 s everywhere.
 *   round-robin  r1: makespan 4 s, done [4, 2, 3.5, 1]     r2: 5 s, done [5, 2.5, 4, 1.5]
 *   sequential   r1: 8 s, done [2, 4, 8, 6]                r2: 10 s, done [2, 4, failed, 10]
 * (sequential r2's receiver 2 failed with "reset, by peer", a comma to quote in CSV).
 */
export function tinyResults(): ScenarioResults {
  const runs = [
    tinyRun('round-robin', 1, 4, 0.004, [tinyReceiver(0, 4), tinyReceiver(1, 2), tinyReceiver(2, 3.5), tinyReceiver(3, 1)]),
    tinyRun('round-robin', 2, 5, 0.002, [tinyReceiver(0, 5), tinyReceiver(1, 2.5), tinyReceiver(2, 4), tinyReceiver(3, 1.5)]),
    tinyRun('sequential', 1, 8, 0.01, [tinyReceiver(0, 2), tinyReceiver(1, 4), tinyReceiver(2, 8), tinyReceiver(3, 6)]),
    tinyRun('sequential', 2, 10, 0.003, [tinyReceiver(0, 2), tinyReceiver(1, 4), tinyReceiver(2, null, 'reset, by peer'), tinyReceiver(3, 10)]),
  ];
  return {
    scenario: {
      name: 'tiny',
      description: 'four receivers',
      backend: 'auto',
      seed: 1,
      file: { kind: 'size', sizeBytes: 4_000_000 },
      transfer: { job: 'fragments', rateKbps: 40_000, width: 4, options: {} },
      strategies: ['round-robin', 'sequential'],
      repeat: 2,
      receivers: [0, 1, 2, 3].map((index) => ({ index, downBps: [10e6, 20e6, 5e6, 40e6][index]!, upBps: [5e6, 10e6, 2.5e6, 20e6][index]! })),
      sender: { upBps: 1e9 },
      events: [],
    },
    backend: 'sim',
    backendReason: 'chosen: --backend sim',
    environment: { kernel: '6.1.0', qdisc: 'htb', node: 'v20.20.2', gitCommit: 'abc123', cpus: 2, hostname: 'h' },
    startedAt: '2026-11-21T05:40:00.000Z',
    warnings: ['fidelity: example warning'],
    runs,
    medians: computeMedians(runs),
  };
}
