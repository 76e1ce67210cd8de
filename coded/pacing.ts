/**
 * Rate control of the coded protocol, pure (time in ms is passed in; no timers, no sockets):
 *
 * - `TokenBucket`: bytes at a rate in bit/s, with a burst.
 * - `FlowScheduler`: a sender's uplink. Work-conserving round robin over destinations, each with a
 *   cap of its own (what the destination asked for), all under one aggregate rate (the sender's
 *   uplink, a little below the link rate). A destination with nothing to send or at its cap is
 *   skipped and its share goes to the others.
 * - `CapAllocator`: a receiver's downlink. UDP has no congestion control, and a shaped link drops
 *   what exceeds it at its queue, so a receiver never lets the sum of what it asks its senders for
 *   exceed its downlink. It starts with equal shares and, from what it measures each interval,
 *   moves capacity from senders that cannot fill their cap (their own uplink is shared) to senders
 *   that are held back by it (water-filling on measured rates): this is the receiver feedback.
 *
 * Rates are link rates in bit/s, counting what HTB counts (UDP payload + LINK_OVERHEAD_BYTES).
 */

export class TokenBucket {
  private tokens: number;
  private lastMs: number;
  constructor(
    private rateBps: number,
    private readonly burstBytes: number,
    nowMs: number,
  ) {
    this.tokens = burstBytes;
    this.lastMs = nowMs;
  }

  get bps(): number {
    return this.rateBps;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.lastMs) * this.rateBps) / 8000);
      this.lastMs = nowMs;
    }
  }

  setRate(nowMs: number, bps: number): void {
    this.refill(nowMs);
    this.rateBps = bps;
  }

  /** Whether `bytes` may go now (a packet may take the bucket negative by less than one packet: no starvation of large packets). */
  canTake(nowMs: number): boolean {
    this.refill(nowMs);
    return this.rateBps === Infinity || this.tokens > 0;
  }

  take(nowMs: number, bytes: number): void {
    this.refill(nowMs);
    if (this.rateBps !== Infinity) this.tokens -= bytes;
  }

  /** ms until canTake() is true (0 if now). */
  waitMs(nowMs: number): number {
    this.refill(nowMs);
    if (this.rateBps === Infinity || this.tokens > 0) return 0;
    if (this.rateBps <= 0) return Infinity;
    return ((-this.tokens + 1) * 8000) / this.rateBps;
  }
}

/**
 * Burst of a per-destination bucket: 20 ms at the rate, at least 8 full frames. Timers fire late on
 * a loaded machine (10 ms and more with a load of 7 on 2 cores, measured): with a 3 ms burst a
 * sender lost the tokens of every late wake-up and delivered 2.8 of its 4.8 Mbit/s.
 */
export function burstFor(bps: number): number {
  return bps === Infinity ? 1 : Math.max(8 * 1514, (bps / 8) * 0.02);
}

/**
 * Burst of the aggregate (uplink) bucket: 6 ms, at least 4 frames. It is what queues at the
 * sender's own shaper, and a node's control messages (done, need) wait behind it: paced at 95 %
 * of the link, a queue drains at only 5 % of the rate, so a 20 ms burst kept ~20 ms of data ahead
 * of every `done` and peers kept sending segments already decoded.
 */
export function uplinkBurstFor(bps: number): number {
  return bps === Infinity ? 1 : Math.max(4 * 1514, (bps / 8) * 0.006);
}

export class FlowScheduler<K> {
  private readonly total: TokenBucket;
  private readonly flows = new Map<K, TokenBucket>();
  private order: K[] = [];
  private cursor = 0;
  constructor(totalBps: number, nowMs: number) {
    this.total = new TokenBucket(totalBps, uplinkBurstFor(totalBps), nowMs);
  }

  /** Adds a destination or changes its cap. */
  set(key: K, capBps: number, nowMs: number): void {
    const f = this.flows.get(key);
    if (f) return f.setRate(nowMs, capBps);
    this.flows.set(key, new TokenBucket(capBps, burstFor(capBps), nowMs));
    this.order.push(key);
  }

  remove(key: K): void {
    if (!this.flows.delete(key)) return;
    const i = this.order.indexOf(key);
    this.order.splice(i, 1);
    if (this.cursor > i) this.cursor--;
    if (this.cursor >= this.order.length) this.cursor = 0;
  }

  has(key: K): boolean {
    return this.flows.has(key);
  }

  get size(): number {
    return this.flows.size;
  }

  /**
   * The destination to send one packet of `bytes` link bytes to now (and the packet is charged),
   * or null: nothing may go now. `ready(k)` says whether there is something to send to k.
   */
  next(nowMs: number, bytes: number, ready: (k: K) => boolean): K | null {
    if (!this.total.canTake(nowMs)) return null;
    const n = this.order.length;
    for (let step = 0; step < n; step++) {
      const idx = (this.cursor + step) % n;
      const k = this.order[idx]!;
      const f = this.flows.get(k)!;
      if (!f.canTake(nowMs) || !ready(k)) continue;
      f.take(nowMs, bytes);
      this.total.take(nowMs, bytes);
      this.cursor = (idx + 1) % n;
      return k;
    }
    return null;
  }

  /** When to ask again (ms from now): the aggregate's wait, or the soonest flow's; null when no flow. */
  wakeInMs(nowMs: number): number | null {
    if (this.order.length === 0) return null;
    const t = this.total.waitMs(nowMs);
    let f = Infinity;
    for (const b of this.flows.values()) f = Math.min(f, b.waitMs(nowMs));
    return Math.max(t, f === Infinity ? 1 : f);
  }
}

export interface CapAllocatorOptions {
  /** The receiver's downlink budget, bit/s (already below the link rate). */
  downBps: number;
  /** A sender counts as held back by its cap when it delivered at least this fraction of it. */
  saturated?: number;
  /** A sender that could not fill its cap keeps this much headroom over what it delivered. */
  headroom?: number;
  /** No cap goes below this, bit/s. */
  minBps?: number;
}

/** Senders that always count as held back by their cap (the server: the only source of fresh packets). */
export interface CapPinning<K> {
  pinned?: readonly K[];
}

/** Water-filling of a receiver's downlink over its senders, from measured rates. */
export class CapAllocator<K> {
  private readonly caps = new Map<K, number>();
  private readonly o: Required<CapAllocatorOptions>;
  private readonly pinned: ReadonlySet<K>;
  constructor(o: CapAllocatorOptions & CapPinning<K>) {
    const { pinned, ...rest } = o;
    this.o = { saturated: 0.8, headroom: 1.3, minBps: 64_000, ...rest };
    this.pinned = new Set(pinned ?? []);
  }

  get senders(): K[] {
    return [...this.caps.keys()];
  }

  cap(k: K): number | undefined {
    return this.caps.get(k);
  }

  /** A new sender: every cap is reset to an equal share (the next update redistributes). Returns the caps that changed. */
  add(k: K): Map<K, number> {
    if (this.caps.has(k)) return new Map();
    this.caps.set(k, 0);
    return this.equal();
  }

  remove(k: K): Map<K, number> {
    if (!this.caps.delete(k)) return new Map();
    return this.rebalance(new Map());
  }

  private equal(): Map<K, number> {
    const share = this.o.downBps / Math.max(1, this.caps.size);
    const changed = new Map<K, number>();
    for (const k of this.caps.keys()) {
      this.caps.set(k, share);
      changed.set(k, share);
    }
    return changed;
  }

  /**
   * One feedback step: `measuredBps` is what each sender delivered (link bit/s, arrived) over the
   * last interval. Senders that could not fill their cap are given what they delivered plus
   * headroom; the rest of the budget is shared equally by the senders their cap held back.
   * Returns the caps that changed by more than 5 % (to be sent to those senders).
   */
  update(measuredBps: ReadonlyMap<K, number>): Map<K, number> {
    return this.rebalance(measuredBps);
  }

  private rebalance(measured: ReadonlyMap<K, number>): Map<K, number> {
    const keys = [...this.caps.keys()];
    if (keys.length === 0) return new Map();
    const next = new Map<K, number>();
    let budget = this.o.downBps;
    const held: K[] = [];
    // A floor of a quarter of an equal share: a sender that had nothing to send a moment ago
    // (a peer that just joined the segment) can reach its share again within a few intervals.
    const floor = Math.max(this.o.minBps, (0.25 * this.o.downBps) / keys.length);
    for (const k of keys) {
      const cap = this.caps.get(k)!;
      const m = measured.get(k);
      if (m === undefined || m >= this.o.saturated * cap || this.pinned.has(k)) held.push(k);
      else {
        const c = Math.max(floor, m * this.o.headroom);
        next.set(k, c);
        budget -= c;
      }
    }
    if (held.length > 0) {
      const share = Math.max(floor, budget / held.length);
      for (const k of held) next.set(k, share);
    } else if (budget > 0) {
      // Nobody is held back: spread the spare so a sender that speeds up can grow.
      for (const k of keys) next.set(k, next.get(k)! + budget / keys.length);
    }
    // Never ask for more than the downlink in all (minBps floors can overshoot with many senders).
    const sum = [...next.values()].reduce((a, b) => a + b, 0);
    const scale = sum > this.o.downBps ? this.o.downBps / sum : 1;
    const changed = new Map<K, number>();
    for (const [k, c0] of next) {
      const c = c0 * scale;
      const old = this.caps.get(k)!;
      this.caps.set(k, c);
      if (old === 0 || Math.abs(c - old) > 0.05 * old) changed.set(k, c);
    }
    return changed;
  }
}

/** A per-sender byte counter turned into rates each interval. */
export class RateMeter<K> {
  private readonly bytes = new Map<K, number>();
  private sinceMs: number;
  constructor(nowMs: number) {
    this.sinceMs = nowMs;
  }
  add(k: K, n: number): void {
    this.bytes.set(k, (this.bytes.get(k) ?? 0) + n);
  }
  /** Rates in bit/s since the last call (every sender in `keys`, 0 if silent), and restart. */
  take(nowMs: number, keys: readonly K[]): Map<K, number> {
    const dt = Math.max(1, nowMs - this.sinceMs);
    const out = new Map<K, number>();
    for (const k of keys) out.set(k, ((this.bytes.get(k) ?? 0) * 8000) / dt);
    this.bytes.clear();
    this.sinceMs = nowMs;
    return out;
  }
}
