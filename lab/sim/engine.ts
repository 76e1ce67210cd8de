/**
 * The flow-level simulator: one fragment fan-out in virtual time, driven by the very strategy
 * objects and the very pump (sender/pump.ts) the TCP driver runs. Only the I/O is modelled:
 *
 *   - The sender: the same TokenBucket for the aggregate limit (wire bytes, 5-byte DATA headers
 *     included), the same width, the same window rule ("a whole chunk fits beside the bytes the
 *     receiver has not reported"), the same pump. A write is instantaneous; the chunk joins its
 *     connection's bytes in flight.
 *   - The network, as fluid flows: a connection's bytes in flight drain through its receiver's link
 *     (capacity in payload bytes/s, changed in place by timed events) and the sender's uplink,
 *     shared max-min fairly among the connections that have bytes in flight (fair-share.ts).
 *   - The receiver, as lab/../receiver/session.ts behaves: a PROGRESS report when
 *     `progressEveryBytes` have arrived since the last one, and `progressTailMs` after a read that
 *     leaves bytes unreported (so about every 5 ms while bytes trickle in); reports reach the
 *     sender half a round trip later. When the last byte has arrived the receiver finishes the
 *     file (`finalizeMs`: hash, fsync, rename) and its ACK reaches the sender half a round trip later.
 *   - Start-up: a connection is usable `connectMs` after it is started (TCP handshake, HELLO,
 *     ACCEPT), plus its share of the set-up CPU work (SetupServer: many connections opened at
 *     once wait for each other), plus what slow start costs on its link (slowStartLossMs).
 *
 * Everything is deterministic: events at equal times run in the order they were scheduled, and no
 * random number is drawn, so a scenario gives the same result bit for bit.
 */
import { Heap } from '../../core/heap.js';
import { IndexList } from '../../core/index-list.js';
import { TokenBucket, burstFor } from '../../core/token-bucket.js';
import { OpenQueue } from '../../sender/open-queue.js';
import { Pump } from '../../sender/pump.js';
import { WindowMeter } from '../../sender/rate-limiter.js';
import { createStrategy } from '../../sender/strategies/index.js';
import type { StrategyName } from '../../sender/strategies/names.js';
import type { Strategy, StrategyContext } from '../../sender/strategies/types.js';
import { HEADER_BYTES } from '../../wire/frames.js';
import type { SimModelParams } from '../types.js';
import { maxMinRates, waterLevel, type FairFlow } from './fair-share.js';

/**
 * What the simulator assumes about the machines and TCP; see DEFAULT_SIM_MODEL.
 *   connectMs: network time to connect (TCP handshake, HELLO, ACCEPT on the wire);
 *   setupCpuMs, setupCores: CPU time a connection's set-up costs (sender and receiver: sockets,
 *     the receiver's .part file, cold code paths), shared by processor sharing among `setupCores`;
 *   rttMs: sender-receiver round trip (report latency, slow start);
 *   initialWindowBytes: TCP's initial congestion window (slow start);
 *   progressTailMs: the receiver's tail-report delay (receiver/session.ts PROGRESS_TAIL_MS);
 *   finalizeMs: from the last byte's arrival to the receiver's ACK (hash tail, fsync, rename);
 *   linkEfficiency: the share of a link's payload capacity TCP gets through a shaped link (0..1].
 */
export type SimModel = SimModelParams;

/**
 * Defaults calibrated against the netns lab on this machine (README, "The simulator"): the veth
 * round trip is well under a millisecond; setting a connection up costs about 4 ms of CPU, and the
 * lab's 64 receivers and its sender share 2 cores (all 64 ACCEPTs arrive 126-174 ms after the
 * start); Linux's initial window is 10 segments; the receiver reports its tail after 5 ms; fsync,
 * rename and directory fsync take a few ms; HTB's shaped links gave their full TCP goodput
 * (1448/1514 of the link rate) on transfers of a second or more.
 */
export const DEFAULT_SIM_MODEL: SimModel = {
  connectMs: 1,
  setupCpuMs: 4,
  setupCores: 2,
  rttMs: 0.2,
  initialWindowBytes: 10 * 1448,
  progressTailMs: 5,
  finalizeMs: 3,
  linkEfficiency: 1,
};

/**
 * What slow start costs a flow on a link of `capBytesPerS`, ms: the time to send the bytes of the
 * doubling rounds (initial window, doubled each round trip, until it covers the link's
 * bandwidth-delay product) minus the time those bytes take at full rate. Zero when the initial
 * window already covers the link (a LAN with a sub-millisecond round trip).
 */
export function slowStartLossMs(capBytesPerS: number, rttMs: number, initialWindowBytes: number): number {
  const bdp = (capBytesPerS * rttMs) / 1000;
  if (!(bdp > initialWindowBytes) || !Number.isFinite(bdp)) return 0;
  const rounds = Math.ceil(Math.log2(bdp / initialWindowBytes));
  const bytes = initialWindowBytes * (2 ** rounds - 1);
  return Math.max(0, rounds * rttMs - (bytes / capBytesPerS) * 1000);
}

export interface SimTransferOptions {
  strategy: StrategyName | ((ctx: StrategyContext) => Strategy);
  fragmentBytes: readonly number[];
  /** Per receiver: its link's payload capacity, bytes/s. */
  capacityBytesPerS: readonly number[];
  /** Timed capacity changes. */
  changes?: readonly { atMs: number; index: number; bytesPerS: number }[];
  /** The sender's uplink, payload bytes/s (default: unlimited). */
  uplinkBytesPerS?: number;
  /**
   * Links some flows share besides the uplink (a site's trunk, links.ts): capacities in payload
   * bytes/s, and for each receiver the indexes of the ones its flow crosses. With any, every
   * re-share is the general max-min (fair-share.ts maxMinRates) instead of the star's water level.
   */
  shared?: { capacitiesBytesPerS: readonly number[]; linksOf: readonly (readonly number[])[] };
  /** The aggregate limit in wire bytes/s (default: unlimited). */
  rateBytesPerS?: number;
  width?: number;
  chunkBytes?: number;
  windowBytes?: number;
  progressEveryBytes?: number;
  model?: Partial<SimModel>;
  /** Give up (throw) if virtual time passes this, ms (default 24 h). */
  maxMs?: number;
}

export interface SimNodeResult {
  /** First ACCEPT, ms (null: never opened). */
  startMs: number | null;
  firstByteMs: number | null;
  doneMs: number | null;
  /** Connections opened for this fragment. */
  attempts: number;
}

export interface SimOutcome {
  makespanMs: number;
  nodes: SimNodeResult[];
  /** Fragments in the order they were first opened. */
  openOrder: number[];
  /** Fragments parked, in order. */
  parks: number[];
  payloadBytes: number;
  wireBytes: number;
  /** Busiest 1 s window of written wire bytes. */
  maxWindowBytes: number;
  maxConcurrent: number;
  /** Events processed (the simulator's own cost). */
  events: number;
  strategy: Strategy;
}

const enum St {
  Waiting = 0,
  Connecting = 1,
  Open = 2,
  Done = 3,
}

interface Ev {
  t: number;
  seq: number;
  run: () => void;
}

/**
 * Connection set-ups as equal jobs of `cpuMs` sharing `cores` by processor sharing: with n in
 * progress each advances at min(1, cores/n), so 64 set-ups started together on 2 cores all end
 * about 64 x cpuMs / 2 later, which is what the emulated lab shows (all 64 ACCEPTs 126-174 ms
 * in). Equal jobs finish in the order they started, so a virtual clock (the work each in-progress
 * job has received) and one pending event for the oldest job suffice: O(1) per change.
 */
export class SetupServer {
  private readonly jobs: { doneAtV: number; run: () => void }[] = [];
  private head = 0;
  /** Work each job in progress has received since the start, ms of CPU. */
  private v = 0;
  private lastMs = 0;
  private version = 0;

  constructor(
    private readonly cpuMs: number,
    private readonly cores: number,
    private readonly now: () => number,
    private readonly at: (t: number, run: () => void) => void,
  ) {}

  private get inProgress(): number {
    return this.jobs.length - this.head;
  }

  private advance(): void {
    const t = this.now();
    const n = this.inProgress;
    if (n > 0) this.v += (t - this.lastMs) * Math.min(1, this.cores / n);
    this.lastMs = t;
  }

  /** Starts a set-up; `run` is called when it is done. */
  start(run: () => void): void {
    if (!(this.cpuMs > 0)) {
      run();
      return;
    }
    this.advance();
    this.jobs.push({ doneAtV: this.v + this.cpuMs, run });
    this.schedule();
  }

  private schedule(): void {
    const n = this.inProgress;
    if (n === 0) {
      this.jobs.length = 0;
      this.head = 0;
      return;
    }
    const version = ++this.version;
    const job = this.jobs[this.head]!;
    const rate = Math.min(1, this.cores / n);
    this.at(this.now() + Math.max(0, job.doneAtV - this.v) / rate, () => {
      if (version !== this.version) return;
      this.advance();
      this.head++;
      this.schedule();
      job.run();
    });
  }
}

export class SimError extends Error {
  override readonly name = 'SimError';
}

/** Simulates one transfer to the end. */
export function simulateTransfer(o: SimTransferOptions): SimOutcome {
  const n = o.fragmentBytes.length;
  if (n === 0) throw new SimError('no fragments');
  if (o.capacityBytesPerS.length !== n) throw new SimError(`${n} fragments but ${o.capacityBytesPerS.length} link capacities`);
  const m: SimModel = { ...DEFAULT_SIM_MODEL, ...o.model };
  const chunk = o.chunkBytes ?? 64 * 1024;
  const windowBytes = o.windowBytes ?? 512 * 1024;
  const P = o.progressEveryBytes ?? 64 * 1024;
  const rate = o.rateBytesPerS ?? Infinity;
  const uplink = o.uplinkBytesPerS ?? Infinity;
  const width = Math.min(o.width ?? n, n);
  const maxMs = o.maxMs ?? 86_400_000;
  const halfRtt = m.rttMs / 2;
  const size = Float64Array.from(o.fragmentBytes);
  const ctx: StrategyContext = {
    fragments: o.fragmentBytes.map((sizeBytes, index) => ({ index, sizeBytes })),
    width,
    rateBytesPerS: rate,
    chunkBytes: chunk,
    windowBytes,
    progressEveryBytes: P,
  };
  const strategy = typeof o.strategy === 'string' ? createStrategy(o.strategy, ctx) : o.strategy(ctx);
  const limiter = new TokenBucket(rate, burstFor(rate, chunk), 0);
  const meter = new WindowMeter();

  // --- the event queue -------------------------------------------------------------------------
  let now = 0;
  let seq = 0;
  let events = 0;
  const queue = new Heap<Ev>((a, b) => a.t < b.t || (a.t === b.t && a.seq < b.seq));
  const at = (t: number, run: () => void): void => queue.push({ t, seq: seq++, run });

  // --- sender state ------------------------------------------------------------------------------
  const state = new Uint8Array(n);
  const epoch = new Uint32Array(n);
  const sent = new Float64Array(n);
  const seen = new Float64Array(n);
  const toldRoom = new Uint8Array(n);
  const nodes: SimNodeResult[] = Array.from({ length: n }, () => ({ startMs: null, firstByteMs: null, doneMs: null, attempts: 0 }));
  const openOrder: number[] = [];
  const parks: number[] = [];
  let payloadBytes = 0;
  let wireBytes = 0;
  let finished = 0;
  let makespanMs = 0;
  let maxConcurrent = 0;

  // --- network and receiver state ----------------------------------------------------------------
  const cap = Float64Array.from(o.capacityBytesPerS, (c) => c * m.linkEfficiency);
  const arrived = new Float64Array(n);
  const tRef = new Float64Array(n);
  const flowRate = new Float64Array(n);
  const flowVer = new Uint32Array(n);
  const lastReport = new Float64Array(n);
  const tailVer = new Uint32Array(n);
  const tailPending = new Uint8Array(n);
  /** Flows with bytes in flight (walked only while the uplink is full). */
  const active = new IndexList(n);
  let activeCapSum = 0;
  let level = Infinity; // the uplink's water level while it is oversubscribed

  const settle = (i: number): void => {
    if (flowRate[i]! > 0) arrived[i]! += (flowRate[i]! * (now - tRef[i]!)) / 1000;
    tRef[i] = now;
  };

  /** The next moment something happens on flow i: a report boundary or its bytes in flight drained. */
  const scheduleMilestone = (i: number): void => {
    const v = ++flowVer[i]!;
    if (!(flowRate[i]! > 0)) return;
    const target = Math.min(sent[i]!, lastReport[i]! + P);
    const t = now + (Math.max(0, target - arrived[i]!) / flowRate[i]!) * 1000;
    at(t, () => {
      if (flowVer[i] !== v) return;
      settle(i);
      arrived[i] = target;
      onArrival(i);
    });
  };

  const setRate = (i: number, r: number): void => {
    if (flowRate[i] === r) return;
    settle(i);
    flowRate[i] = r;
    scheduleMilestone(i);
  };


  const shared = o.shared && o.shared.capacitiesBytesPerS.length > 0 ? o.shared : undefined;
  if (shared && shared.linksOf.length !== n) throw new SimError(`${n} fragments but ${shared.linksOf.length} shared-link lists`);
  /** [uplink, ...shared links], for maxMinRates. */
  const sharedCaps = shared ? [uplink, ...shared.capacitiesBytesPerS.map((c) => c * m.linkEfficiency)] : [];
  const sharedLinks = shared
    ? shared.linksOf.map((ls) => [0, ...ls.map((l) => l + 1)].filter((l) => Number.isFinite(sharedCaps[l]!)))
    : [];

  /** Re-divides the uplink after flows started or stopped, or a link changed. */
  const reshare = (changed: number): void => {
    if (shared) {
      // General max-min over the uplink and the shared links; each flow's own link is its demand.
      const list = [...active];
      const flows: FairFlow[] = list.map((i) => ({ links: sharedLinks[i]!, demand: cap[i]! }));
      const rates = maxMinRates(flows, sharedCaps);
      if (!active.has(changed)) setRate(changed, 0);
      list.forEach((i, k) => setRate(i, rates[k]!));
      return;
    }
    const over = Number.isFinite(uplink) && activeCapSum > uplink * (1 + 1e-12);
    if (!over && !Number.isFinite(level)) {
      // Nothing shared is full: every flow runs at its own link's rate. O(1).
      setRate(changed, active.has(changed) ? cap[changed]! : 0);
      return;
    }
    // The uplink is (or was) full: a new water level for every flow with bytes in flight.
    const list = [...active];
    level = over ? waterLevel(list.map((i) => cap[i]!), uplink) : Infinity;
    if (!active.has(changed)) setRate(changed, 0);
    for (const i of list) setRate(i, Math.min(cap[i]!, level));
  };

  const setActive = (i: number, on: boolean): void => {
    if (active.has(i) === on) return;
    activeCapSum += on ? cap[i]! : -cap[i]!;
    if (on) active.add(i);
    else active.delete(i);
    if (active.size === 0) activeCapSum = 0; // no drift from adding and subtracting floats
    reshare(i);
  };

  const startTail = (i: number): void => {
    if (tailPending[i]) return;
    tailPending[i] = 1;
    const v = ++tailVer[i]!;
    const e = epoch[i]!;
    at(now + m.progressTailMs, () => {
      if (tailVer[i] !== v || epoch[i] !== e) return;
      tailPending[i] = 0;
      settle(i);
      if (Math.floor(arrived[i]!) > lastReport[i]!) report(i);
    });
  };

  /** The receiver sends PROGRESS with what has arrived; the sender reads it half a round trip later. */
  const report = (i: number): void => {
    const value = Math.floor(arrived[i]!);
    lastReport[i] = value;
    tailPending[i] = 0;
    tailVer[i]!++;
    const e = epoch[i]!;
    at(now + halfRtt, () => {
      if (epoch[i] !== e || state[i] !== St.Open) return;
      if (value > seen[i]!) seen[i] = value;
      strategy.onDelivered(now, i, value);
      syncRoom(i);
      requestPump();
    });
    if (active.has(i)) {
      startTail(i);
      scheduleMilestone(i);
    }
  };

  const onArrival = (i: number): void => {
    if (arrived[i]! >= size[i]!) {
      // The whole fragment is here: the receiver finishes the file and acknowledges it.
      setActive(i, false);
      tailVer[i]!++;
      tailPending[i] = 0;
      const e = epoch[i]!;
      at(now + m.finalizeMs + halfRtt, () => {
        if (epoch[i] !== e) return;
        acked(i);
      });
      return;
    }
    if (arrived[i]! - lastReport[i]! >= P) report(i);
    if (arrived[i]! >= sent[i]!) setActive(i, false);
    else scheduleMilestone(i);
  };

  // --- connection set-up: equal CPU jobs sharing `setupCores` (processor sharing) ---------------
  const setups = new SetupServer(m.setupCpuMs, m.setupCores, () => now, at);

  // --- the sender, as the pump's host ------------------------------------------------------------
  const writable = (i: number, maxBytes: number): number => {
    if (state[i] !== St.Open) return 0;
    const left = size[i]! - sent[i]!;
    if (left <= 0) return 0;
    const windowLeft = windowBytes - (sent[i]! - seen[i]!);
    const next = Math.min(chunk, left);
    if (windowLeft < next) return 0;
    return Math.max(0, Math.min(maxBytes, next, windowLeft));
  };

  const syncRoom = (i: number): void => {
    if (state[i] !== St.Open) return;
    const room = writable(i, chunk) > 0 ? 1 : 0;
    if (room !== toldRoom[i]) {
      toldRoom[i] = room;
      strategy.onRoom(now, i, room === 1);
    }
  };

  const openQueue = OpenQueue.allReady(n);
  const pump = new Pump(strategy, limiter, openQueue, width, chunk, {
    park: (_t, i) => {
      if (state[i] !== St.Open) return false;
      // The receiver keeps what has arrived; bytes still in flight are lost with the connection.
      settle(i);
      arrived[i] = Math.floor(arrived[i]!);
      setActive(i, false);
      sent[i] = arrived[i]!;
      epoch[i]!++;
      tailVer[i]!++;
      tailPending[i] = 0;
      state[i] = St.Waiting;
      toldRoom[i] = 0;
      parks.push(i);
      openQueue.add(i, now, now);
      return true;
    },
    open: (_t, i) => {
      state[i] = St.Connecting;
      const e = ++epoch[i]!;
      nodes[i]!.attempts++;
      if (nodes[i]!.attempts === 1) openOrder.push(i);
      maxConcurrent = Math.max(maxConcurrent, pump.openCount);
      // Network set-up first, then the CPU work of setting the connection up (shared), then what
      // slow start costs on this link.
      at(now + m.connectMs, () => setups.start(() => at(now + slowStartLossMs(cap[i]!, m.rttMs, m.initialWindowBytes), () => {
        if (epoch[i] !== e) return;
        state[i] = St.Open;
        const offset = Math.floor(arrived[i]!);
        arrived[i] = offset;
        sent[i] = seen[i] = lastReport[i] = offset;
        nodes[i]!.startMs ??= now;
        toldRoom[i] = 1;
        strategy.onOpen(now, i, offset);
        syncRoom(i);
        requestPump();
      })));
    },
    writable,
    write: (_t, i, bytes) => {
      nodes[i]!.firstByteMs ??= now;
      settle(i);
      sent[i]! += bytes;
      payloadBytes += bytes;
      wireBytes += bytes + HEADER_BYTES;
      meter.add(now, bytes + HEADER_BYTES);
      if (active.has(i)) scheduleMilestone(i);
      else {
        setActive(i, true);
        startTail(i);
      }
    },
    toldNoRoom: (i) => (toldRoom[i] = 0),
    syncRoom,
  });

  const acked = (i: number): void => {
    state[i] = St.Done;
    nodes[i]!.doneMs = now;
    pump.openCount--;
    strategy.onClosed(now, i, 'done');
    finished++;
    makespanMs = now;
    requestPump();
  };

  // --- pumping -----------------------------------------------------------------------------------
  // As in the TCP driver, the pump runs right away whenever something happened (a report, an
  // ACCEPT, an ACK, a wake-up); only a pass cut short at maxWrites continues as a new event.
  let armedAt = Infinity;
  function requestPump(): void {
    pump.drive(
      () => now,
      (r) => {
        if (r.more) at(now, requestPump);
        if (Number.isFinite(r.wakeAtMs) && r.wakeAtMs < armedAt) {
          armedAt = r.wakeAtMs;
          const wakeAt = r.wakeAtMs;
          at(wakeAt, () => {
            if (armedAt === wakeAt) armedAt = Infinity;
            requestPump();
          });
        }
      },
    );
  }

  for (const c of o.changes ?? []) {
    if (!(c.index >= 0 && c.index < n)) throw new SimError(`capacity change for receiver ${c.index}, which does not exist`);
    at(c.atMs, () => {
      settle(c.index);
      const next = c.bytesPerS * m.linkEfficiency;
      if (active.has(c.index)) activeCapSum += next - cap[c.index]!;
      cap[c.index] = next;
      if (active.has(c.index)) reshare(c.index);
    });
  }

  requestPump();
  while (finished < n) {
    const ev = queue.pop();
    if (ev === undefined) throw new SimError(`the simulation stalled at ${now.toFixed(1)} ms with ${n - finished} of ${n} fragments unfinished (strategy ${strategy.name})`);
    if (ev.t > maxMs) throw new SimError(`the simulation passed ${maxMs} ms of virtual time with ${n - finished} fragments unfinished`);
    now = ev.t;
    events++;
    ev.run();
  }
  return {
    makespanMs,
    nodes,
    openOrder,
    parks,
    payloadBytes,
    wireBytes,
    maxWindowBytes: meter.maxWindowBytes(1000),
    maxConcurrent,
    events,
    strategy,
  };
}
