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
 *    the bottleneck, each chunk goes to the open connection with the longest estimated remaining
 *    time that has room, so slow nodes are never starved by fast ones.
 * 3. Revise. Every PROGRESS report updates the node's rate estimate. A sample taken while the
 *    connection's window was full measures the network, and enters an exponentially weighted mean
 *    (so a link that slows down mid-transfer moves up the queue); a sample taken while it had
 *    room measures only the share this sender gave it (under a binding aggregate limit, that is
 *    what it is), so it may raise the estimate but never lower it.
 *
 * Each fragment is parked at most once (right after its probe), so a noisy estimate cannot make
 * connections thrash.
 */
import { BookStrategy, type FragmentState } from './book.js';
import type { CloseReason, StrategyContext, WriteDecision } from './types.js';

/** Weight of a new rate sample in the running estimate. */
const EWMA_ALPHA = 0.3;

interface Estimate {
  /** Bytes per ms, or null until two progress reports have arrived. */
  rateBytesPerMs: number | null;
  lastDeliveredBytes: number;
  lastAtMs: number;
  openedAtMs: number;
  openedAtBytes: number;
  /** The first report after an open is the baseline: it carries connection set-up time. */
  haveBaseline: boolean;
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

  constructor(ctx: StrategyContext, opts: ProbePrioritiseOptions = {}) {
    super(ctx);
    this.probeBytes = ctx.fragments.map((f) =>
      Math.min(f.sizeBytes, opts.probeBytes ?? Math.max(2 * ctx.progressEveryBytes, Math.ceil(f.sizeBytes / 16))),
    );
    this.est = ctx.fragments.map(() => ({
      rateBytesPerMs: null,
      lastDeliveredBytes: 0,
      lastAtMs: 0,
      openedAtMs: 0,
      openedAtBytes: 0,
      haveBaseline: false,
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
  private remainingMs(f: FragmentState, fromSent = false): number {
    const rate = this.est[f.index]!.rateBytesPerMs;
    const left = f.sizeBytes - (fromSent ? f.sentBytes : f.deliveredBytes);
    if (rate === null || rate <= 0) return Infinity;
    return left / rate;
  }

  /** Fragments neither open nor finished: they wait for a slot. */
  private waiting(): FragmentState[] {
    if (this.waitingCount === 0) return [];
    return this.frags.filter((f) => !f.open && !f.connecting && !f.done && !f.failed);
  }

  pickOpen(_nowMs: number, candidates: readonly number[]): number | null {
    let best: number | null = null;
    let bestKey = -1;
    for (const c of candidates) {
      const e = this.est[c]!;
      // Unprobed first, in list order; then the longest estimated remaining time.
      const key = e.probed ? this.remainingMs(this.frag(c)) : Number.MAX_VALUE;
      if (best === null || key > bestKey || (key === bestKey && c < best)) {
        best = c;
        bestKey = key;
      }
    }
    return best;
  }

  /** A connection that sent its probe waits for it to be delivered, if anyone is waiting for its slot. */
  private holdsAfterProbe(f: FragmentState): boolean {
    const e = this.est[f.index]!;
    return !e.parked && f.opens === 1 && f.sentBytes >= this.probeBytes[f.index]! && !e.probed && this.waitingCount > 0;
  }

  pickWrite(_nowMs: number): WriteDecision | null {
    let best: FragmentState | null = null;
    let bestKey = -1;
    for (const index of this.ready) {
      const f = this.frag(index);
      const e = this.est[index]!;
      let maxBytes = this.ctx.chunkBytes;
      if (!e.probed && f.sentBytes < this.probeBytes[index]!) {
        maxBytes = Math.min(maxBytes, this.probeBytes[index]! - f.sentBytes);
      } else if (this.holdsAfterProbe(f)) {
        continue;
      }
      // Probes first (unknown rate = infinite remaining time), then the longest pole.
      const key = this.remainingMs(f, true);
      if (best === null || key > bestKey) {
        best = f;
        bestKey = key;
        if (key === Infinity) return { index, maxBytes };
      }
    }
    if (best === null) return null;
    return { index: best.index, maxBytes: this.ctx.chunkBytes };
  }

  override onOpen(nowMs: number, index: number, offsetBytes: number): void {
    super.onOpen(nowMs, index, offsetBytes);
    const e = this.est[index]!;
    e.haveBaseline = false;
    e.lastDeliveredBytes = offsetBytes;
    e.lastAtMs = nowMs;
    e.openedAtMs = nowMs;
    e.openedAtBytes = offsetBytes;
  }

  override onDelivered(nowMs: number, index: number, deliveredBytes: number): void {
    super.onDelivered(nowMs, index, deliveredBytes);
    const e = this.est[index]!;
    if (!e.haveBaseline) {
      e.haveBaseline = true;
    } else if (nowMs > e.lastAtMs && deliveredBytes > e.lastDeliveredBytes) {
      const sample = (deliveredBytes - e.lastDeliveredBytes) / (nowMs - e.lastAtMs);
      const f = this.frag(index);
      if (e.rateBytesPerMs === null) {
        e.rateBytesPerMs = sample;
      } else if (!f.hasRoom) {
        // The window was full: the network set the pace, so the sample measures the node.
        e.rateBytesPerMs = (1 - EWMA_ALPHA) * e.rateBytesPerMs + EWMA_ALPHA * sample;
      } else {
        // The connection had room: we set the pace (the aggregate limit, other connections), so
        // the node can do at least this much; a starved fast node must not look slow.
        e.rateBytesPerMs = Math.max(e.rateBytesPerMs, sample);
      }
    }
    e.lastDeliveredBytes = deliveredBytes;
    e.lastAtMs = nowMs;
    if (!e.probed && deliveredBytes >= this.probeBytes[index]!) {
      e.probed = true;
      // The probe ends; if its bytes arrived too fast for two reports, estimate from the whole probe.
      if (e.rateBytesPerMs === null) {
        e.rateBytesPerMs = Math.max(deliveredBytes - e.openedAtBytes, 1) / Math.max(nowMs - e.openedAtMs, 1);
      }
    }
  }

  override onClosed(nowMs: number, index: number, reason: CloseReason): void {
    super.onClosed(nowMs, index, reason);
    if (reason === 'parked') this.est[index]!.parked = true;
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
