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
  /** Recent PROGRESS reports: the first is the anchor the windowed rate is measured from. */
  hist: { atMs: number; bytes: number; full: boolean }[];
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

  constructor(ctx: StrategyContext, opts: ProbePrioritiseOptions = {}) {
    super(ctx);
    this.probeBytes = ctx.fragments.map((f) =>
      Math.min(f.sizeBytes, opts.probeBytes ?? Math.max(2 * ctx.progressEveryBytes, Math.ceil(f.sizeBytes / 16))),
    );
    this.tried = new Uint8Array(ctx.fragments.length);
    this.est = ctx.fragments.map(() => ({
      rateBytesPerMs: null,
      revisedAtMs: 0,
      hist: [],
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

  /** Fragments neither open nor finished: they wait for a slot. */
  private waiting(): FragmentState[] {
    if (this.waitingCount === 0) return [];
    return this.frags.filter((f) => !f.open && !f.connecting && !f.done && !f.failed);
  }

  pickOpen(_nowMs: number, candidates: Candidates): number | null {
    // Unprobed first, in list order: the lowest never-tried fragment, or a lower one whose first
    // attempt failed before its probe was delivered.
    while (this.freshCursor < this.tried.length && this.tried[this.freshCursor]) this.freshCursor++;
    let best: number | null = this.freshCursor < this.tried.length && candidates.has(this.freshCursor) ? this.freshCursor : null;
    for (const c of this.retryUnprobed) if (candidates.has(c) && (best === null || c < best)) best = c;
    if (best !== null) return best;
    // Then the longest estimated remaining time (ties: list order).
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
    let pole: FragmentState | null = null;
    let poleMs = -1;
    let rotation: number | null = null;
    for (const index of this.ready) {
      const f = this.frag(index);
      const e = this.est[index]!;
      if (!e.probed && f.sentBytes < this.probeBytes[index]!) {
        return { index, maxBytes: Math.min(this.ctx.chunkBytes, this.probeBytes[index]! - f.sentBytes) };
      }
      if (this.holdsAfterProbe(f)) continue;
      if (e.capacityKnown) {
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
    super.onOpen(nowMs, index, offsetBytes);
    const e = this.est[index]!;
    e.haveBaseline = false;
    e.sawFull = false;
    e.hist = [];
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
    } else {
      e.hist.push({ atMs: nowMs, bytes: deliveredBytes, full });
      // Keep the reports of the last EST_WINDOW_MS, plus the newest older one as the anchor.
      while (e.hist.length > 2 && e.hist[1]!.atMs <= nowMs - EST_WINDOW_MS) e.hist.shift();
      const anchor = e.hist[0]!;
      const spanMs = nowMs - anchor.atMs;
      if (spanMs >= MIN_SAMPLE_MS) this.revise(e, (deliveredBytes - anchor.bytes) / spanMs, e.hist.slice(1).every((h) => h.full), nowMs);
    }
    if (!e.probed && deliveredBytes >= this.probeBytes[index]!) this.endProbe(e, nowMs, deliveredBytes);
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
    super.onClosed(nowMs, index, reason);
    const e = this.est[index]!;
    if (reason === 'parked') e.parked = true;
    if ((reason === 'retry' || reason === 'parked') && !e.probed) this.retryUnprobed.add(index);
    else this.retryUnprobed.delete(index);
  }

  override takeParkRequests(_nowMs: number): number[] {
    const waiting = this.waiting();
    if (waiting.length === 0) return [];
    const out: number[] = [];
    // The longest wait among fragments without a slot, to compare open probed ones against.
    let longestWaitingMs = 0;
    let unprobedWaiting = 0;
    for (const w of waiting) {
      if (!this.est[w.index]!.probed) unprobedWaiting++;
      else longestWaitingMs = Math.max(longestWaitingMs, this.remainingMs(w));
    }
    for (const index of this.openOrder) {
      const f = this.frag(index);
      const e = this.est[index]!;
      if (!e.probed || e.parked || f.opens !== 1 || f.sentBytes > this.probeBytes[index]!) continue;
      if (f.deliveredBytes >= f.sizeBytes) continue;
      if (unprobedWaiting > out.length || longestWaitingMs > this.remainingMs(f)) out.push(index);
    }
    return out;
  }
}
