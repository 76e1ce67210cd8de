/**
 * probe-prioritise: measure, then serve the longest pole first.
 *
 * 1. Probe. Every fragment's first `probeBytes` are a probe. Unprobed fragments are opened first, in
 *    list order; a connection sends its probe and no more while other fragments wait for a slot.
 *    Once the receiver's PROGRESS reports show the probe delivered, the node's rate is estimated and,
 *    if another fragment is waiting (unprobed, or with a longer estimated remaining time), the
 *    connection is parked: closed and later resumed from the receiver's offset. With width >= nodes
 *    nothing ever waits, so probing costs nothing: every connection just carries on.
 * 2. Prioritise. A free slot goes to the waiting fragment with the longest estimated remaining time
 *    (remaining bytes / estimated rate): the longest pole starts first. When the aggregate rate is
 *    the bottleneck, chunks go first to nodes whose capacity is measured, longest remaining time
 *    first, so a slow node once found is never starved by fast ones (see pickWrite).
 * 3. Revise. Every PROGRESS report updates the node's rate estimate. A sample taken while the
 *    connection's window was full measures the network, and enters an exponentially weighted mean
 *    (so a link that slows down mid-transfer moves up the queue); a sample taken while it had
 *    room measures only the share this sender gave it (under a binding aggregate limit, that is
 *    what it is), so it may raise the estimate, and lower it only by a slow decay. Rates are
 *    measured over the last half second of reports.
 *    When rate is scarce, nodes whose capacity has been measured this way are served before nodes
 *    known only by a lower bound.
 *
 * Each fragment is parked at most once (right after its probe), so a noisy estimate cannot make
 * connections thrash.
 */
import { Heap } from '../../core/heap.js';
import { IndexList } from '../../core/index-list.js';
import { BookStrategy, type FragmentState } from './book.js';
import type { Candidates, CloseReason, StrategyContext, WriteDecision } from './types.js';

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
    const mayPark = f.open && e.probed && !e.parked && f.opens === 1 && f.sentBytes <= this.probeBytes[i]! && f.deliveredBytes < f.sizeBytes;
    if (mayPark) this.parkable.add(i);
    else this.parkable.delete(i);
  }

  protected override refresh(f: FragmentState, toBack = false): void {
    super.refresh(f, toBack);
    this.classify(f, toBack);
  }

  pickOpen(_nowMs: number, candidates: Candidates): number | null {
    // Unprobed first, in list order: the lowest never-tried fragment, or a lower one whose first
    // attempt failed before its probe was delivered.
    while (this.freshCursor < this.tried.length && this.tried[this.freshCursor]) this.freshCursor++;
    let best: number | null = this.freshCursor < this.tried.length && candidates.has(this.freshCursor) ? this.freshCursor : null;
    for (const c of this.retryUnprobed) if (candidates.has(c) && (best === null || c < best)) best = c;
    if (best !== null) return best;
    // Then the longest estimated remaining time (ties: list order): the top of the waiting heap,
    // unless it is backing off after a failure (then look at every candidate).
    const top = this.longestWaiting();
    if (top !== null && candidates.has(top.index)) return top.index;
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
    if (this.isWaiting(f) && !this.est[index]!.probed) this.unprobedWaiting--;
    super.onConnecting(nowMs, index);
    this.tried[index] = 1;
    this.retryUnprobed.delete(index);
  }

  /** A connection that sent its probe waits for it to be delivered, if anyone is waiting for its slot. */
  private holdsAfterProbe(f: FragmentState): boolean {
    const e = this.est[f.index]!;
    return !e.parked && f.opens === 1 && f.sentBytes >= this.probeBytes[f.index]! && !e.probed && this.waitingCount > 0;
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
  pickWrite(_nowMs: number): WriteDecision | null {
    const probe = this.probeReady.first();
    if (probe !== null) return { index: probe, maxBytes: Math.min(this.ctx.chunkBytes, this.probeBytes[probe]! - this.frag(probe).sentBytes) };
    const pole = this.longestKnown();
    if (pole !== null) {
      if (!this.holdsAfterProbe(this.frag(pole.index))) return { index: pole.index, maxBytes: this.ctx.chunkBytes };
      return this.pickWriteSlowly();
    }
    for (const index of this.rotationReady) {
      if (!this.holdsAfterProbe(this.frag(index))) return { index, maxBytes: this.ctx.chunkBytes };
    }
    return null;
  }

  /** pickWrite by walking every ready connection (only when the longest measured pole is holding). */
  private pickWriteSlowly(): WriteDecision | null {
    let pole: FragmentState | null = null;
    let poleMs = -1;
    let rotation: number | null = null;
    for (const index of this.ready) {
      const f = this.frag(index);
      if (this.probeReady.has(index) || this.holdsAfterProbe(f)) continue;
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
    super.onDelivered(nowMs, index, deliveredBytes);
    const e = this.est[index]!;
    const f = this.frag(index);
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
    if (!e.probed && deliveredBytes >= this.probeBytes[index]!) this.endProbe(e, nowMs, deliveredBytes);
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
  private endProbe(e: Estimate, nowMs: number, deliveredBytes: number): void {
    e.probed = true;
    if (e.rateBytesPerMs === null) {
      e.rateBytesPerMs = Math.max(deliveredBytes - e.openedAtBytes, 1) / Math.max(nowMs - e.openedAtMs, 1);
    }
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
    if (reason === 'parked') e.parked = true;
    super.onClosed(nowMs, index, reason);
    const f = this.frag(index);
    if (this.isWaiting(f)) {
      if (!e.probed) {
        this.unprobedWaiting++;
        this.retryUnprobed.add(index);
      } else {
        this.waitingProbed.push({ ms: this.remainingMs(f), index, version: ++this.waitVersion[index]! });
      }
    } else {
      this.retryUnprobed.delete(index);
    }
  }

  override takeParkRequests(_nowMs: number): number[] {
    if (this.waitingCount === 0 || this.parkable.size === 0) return [];
    // The longest wait among fragments without a slot, to compare open probed ones against.
    const longestWaitingMs = this.longestWaiting()?.ms ?? 0;
    const out: number[] = [];
    const inOpenOrder = [...this.parkable].sort((a, b) => this.openSeq[a]! - this.openSeq[b]!);
    for (const index of inOpenOrder) {
      if (this.unprobedWaiting > out.length || longestWaitingMs > this.remainingMs(this.frag(index))) out.push(index);
    }
    return out;
  }
}
