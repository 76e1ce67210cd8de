/**
 * probe-prioritise: measure, then serve the longest pole first.
 *
 * 1. Probe. Every fragment's first `probeBytes` are a probe. Unprobed fragments are opened first, in
 *    list order. Once the receiver's PROGRESS reports show the probe delivered, the node's rate is
 *    estimated and the connection either carries on to the end or is parked: closed, and later
 *    resumed from the receiver's offset. It is parked only when that pays (shouldPark, plan):
 *    discovery is behind schedule (a pole met late in list order would overrun the end) or probing
 *    everyone ahead is cheap; the slot time it frees is worth twice the set-up it costs again; it is
 *    no pole itself; and set-ups do not queue for a shared CPU. While a park is possible, a
 *    connection that sent its probe holds until the probe is delivered (bytes in flight at a park
 *    are lost); otherwise it carries straight on. With width >= nodes nothing ever waits, so
 *    probing costs nothing. costs() reports parks, set-ups made again and probe bytes.
 * 2. Prioritise. A free slot goes to an unprobed fragment, in list order, unless a parked one must
 *    start to end in time; parked fragments then start longest estimated remaining time first once
 *    they are due, and in list order before that (mixing slow and fast links on the sender's
 *    uplink). When the aggregate rate is the bottleneck, chunks go first to nodes whose capacity is
 *    measured, longest remaining time first, so a slow node once found is never starved by fast
 *    ones (see pickWrite).
 * 3. Revise. Every PROGRESS report updates the node's rate estimate. A sample taken while the
 *    connection's window was full measures the network, and enters an exponentially weighted mean
 *    (so a link that slows down mid-transfer moves up the queue); a sample taken while it had
 *    room measures only the share this sender gave it (under a binding aggregate limit, that is
 *    what it is), so it may raise the estimate, and lower it only by a slow decay. Rates are
 *    measured over the last half second of reports.
 *    When rate is scarce, nodes whose capacity has been measured this way are served before nodes
 *    known only by a lower bound.
 *
 * Each fragment is parked at most once (right after its probe, or never), so a noisy estimate
 * cannot make connections thrash.
 */
import { Heap } from '../../core/heap.js';
import { IndexList } from '../../core/index-list.js';
import { BookStrategy, type FragmentState } from './book.js';
import type { Candidates, CloseReason, ProbeCosts, StrategyContext, WriteDecision } from './types.js';

/**
 * Rates are measured over the reports of the last EST_WINDOW_MS, and only once they span at least
 * MIN_SAMPLE_MS. PROGRESS reports arrive in clumps (a loaded receiver is descheduled, then reads a
 * burst), so the interval between two of them can be a fraction of a millisecond: per-report
 * rates were noise (seen: 357 Gbit/s for a 24 Mbit/s link, 9.5 Mbit/s for a 4.6 Mbit/s one).
 */
const EST_WINDOW_MS = 500;
const MIN_SAMPLE_MS = 200;
/** A pace-limited estimate above what is measured halves every second (see revise). */
const ESTIMATE_DECAY_PER_S = 0.5;
/** Slot time a park loses besides the new set-up: the report that ends the probe, the close. */
const PARK_GAP_MS = 1;
/**
 * Parking every probed node is "cheap" when its set-ups cost at most this share of the time left
 * (as estimated from the nodes seen so far). The slowest node not yet seen is unknown: a share this
 * size finds late-listed poles in time (simulated late-slow: 1.14 at 0.03, 1.10 at 0.06, 1.07 at
 * 0.10), and costs at most that share where no pole hides (32 equal nodes, width 4, 40 ms set-ups:
 * at 0.10 every node is parked once, 9 % slower than in list order; at 0.06 none is).
 */
const CHEAP_PROBING_SHARE = 0.06;
/** Parks stop while the set-ups left would take more than this share of the time left on a shared CPU. */
const SETUP_SHARE_MAX = 0.6;
/**
 * A parked fragment starts before the unprobed and in longest-first order once it would otherwise
 * end within this many mean transfer times of the makespan's floor (simulated: 12 nodes on 3 slots
 * 1.083 -> 1.042 of the bound with 2 instead of 0; 10,000 on 500 slots 1.031 -> 1.056).
 */
const URGENT_MARGIN_MEANS = 2;
/** Weight of a new sample in the set-up means. */
const SETUP_EWMA = 0.1;

interface Estimate {
  /** Bytes per ms, or null until the first windowed sample (or the probe's end). */
  rateBytesPerMs: number | null;
  revisedAtMs: number;
  /**
   * Recent PROGRESS reports from `head` on: the first is the anchor the windowed rate is measured
   * from. `notFull` counts the reports after the anchor taken while the window had room.
   */
  hist: { atMs: number; bytes: number; full: boolean }[];
  head: number;
  notFull: number;
  openedAtMs: number;
  openedAtBytes: number;
  /** The first report after an open is the baseline: it carries connection set-up time. */
  haveBaseline: boolean;
  /** The window was full at some point since the sample began: the network set the pace. */
  sawFull: boolean;
  /** A network-bound sample has been taken: the estimate is the node's capacity, not a lower bound. */
  capacityKnown: boolean;
  probed: boolean;
  parked: boolean;
  /** Probed and left open by takeParkRequests: it carries on to the end. */
  kept: boolean;
}

export interface ProbePrioritiseOptions {
  /** Bytes of each fragment used as its probe; default max(2 progress reports, size/16). */
  probeBytes?: number;
}

export class ProbePrioritise extends BookStrategy {
  readonly name = 'probe-prioritise' as const;
  private readonly est: Estimate[];
  private readonly probeBytes: number[];
  /** Fragments the driver has started connecting at least once (pickOpen's list-order cursor skips them). */
  private readonly tried: Uint8Array;
  private freshCursor = 0;
  /** Tried, closed before their probe was delivered, and not finished: they wait for a slot again. */
  private readonly retryUnprobed = new Set<number>();
  /**
   * The ready connections (BookStrategy.ready) by pickWrite's tiers, each kept in ready order, so a
   * decision does not walk every open connection: probes being sent; measured nodes by longest
   * remaining time (a heap; stale entries carry an old version); the rest.
   */
  private readonly probeReady: IndexList;
  private readonly rotationReady: IndexList;
  private readonly known = new Heap<{ ms: number; index: number; version: number }>((a, b) => a.ms > b.ms || (a.ms === b.ms && a.index < b.index));
  private readonly knownVersion: Uint32Array;
  /** Open connections that may be parked (probed, first connection, no more than the probe sent). */
  private readonly parkable = new Set<number>();
  /** When each connection last opened (openOrder's order, to sort park requests by). */
  private readonly openSeq: Float64Array;
  private opened = 0;
  /** Waiting fragments not yet probed (never tried, or cut off before their probe arrived). */
  private unprobedWaiting: number;
  /** Waiting probed fragments by remaining time (which cannot change while they wait). */
  private readonly waitingProbed = new Heap<{ ms: number; index: number; version: number }>((a, b) => a.ms > b.ms || (a.ms === b.ms && a.index < b.index));
  private readonly waitVersion: Uint32Array;

  // --- the schedule (see plan()): what is known about the work, kept up to date in O(1) per event.
  /** When each fragment's current connection started connecting (set-up time = open - this). */
  private readonly connectingAt: Float64Array;
  /** Each probed, unfinished fragment's contribution to probedRemainingMs (its remainingMs). */
  private readonly remContrib: Float64Array;
  /** Sum of remainingMs over probed fragments not done: the known work left, ms of slot time. */
  private probedRemainingMs = 0;
  /** Full-fragment times (size / rate at the probe's end) over probed fragments: sum, count, max. */
  private fullSumMs = 0;
  private fullCount = 0;
  private fullMaxMs = 0;
  /** Mean connection set-up time (connecting -> open), ms; null before the first open. */
  private setupMs: number | null = null;
  /** Mean slot time a probe took (connecting -> probe delivered), ms; null before the first probe. */
  private probeSlotMs: number | null = null;
  /** Fragments not done, not failed, not yet probed (waiting or open). */
  private unprobedLeft: number;
  private undeliveredBytes: number;
  /** What the probes cost (costs()). */
  private readonly cost = { parks: 0, extraSetups: 0, probeBytes: 0 };
  /** Remaining time summed over the parked (probed, waiting) fragments, ms, and their count. */
  private parkedMs = 0;
  private parkedCount = 0;
  /** Connections connecting now, and how many were when each fragment's connection started. */
  private connectingNow = 0;
  private readonly crowdAt: Uint32Array;
  /**
   * What one more set-up costs everyone, ms: where set-ups share a CPU they queue (processor
   * sharing), and a set-up started among n takes n times this. Measured as set-up time / n on
   * connections started among at least a quarter of the width (the first burst, later waves).
   */
  private globalSetupMs: number | null = null;

  constructor(ctx: StrategyContext, opts: ProbePrioritiseOptions = {}) {
    super(ctx);
    this.probeBytes = ctx.fragments.map((f) =>
      Math.min(f.sizeBytes, opts.probeBytes ?? Math.max(2 * ctx.progressEveryBytes, Math.ceil(f.sizeBytes / 16))),
    );
    this.tried = new Uint8Array(ctx.fragments.length);
    this.probeReady = new IndexList(ctx.fragments.length);
    this.rotationReady = new IndexList(ctx.fragments.length);
    this.knownVersion = new Uint32Array(ctx.fragments.length);
    this.waitVersion = new Uint32Array(ctx.fragments.length);
    this.openSeq = new Float64Array(ctx.fragments.length);
    this.unprobedWaiting = ctx.fragments.length;
    this.unprobedLeft = ctx.fragments.length;
    this.undeliveredBytes = ctx.fragments.reduce((a, f) => a + f.sizeBytes, 0);
    this.connectingAt = new Float64Array(ctx.fragments.length);
    this.remContrib = new Float64Array(ctx.fragments.length);
    this.crowdAt = new Uint32Array(ctx.fragments.length);
    this.est = ctx.fragments.map(() => ({
      rateBytesPerMs: null,
      revisedAtMs: 0,
      hist: [],
      head: 0,
      notFull: 0,
      openedAtMs: 0,
      openedAtBytes: 0,
      haveBaseline: false,
      sawFull: false,
      capacityKnown: false,
      probed: false,
      parked: false,
      kept: false,
    }));
  }

  /** Estimated rate in bytes/s (null until measured); for reports and tests. */
  estimatedRateBytesPerS(index: number): number | null {
    const r = this.est[index]?.rateBytesPerMs;
    return r == null ? null : r * 1000;
  }

  /** Estimated ms to deliver what `f` has not yet delivered; Infinity while unknown. */
  private remainingMs(f: FragmentState): number {
    const rate = this.est[f.index]!.rateBytesPerMs;
    const left = f.sizeBytes - f.deliveredBytes;
    if (rate === null || rate <= 0) return Infinity;
    return left / rate;
  }

  private isWaiting(f: FragmentState): boolean {
    return !f.open && !f.connecting && !f.done && !f.failed;
  }

  /** The waiting probed fragment with the longest remaining time (stale heap entries dropped). */
  private longestWaiting(): { ms: number; index: number } | null {
    for (;;) {
      const top = this.waitingProbed.peek();
      if (top === undefined) return null;
      if (top.version === this.waitVersion[top.index] && this.isWaiting(this.frag(top.index))) return top;
      this.waitingProbed.pop();
    }
  }

  /** The measured ready connection with the longest remaining time. */
  private longestKnown(): { ms: number; index: number } | null {
    for (;;) {
      const top = this.known.peek();
      if (top === undefined) return null;
      if (top.version === this.knownVersion[top.index]) return top;
      this.known.pop();
    }
  }

  /** Files `f` under its pickWrite tier (after `ready` changed, or its estimate did). */
  private classify(f: FragmentState, toBack: boolean): void {
    const i = f.index;
    const e = this.est[i]!;
    const tier = !this.ready.has(i) ? 0 : !e.probed && f.sentBytes < this.probeBytes[i]! ? 1 : e.capacityKnown ? 2 : 3;
    const place = (set: IndexList, member: boolean): void => {
      if (!member) set.delete(i);
      else if (toBack || !set.has(i)) {
        set.delete(i);
        set.add(i);
      }
    };
    place(this.probeReady, tier === 1);
    place(this.rotationReady, tier === 3);
    const version = ++this.knownVersion[i]!;
    if (tier === 2) this.known.push({ ms: this.remainingMs(f), index: i, version });
    const mayPark = f.open && e.probed && !e.parked && !e.kept && f.opens === 1 && f.sentBytes <= this.probeBytes[i]! && f.deliveredBytes < f.sizeBytes;
    if (mayPark) this.parkable.add(i);
    else this.parkable.delete(i);
  }

  protected override refresh(f: FragmentState, toBack = false): void {
    super.refresh(f, toBack);
    this.classify(f, toBack);
  }


  /** Slot-time share and global share of a park, ms (see plan): the set-up it costs again. */
  private parkCostMs(): number {
    return (this.setupMs ?? 0) + 2 * PARK_GAP_MS;
  }

  /**
   * The schedule as far as it is known (O(1) from running sums), or null before any probe ended.
   *   - known work: `probedRemainingMs` (probed fragments not done), of which `parkedMs` waits;
   *   - unknown work: every unprobed fragment counted at the mean full-fragment time plus a set-up;
   *   - `endMs`: the makespan cannot be under now + work / width (nor under what the aggregate rate
   *     needs for the bytes left); when the rate binds, every slot's time stretches by `stretch`;
   *   - discovery: without more parks, the open connections and then the unprobed fragments in list
   *     order take every slot until `endMs - parkedMs / width` (the parked work fills the tail);
   *   - behind: the last unprobed node of a slot starts about a mean transfer before discovery ends;
   *     were it as slow as the slowest found so far (`fullMaxMs`) it would overrun the end: keep
   *     parking (probing ahead) until the parked work covers that. Or probing everyone is cheap.
   */
  private plan(nowMs: number): { nowMs: number; behind: boolean; endMs: number; discoveryEndMs: number; probingEndMs: number; stretch: number } | null {
    if (this.fullCount === 0) return null;
    const W = this.ctx.width;
    const meanFull = this.fullSumMs / this.fullCount;
    const setup = this.setupMs ?? 0;
    const unknownMs = this.unprobedLeft * (meanFull + setup);
    const slotEndMs = (this.probedRemainingMs + this.parkedCount * setup + unknownMs) / W;
    const rateEndMs = Number.isFinite(this.ctx.rateBytesPerS) ? (this.undeliveredBytes / this.ctx.rateBytesPerS) * 1000 : 0;
    const stretch = slotEndMs > 0 ? Math.max(1, rateEndMs / slotEndMs) : 1;
    const endMs = nowMs + Math.max(slotEndMs, rateEndMs);
    const discoveryEndMs = endMs - (stretch * this.parkedMs) / W;
    const probingEndMs = nowMs + (this.unprobedLeft * (this.probeSlotMs ?? meanFull + setup) * stretch) / W;
    // Probing everyone first is cheap when its parks cost little against the time left: then the
    // slowest node not yet found (which the slowest found says nothing about) is found early too.
    const cheap = (this.unprobedLeft * this.parkCostMs() * stretch) / W <= CHEAP_PROBING_SHARE * (endMs - nowMs);
    // In list order the last node of each slot starts about one typical transfer before the end: a
    // pole there overruns by fullMaxMs - meanFull, unless parked work fills the end instead.
    // (An overrun smaller than a park's cost is not worth a park.)
    const overrunMs = discoveryEndMs + (this.fullMaxMs - meanFull) * stretch - endMs;
    return { nowMs, behind: cheap || overrunMs > this.parkCostMs(), endMs, discoveryEndMs, probingEndMs, stretch };
  }

  /**
   * Park `f` (probed just now) rather than let it carry on? Only if discovery is behind (plan), the
   * slot time it frees is worth more than the set-up it costs again (twice over), it is no pole
   * itself (resumed after the probing, it still ends by the makespan's floor), and the set-ups
   * parks add stay within budget where set-ups queue for a shared CPU (globalSetupMs).
   */
  private shouldPark(f: FragmentState, p: NonNullable<ReturnType<ProbePrioritise['plan']>>, extra: number): boolean {
    if (!p.behind) return false;
    const leftMs = this.remainingMs(f) * p.stretch;
    const cost = this.parkCostMs();
    if (!(leftMs >= 2 * cost)) return false;
    if (p.probingEndMs + cost + leftMs > p.endMs) return false;
    return this.setupsAllowPark(p, extra);
  }

  /**
   * Where set-ups queue for a shared CPU, every set-up left delays them all: a park must not make
   * the set-ups the bottleneck (g is measured low rather than high, hence the margin).
   */
  private setupsAllowPark(p: NonNullable<ReturnType<ProbePrioritise['plan']>>, extra: number): boolean {
    const g = this.globalSetupMs ?? 0;
    const setupsLeftMs = (this.unprobedLeft + this.parkedCount + extra + 1) * g;
    return setupsLeftMs <= SETUP_SHARE_MAX * (p.endMs - p.nowMs);
  }

  pickOpen(nowMs: number, candidates: Candidates): number | null {
    // A parked fragment that would end after the makespan's floor if it waited for the probing to
    // end starts now (longest first): the longest poles first, once known.
    const top0 = this.longestWaiting();
    if (top0 !== null && candidates.has(top0.index)) {
      const p = this.plan(nowMs);
      const doneBy = p === null ? -Infinity : Math.min(p.behind ? p.probingEndMs : p.discoveryEndMs, p.endMs) + (this.setupMs ?? 0) + top0.ms * p.stretch;
      if (p !== null && doneBy >= p.endMs) return top0.index;
    }
    // Unprobed first, in list order: the lowest never-tried fragment, or a lower one whose first
    // attempt failed before its probe was delivered.
    while (this.freshCursor < this.tried.length && this.tried[this.freshCursor]) this.freshCursor++;
    let best: number | null = this.freshCursor < this.tried.length && candidates.has(this.freshCursor) ? this.freshCursor : null;
    for (const c of this.retryUnprobed) if (candidates.has(c) && (best === null || c < best)) best = c;
    if (best !== null) return best;
    // Then the parked: the longest estimated remaining time first (ties: list order) once it must
    // start to end by the makespan's floor (less a margin of URGENT_MARGIN_MEANS mean transfers:
    // the floor is a lower bound, and with few nodes per slot the end must be packed longest-first);
    // until then the lowest index, so long and short
    // transfers mix and the sender's bandwidth is used evenly (strict longest-first runs the slow
    // links together, then the fast ones together, the latter crowding the sender's uplink).
    const top = this.longestWaiting();
    if (top !== null && candidates.has(top.index)) {
      const p = this.plan(nowMs);
      const first = candidates.first();
      const marginMs = URGENT_MARGIN_MEANS * (this.fullSumMs / Math.max(1, this.fullCount));
      if (p === null || first === null || nowMs + (this.setupMs ?? 0) + top.ms * p.stretch >= p.endMs - marginMs) return top.index;
      return first;
    }
    let bestKey = -1;
    for (const c of candidates) {
      const key = this.remainingMs(this.frag(c));
      if (best === null || key > bestKey || (key === bestKey && c < best)) {
        best = c;
        bestKey = key;
      }
    }
    return best;
  }

  override onConnecting(nowMs: number, index: number): void {
    const f = this.frag(index);
    const e = this.est[index]!;
    if (this.isWaiting(f) && !e.probed) this.unprobedWaiting--;
    if (this.isWaiting(f) && e.probed) {
      this.parkedMs -= this.remContrib[index]!;
      this.parkedCount--;
      if (e.parked && f.opens === 1) this.cost.extraSetups++;
    }
    this.connectingAt[index] = nowMs;
    this.crowdAt[index] = ++this.connectingNow;
    super.onConnecting(nowMs, index);
    this.tried[index] = 1;
    this.retryUnprobed.delete(index);
  }

  /**
   * A connection that sent its probe waits for it to be delivered (it may be parked then, and bytes
   * in flight at a park are lost), but only while parks are possible: someone unprobed waits for a
   * slot and discovery is behind (or nothing is known yet). Otherwise it carries straight on.
   */
  private holdsAfterProbe(f: FragmentState, mayPark: () => boolean): boolean {
    const e = this.est[f.index]!;
    return !e.parked && f.opens === 1 && f.sentBytes >= this.probeBytes[f.index]! && !e.probed && this.unprobedWaiting > 0 && mayPark();
  }

  /** pickWrite's lazily computed "parks are possible now" (plan() is O(1), but not free). */
  private parksPossible(nowMs: number): () => boolean {
    let memo: boolean | null = null;
    return () => {
      if (memo === null) {
        const p = this.plan(nowMs);
        memo = p === null || (p.behind && this.setupsAllowPark(p, 0));
      }
      return memo;
    };
  }

  /**
   * Who gets the next chunk, in three tiers:
   *   1. a probe still being sent (in the order connections became ready);
   *   2. nodes whose capacity is measured (their window stayed full: the network sets their pace),
   *      longest remaining time first: the time the node still needs from what it has *delivered*
   *      (bytes in flight are queued at its bottleneck; counting them as done would demote a slow
   *      node exactly when its window is full);
   *   3. everyone else, least recently served first, as backpressure does. Their estimates are
   *      only lower bounds (we set their pace), and ranking by them fed fast nodes ahead of slow
   *      ones (measured: 1.4x backpressure's makespan on `uniform`).
   * Tier 2 is how a slow node, once found, is kept busy from then on.
   */
  pickWrite(nowMs: number): WriteDecision | null {
    const mayPark = this.parksPossible(nowMs);
    const probe = this.probeReady.first();
    if (probe !== null) return { index: probe, maxBytes: Math.min(this.ctx.chunkBytes, this.probeBytes[probe]! - this.frag(probe).sentBytes) };
    const pole = this.longestKnown();
    if (pole !== null) {
      if (!this.holdsAfterProbe(this.frag(pole.index), mayPark)) return { index: pole.index, maxBytes: this.ctx.chunkBytes };
      return this.pickWriteSlowly(mayPark);
    }
    for (const index of this.rotationReady) {
      if (!this.holdsAfterProbe(this.frag(index), mayPark)) return { index, maxBytes: this.ctx.chunkBytes };
    }
    return null;
  }

  /** pickWrite by walking every ready connection (only when the longest measured pole is holding). */
  private pickWriteSlowly(mayPark: () => boolean): WriteDecision | null {
    let pole: FragmentState | null = null;
    let poleMs = -1;
    let rotation: number | null = null;
    for (const index of this.ready) {
      const f = this.frag(index);
      if (this.probeReady.has(index) || this.holdsAfterProbe(f, mayPark)) continue;
      if (this.est[index]!.capacityKnown) {
        const ms = this.remainingMs(f);
        if (ms > poleMs) {
          pole = f;
          poleMs = ms;
        }
      } else if (rotation === null) {
        rotation = index;
      }
    }
    const index = pole?.index ?? rotation;
    return index === null ? null : { index, maxBytes: this.ctx.chunkBytes };
  }

  override onOpen(nowMs: number, index: number, offsetBytes: number): void {
    this.openSeq[index] = this.opened++;
    if (this.frag(index).connecting) {
      this.connectingNow--;
      const took = Math.max(0, nowMs - this.connectingAt[index]!);
      this.setupMs = this.setupMs === null ? took : this.setupMs + SETUP_EWMA * (took - this.setupMs);
      const crowd = this.crowdAt[index]!;
      if (crowd >= Math.max(2, Math.ceil(this.ctx.width / 4))) {
        const g = took / crowd;
        this.globalSetupMs = this.globalSetupMs === null ? g : this.globalSetupMs + SETUP_EWMA * (g - this.globalSetupMs);
      }
    }
    super.onOpen(nowMs, index, offsetBytes);
    const e = this.est[index]!;
    e.haveBaseline = false;
    e.sawFull = false;
    e.hist = [];
    e.head = 0;
    e.notFull = 0;
    e.openedAtMs = nowMs;
    e.openedAtBytes = offsetBytes;
  }

  override onDelivered(nowMs: number, index: number, deliveredBytes: number): void {
    const f = this.frag(index);
    const before = f.deliveredBytes;
    super.onDelivered(nowMs, index, deliveredBytes);
    this.undeliveredBytes -= f.deliveredBytes - before;
    const e = this.est[index]!;
    const full = e.sawFull || this.windowFull(f);
    e.sawFull = this.windowFull(f);
    if (!e.haveBaseline) {
      // The first report after an open carries connection set-up: it only anchors the window.
      e.haveBaseline = true;
      e.hist = [{ atMs: nowMs, bytes: deliveredBytes, full: false }];
      e.head = 0;
      e.notFull = 0;
    } else {
      e.hist.push({ atMs: nowMs, bytes: deliveredBytes, full });
      if (!full) e.notFull++;
      // Keep the reports of the last EST_WINDOW_MS, plus the newest older one as the anchor.
      while (e.hist.length - e.head > 2 && e.hist[e.head + 1]!.atMs <= nowMs - EST_WINDOW_MS) {
        e.head++;
        if (!e.hist[e.head]!.full) e.notFull--; // the new anchor no longer counts
      }
      if (e.head > 64 && e.head * 2 > e.hist.length) {
        e.hist = e.hist.slice(e.head);
        e.head = 0;
      }
      const anchor = e.hist[e.head]!;
      const spanMs = nowMs - anchor.atMs;
      if (spanMs >= MIN_SAMPLE_MS) this.revise(e, (deliveredBytes - anchor.bytes) / spanMs, e.notFull === 0, nowMs);
    }
    if (!e.probed && deliveredBytes >= this.probeBytes[index]!) this.endProbe(index, nowMs, deliveredBytes);
    if (e.probed) this.setContrib(f);
    // The estimate, the remaining bytes or the probe's state changed: re-file the connection.
    if (f.open) this.classify(f, false);
  }

  /** Folds a windowed delivery rate (bytes/ms) into the estimate; see the banner, step 3. */
  private revise(e: Estimate, rate: number, networkBound: boolean, nowMs: number): void {
    const prev = e.rateBytesPerMs;
    if (prev === null || networkBound) {
      // The network set the pace (or nothing better is known): the rate is the node's.
      e.rateBytesPerMs = rate;
      if (networkBound) e.capacityKnown = true;
    } else {
      // We set the pace: the node can do at least `rate`. An older, higher estimate decays (it may
      // have come from a clump of late reports), so a node we starve is not starved for ever.
      const decayed = prev * Math.pow(ESTIMATE_DECAY_PER_S, Math.max(0, nowMs - e.revisedAtMs) / 1000);
      e.rateBytesPerMs = Math.max(rate, decayed);
    }
    e.revisedAtMs = nowMs;
  }

  /** The probe is delivered; without a sample yet, estimate from the whole probe (set-up included: low, never high). */
  private endProbe(index: number, nowMs: number, deliveredBytes: number): void {
    const e = this.est[index]!;
    const f = this.frag(index);
    e.probed = true;
    if (e.rateBytesPerMs === null) {
      e.rateBytesPerMs = Math.max(deliveredBytes - e.openedAtBytes, 1) / Math.max(nowMs - e.openedAtMs, 1);
    }
    this.unprobedLeft--;
    this.cost.probeBytes += Math.min(f.sentBytes, this.probeBytes[index]!);
    const fullMs = f.sizeBytes / e.rateBytesPerMs;
    this.fullSumMs += fullMs;
    this.fullCount++;
    if (fullMs > this.fullMaxMs) this.fullMaxMs = fullMs;
    if (f.opens === 1) {
      const slot = Math.max(0, nowMs - this.connectingAt[index]!) + PARK_GAP_MS;
      this.probeSlotMs = this.probeSlotMs === null ? slot : this.probeSlotMs + SETUP_EWMA * (slot - this.probeSlotMs);
    }
  }

  /** Keeps probedRemainingMs (and parkedMs) equal to the sums of remainingMs they stand for. */
  private setContrib(f: FragmentState): void {
    const next = f.done || f.failed ? 0 : this.remainingMs(f);
    const prev = this.remContrib[f.index]!;
    if (next === prev) return;
    this.probedRemainingMs += next - prev;
    if (this.isWaiting(f)) this.parkedMs += next - prev;
    this.remContrib[f.index] = next;
  }

  /** The window is full: a whole chunk (or the rest) no longer fits beside the unacknowledged bytes. */
  private windowFull(f: FragmentState): boolean {
    const left = f.sizeBytes - f.sentBytes;
    return left > 0 && f.sentBytes - f.deliveredBytes + Math.min(this.ctx.chunkBytes, left) > this.ctx.windowBytes;
  }

  override onSent(nowMs: number, index: number, bytes: number): void {
    super.onSent(nowMs, index, bytes);
    // Judged from the window itself, not from onRoom: a connection also lacks room while its next
    // block is read from disk, which says nothing about the network.
    if (this.windowFull(this.frag(index))) this.est[index]!.sawFull = true;
  }

  override onClosed(nowMs: number, index: number, reason: CloseReason): void {
    const e = this.est[index]!;
    const f = this.frag(index);
    if (reason === 'parked') {
      e.parked = true;
      this.cost.parks++;
    }
    if (f.connecting) this.connectingNow--;
    const wasLive = !f.done && !f.failed;
    const before = f.deliveredBytes;
    super.onClosed(nowMs, index, reason);
    if (wasLive && (f.done || f.failed)) {
      this.undeliveredBytes -= f.done ? f.deliveredBytes - before : f.sizeBytes - before;
      if (!e.probed) this.unprobedLeft--;
      else this.setContrib(f);
    }
    if (this.isWaiting(f)) {
      if (!e.probed) {
        this.unprobedWaiting++;
        this.retryUnprobed.add(index);
      } else {
        this.parkedMs += this.remContrib[index]!;
        this.parkedCount++;
        this.waitingProbed.push({ ms: this.remainingMs(f), index, version: ++this.waitVersion[index]! });
      }
    } else {
      this.retryUnprobed.delete(index);
    }
  }

  /**
   * Connections just probed whose slot is better spent probing others (shouldPark). One that is
   * not parked right after its probe carries on to the end: it is never parked later.
   */
  override takeParkRequests(nowMs: number): number[] {
    if (this.parkable.size === 0) return [];
    const inOpenOrder = [...this.parkable].sort((a, b) => this.openSeq[a]! - this.openSeq[b]!);
    const p = this.waitingCount > 0 ? this.plan(nowMs) : null;
    const out: number[] = [];
    for (const index of inOpenOrder) {
      if (p !== null && this.unprobedWaiting > out.length && this.shouldPark(this.frag(index), p, out.length)) out.push(index);
      else {
        this.est[index]!.kept = true; // decided: it stays
        this.parkable.delete(index);
      }
    }
    return out;
  }

  /** What probing cost: parks, set-ups made again after a park, probe bytes (delivered either way). */
  costs(): ProbeCosts {
    return { ...this.cost, setupMs: this.setupMs === null ? null : Math.round(this.setupMs * 10) / 10 };
  }
}
