/**
 * The `p2mp-ftp/nak` sender, sans I/O: what to send next, and when. Time comes in as `nowMs`; the
 * driver (nak-driver.ts) owns the socket and the file and asks `poll(now)` until it returns null,
 * then sleeps until `nextWakeMs()` or the next datagram.
 *
 * Theory of operation. The sender paces every segment out once, at given rates, never waiting for
 * a round trip (the rates are given, not adapted from feedback): `rateBps` for its own uplink (every
 * copy) and `linkRateBps` for each receiver's link (what is sent to it), both counted in link bytes
 * (the segment, its 16 header bytes and the 42 of UDP, IPv4 and Ethernet that tc's HTB counts), so
 * they mean what a scenario's link rates mean. In multicast mode a segment is one send to the group (the lab's bridge replicates it to
 * every receiver link); in unicast mode it is one copy per receiver still at work, each charged to
 * the rate (the source's uplink carries them all).
 *
 * Every `statusIntervalMs` a STATUS tells the receivers the file (size, segment size, SHA-256) and
 * how many segments have gone out; receivers answer with NAKs (ranges of segments they lack among
 * those sent; a FIFO path means a gap below what arrived is a loss). A NAKed segment joins the
 * repair queue with the set of receivers that need it; repairs go before new data (so a receiver
 * is never far behind), and each repair goes to those who need it: a unicast copy each, unless (in
 * multicast mode) at least `groupRepairAt` receivers need it, then one send to the group. A group
 * send costs a packet on every receiver link; k copies cost k packets on the source's uplink and
 * one on each needer's link, and with an uplink r times a receiver link, r copies cross it in the
 * time one packet crosses a receiver link: so groupRepairAt = max(2, ceil(rate / linkRate)). With a
 * fast source and slow receiver links (the usual bottleneck), each receiver link then carries the
 * file once plus its own repairs, about 1/(1-p) of the file, as parity repairs would. A receiver
 * that NAKs a segment again while it waits in the queue changes nothing (no duplicate repair).
 *
 * Repairs are plain retransmissions by default. With `blockSegs` B > 0 they are parity instead:
 * the segments form blocks of B (the last one shorter), the original segments are the systematic
 * part, a receiver's BNAK says per block how many more independent combinations it needs (its
 * deficit), and the sender queues per block the deficit of each receiver that asked. Each REPAIR
 * of a block (a random GF(2^8) combination of its segments, drawn by the driver) serves every
 * receiver it reaches that still needs one, whichever segments it lost: a group repair lowers
 * every needer's deficit by one, so a block costs as many group repairs as its neediest receiver
 * needs (not the union of everyone's losses). The same groupRepairAt rule picks group or unicast.
 *
 * Completion: a receiver whose file is stored, verified and renamed sends COMPLETE; the sender
 * answers BYE (again for every repeated COMPLETE) and is done when every receiver is complete or
 * has been silent for `deadAfterMs` (failed).
 */
import { DATA_HEADER_BYTES, MAX_BLOCK_SEGS, REPAIR_HEADER_BYTES, STATUS_BYTES, type BlockNeed, type Range } from './nak-wire.js';

/** UDP (8) + IPv4 (20) + Ethernet (14) bytes around every datagram, as tc counts a frame. */
export const FRAME_OVERHEAD_BYTES = 42;

/** The pacer's burst, ms at its rate (see the constructor). */
export const BURST_MS = 16;

export type NakSenderTx =
  | { kind: 'data'; seg: number; to: 'group' | number[]; repair: boolean }
  | { kind: 'status'; to: 'group' | number[] }
  | { kind: 'repair'; block: number; to: 'group' | number[] }
  | { kind: 'bye'; to: number[] };

export interface NakSenderOptions {
  receivers: number;
  fileBytes: number;
  segBytes: number;
  mode: 'unicast' | 'multicast';
  /** The source's uplink rate the sender paces every copy to, bit/s (whole frames). */
  rateBps: number;
  /**
   * Each receiver's link rate, bit/s (whole frames; default rateBps): what one receiver's link
   * is paced to (new data and repairs it is sent).
   */
  linkRateBps?: number;
  statusIntervalMs?: number;
  /** A receiver silent this long (from the start, or since it was last heard) has failed. */
  deadAfterMs?: number;
  /** Segments a single NAK may add to the repair queue (bounds the work a peer can cause). */
  maxSegsPerNak?: number;
  /** Parity repairs over blocks of this many segments (0 or absent: plain retransmissions). */
  blockSegs?: number;
  /**
   * A repair waits this long after the first NAK that asked for it (default AGGREGATE_MS), so the
   * other receivers' NAKs for it gather and one group send serves them all (see the banner).
   */
  aggregateMs?: number;
}

/**
 * The NAKs of receivers that lost parts of the same block arrive spread over about one NAK
 * interval (20 ms): repaired at once, the first NAK would get its own unicast repair, the next
 * another... (measured in the simulator, uftp-16-loss5: 44 % of the file in repairs instead of
 * about the neediest receiver's 13 %). Gathered for 25 ms, they make group repairs.
 */
export const AGGREGATE_MS = 25;

/** While new data flows, a STATUS at most once per this many segments on a receiver link (see statusGapMs). */
export const STATUS_EVERY_SEGS = 32;

export class NakSender {
  readonly segments: number;
  private nextNew = 0;
  private readonly repairs = new Map<number, Set<number>>();
  /** Parity mode: per block, each needing receiver's outstanding deficit. */
  private readonly blockRepairs = new Map<number, Map<number, number>>();
  /** When each queued repair (segment, or block in parity mode) may go: its first NAK + aggregateMs. */
  private readonly readyAt = new Map<number, number>();
  private readonly aggregateMs: number;
  readonly blockSegs: number;
  private credit: number;
  private creditAtMs: number;
  private readonly burstBytes: number;
  private readonly rateBytesPerMs: number;
  /** Per receiver link: credit in bytes (refilled at linkBytesPerMs, up to linkBurstBytes). */
  private readonly linkCredit: number[];
  private readonly linkBytesPerMs: number;
  private readonly linkBurstBytes: number;
  /** A repair needed by at least this many receivers goes to the group (multicast mode). */
  readonly groupRepairAt: number;
  private statusDueMs: number;
  private readonly lastHeardMs: number[];
  readonly complete: boolean[];
  readonly failed: boolean[];
  private readonly byes: number[] = [];
  private readonly statusIntervalMs: number;
  private readonly deadAfterMs: number;
  private readonly maxSegsPerNak: number;
  /** Counters. */
  newSent = 0;
  repairSent = 0;
  /** Copies sent (a group send counts once). */
  datagrams = 0;
  /** Link bytes charged to the pacer. */
  linkBytes = 0;
  naks = 0;

  constructor(readonly o: NakSenderOptions, nowMs: number) {
    if (!(Number.isInteger(o.receivers) && o.receivers >= 1)) throw new RangeError(`receivers: expected >= 1 (got ${o.receivers})`);
    if (!(o.rateBps > 0)) throw new RangeError(`rateBps: expected > 0 (got ${o.rateBps})`);
    this.segments = Math.ceil(o.fileBytes / o.segBytes);
    this.blockSegs = o.blockSegs ?? 0;
    if (!(Number.isInteger(this.blockSegs) && this.blockSegs >= 0 && this.blockSegs <= MAX_BLOCK_SEGS)) throw new RangeError(`blockSegs: expected 0..${MAX_BLOCK_SEGS} (got ${o.blockSegs})`);
    this.rateBytesPerMs = o.rateBps / 8 / 1000;
    // A little burst, not more (the pacing is the point): four segments' copies, or BURST_MS at
    // the rate when that is more. Timers fire about every ms, later on a busy machine, and credit
    // beyond the burst is lost: 16 ms leaves room for a late timer (4 ms before; p2mp-16-mixed
    // measured the same either way) and is 14 segments at 10 Mbit/s, which the link's queue holds.
    const copies = o.mode === 'multicast' ? 1 : o.receivers;
    this.burstBytes = Math.max(4 * copies * (o.segBytes + DATA_HEADER_BYTES + FRAME_OVERHEAD_BYTES), BURST_MS * this.rateBytesPerMs);
    this.credit = this.burstBytes;
    this.creditAtMs = nowMs;
    const linkRateBps = o.linkRateBps ?? o.rateBps;
    if (!(linkRateBps > 0)) throw new RangeError(`linkRateBps: expected > 0 (got ${linkRateBps})`);
    this.linkBytesPerMs = linkRateBps / 8 / 1000;
    this.linkBurstBytes = Math.max(4 * (o.segBytes + DATA_HEADER_BYTES + FRAME_OVERHEAD_BYTES), BURST_MS * this.linkBytesPerMs);
    this.linkCredit = new Array<number>(o.receivers).fill(this.linkBurstBytes);
    // A group send costs one packet on every receiver link; k unicast copies cost k packets on the
    // source's uplink and one on each needer's link only. With the uplink r times faster than a
    // receiver link, up to r copies cross it in the time one packet crosses a receiver link.
    this.groupRepairAt = Math.max(2, Math.ceil(o.rateBps / linkRateBps));
    this.statusDueMs = nowMs;
    this.statusIntervalMs = o.statusIntervalMs ?? 25;
    this.aggregateMs = o.aggregateMs ?? AGGREGATE_MS;
    this.deadAfterMs = o.deadAfterMs ?? 30_000;
    this.maxSegsPerNak = o.maxSegsPerNak ?? 4096;
    this.lastHeardMs = new Array<number>(o.receivers).fill(nowMs);
    this.complete = new Array<boolean>(o.receivers).fill(false);
    this.failed = new Array<boolean>(o.receivers).fill(false);
  }

  /**
   * Time to the next STATUS. While new data flows, every DATA tells the receivers how far the
   * sender is (a gap below a segment that arrived is a loss), so a STATUS is needed only for its
   * announce and the tail of a block: one per STATUS_EVERY_SEGS segments' time on a receiver link,
   * at least statusIntervalMs apart. Then, with everything sent once, every statusIntervalMs, for
   * the last NAKs. (At 0.5 Mbit/s a STATUS every 25 ms was as many datagrams as the data: at 64
   * receivers, each wake of a receiver costs ~100-300 us of CPU on the lab's machine.)
   */
  private statusGapMs(): number {
    if (this.nextNew >= this.segments) return this.statusIntervalMs;
    const segMs = (this.o.segBytes + DATA_HEADER_BYTES + FRAME_OVERHEAD_BYTES) / this.linkBytesPerMs;
    return Math.max(this.statusIntervalMs, STATUS_EVERY_SEGS * segMs);
  }

  /** Every receiver complete or failed, and every BYE handed out. */
  get done(): boolean {
    return this.byes.length === 0 && this.complete.every((c, i) => c || this.failed[i]);
  }

  /** Segments sent at least once. */
  get sentSegs(): number {
    return this.nextNew;
  }

  get repairQueueLength(): number {
    return this.repairs.size + this.blockRepairs.size;
  }

  /** Segments in block b (parity mode). */
  blockLen(b: number): number {
    return Math.min(this.blockSegs, this.segments - b * this.blockSegs);
  }

  /** Link bytes of one REPAIR of block b. */
  repairLinkBytes(b: number): number {
    return REPAIR_HEADER_BYTES + this.blockLen(b) + this.o.segBytes + FRAME_OVERHEAD_BYTES;
  }

  private forget(r: number): void {
    for (const [seg, who] of this.repairs) {
      who.delete(r);
      if (who.size === 0) this.unqueue(this.repairs, seg);
    }
    for (const [b, who] of this.blockRepairs) {
      who.delete(r);
      if (who.size === 0) this.unqueue(this.blockRepairs, b);
    }
  }

  /** Gathering NAKs matters only where a send can serve several (multicast). */
  private get gatherMs(): number {
    return this.o.mode === 'multicast' ? this.aggregateMs : 0;
  }

  /** When the first queued repair may go (the queues are in NAK order), or Infinity. */
  private firstReadyAt(): number {
    for (const t of this.readyAt.values()) return t;
    return Infinity;
  }

  private unqueue(q: Map<number, unknown>, key: number): void {
    q.delete(key);
    this.readyAt.delete(key);
  }

  private active(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.o.receivers; i++) if (!this.complete[i] && !this.failed[i]) out.push(i);
    return out;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.creditAtMs) {
      const dt = nowMs - this.creditAtMs;
      this.credit = Math.min(this.burstBytes, this.credit + dt * this.rateBytesPerMs);
      for (let i = 0; i < this.linkCredit.length; i++) this.linkCredit[i] = Math.min(this.linkBurstBytes, this.linkCredit[i]! + dt * this.linkBytesPerMs);
      this.creditAtMs = nowMs;
    }
  }

  /** Charges the uplink for every copy and each receiver link it crosses. */
  private charge(bytes: number, to: 'group' | readonly number[]): void {
    const copies = to === 'group' ? 1 : to.length;
    this.credit -= bytes * copies;
    this.linkBytes += bytes * copies;
    if (to === 'group') for (let i = 0; i < this.linkCredit.length; i++) this.linkCredit[i]! -= bytes;
    else for (const i of to) this.linkCredit[i]! -= bytes;
  }

  /**
   * Whether the links a send crosses have room. A group send may put a link up to one burst into
   * debt (it then waits a few ms in that link's queue behind the repairs just sent to it): without
   * that slack, new data would wait whenever any one of N receivers had just been sent a repair,
   * and with N x p of them in flight that is most of the time. A repair needs its links in credit.
   * (Smoke runs on netns, noisy: giving repairs the same slack measured worse, 2.3x the bound
   * against 1.6x, with more repairs sent.)
   */
  private linksReady(to: 'group' | readonly number[]): boolean {
    if (to === 'group') return this.linkCredit.every((c, i) => c >= -this.linkBurstBytes || this.complete[i] || this.failed[i]);
    return to.every((i) => this.linkCredit[i]! >= 0);
  }

  private segLinkBytes(seg: number): number {
    const len = Math.min(this.o.segBytes, this.o.fileBytes - seg * this.o.segBytes);
    return len + DATA_HEADER_BYTES + FRAME_OVERHEAD_BYTES;
  }

  private checkDead(nowMs: number): void {
    for (let i = 0; i < this.o.receivers; i++) {
      if (!this.complete[i] && !this.failed[i] && nowMs - this.lastHeardMs[i]! > this.deadAfterMs) {
        this.failed[i] = true;
        this.forget(i);
      }
    }
  }

  /** A NAK from receiver `r`: the ranges it lacks. */
  onNak(nowMs: number, r: number, ranges: readonly Range[]): void {
    if (r < 0 || r >= this.o.receivers || this.failed[r]) return;
    this.lastHeardMs[r] = nowMs;
    this.naks++;
    if (this.complete[r]) return;
    let budget = this.maxSegsPerNak;
    for (const range of ranges) {
      const end = Math.min(this.nextNew, range.first + range.count);
      for (let s = range.first; s < end && budget > 0; s++, budget--) {
        let who = this.repairs.get(s);
        if (!who) {
          this.repairs.set(s, (who = new Set()));
          this.readyAt.set(s, nowMs + this.gatherMs);
        }
        who.add(r);
      }
    }
  }

  /**
   * A BNAK from receiver `r` (parity mode): per block, how many more independent repairs it needs.
   * Only blocks sent in full count; a deficit is capped at the block's length; a repeated BNAK
   * while repairs are queued raises the queued count to the new deficit, never adds to it.
   */
  onBlockNak(nowMs: number, r: number, needs: readonly BlockNeed[]): void {
    if (r < 0 || r >= this.o.receivers || this.failed[r]) return;
    this.lastHeardMs[r] = nowMs;
    this.naks++;
    if (this.complete[r] || this.blockSegs === 0) return;
    let budget = this.maxSegsPerNak;
    for (const x of needs) {
      const b = x.block;
      if (!(b >= 0 && b * this.blockSegs + this.blockLen(b) <= this.nextNew) || x.deficit <= 0) continue;
      const d = Math.min(x.deficit, this.blockLen(b), budget);
      if (d <= 0) break;
      budget -= d;
      let who = this.blockRepairs.get(b);
      if (!who) {
        this.blockRepairs.set(b, (who = new Map()));
        this.readyAt.set(b, nowMs + this.gatherMs);
      }
      who.set(r, Math.max(who.get(r) ?? 0, d));
    }
  }

  onComplete(nowMs: number, r: number): void {
    if (r < 0 || r >= this.o.receivers || this.failed[r]) return;
    this.lastHeardMs[r] = nowMs;
    if (!this.complete[r]) {
      this.complete[r] = true;
      this.forget(r);
    }
    if (!this.byes.includes(r)) this.byes.push(r);
  }

  /** The next datagram to send now, or null (then sleep until nextWakeMs). */
  poll(nowMs: number): NakSenderTx | null {
    this.checkDead(nowMs);
    const bye = this.byes.shift();
    if (bye !== undefined) return { kind: 'bye', to: [bye] };
    const active = this.active();
    if (active.length === 0) return null;
    this.refill(nowMs);
    if (nowMs >= this.statusDueMs) {
      this.statusDueMs = nowMs + this.statusGapMs();
      const to = this.o.mode === 'multicast' ? 'group' : active;
      this.charge(STATUS_BYTES + FRAME_OVERHEAD_BYTES, to);
      return { kind: 'status', to };
    }
    if (this.credit < 0) return null;
    // The first queued repair whose links have room (a slow or lossy receiver's backlog does not
    // hold up the others'); a bounded look through the queue.
    let looked = 0;
    for (const [seg, who] of this.repairs) {
      if (looked++ >= 64 || this.readyAt.get(seg)! > nowMs) break;
      const to: 'group' | number[] = this.o.mode === 'multicast' && who.size >= this.groupRepairAt ? 'group' : [...who];
      if (!this.linksReady(to)) continue;
      this.unqueue(this.repairs, seg);
      this.charge(this.segLinkBytes(seg), to);
      this.repairSent++;
      this.datagrams += to === 'group' ? 1 : to.length;
      return { kind: 'data', seg, to, repair: true };
    }
    looked = 0;
    for (const [block, who] of this.blockRepairs) {
      if (looked++ >= 64 || this.readyAt.get(block)! > nowMs) break;
      const to: 'group' | number[] = this.o.mode === 'multicast' && who.size >= this.groupRepairAt ? 'group' : [...who.keys()];
      if (!this.linksReady(to)) continue;
      // Every needer the repair reaches is one closer.
      for (const [r, d] of [...who]) {
        if (to !== 'group' && !to.includes(r)) continue;
        if (d <= 1) who.delete(r);
        else who.set(r, d - 1);
      }
      if (who.size === 0) this.unqueue(this.blockRepairs, block);
      this.charge(this.repairLinkBytes(block), to);
      this.repairSent++;
      this.datagrams += to === 'group' ? 1 : to.length;
      return { kind: 'repair', block, to };
    }
    if (this.nextNew < this.segments) {
      const to = this.o.mode === 'multicast' ? 'group' : active;
      if (!this.linksReady(to)) return null;
      const seg = this.nextNew++;
      this.charge(this.segLinkBytes(seg), to);
      this.newSent++;
      this.datagrams += to === 'group' ? 1 : to.length;
      return { kind: 'data', seg, to, repair: false };
    }
    return null;
  }

  /** When poll may next return something (Infinity: only a datagram can change that). */
  nextWakeMs(nowMs: number): number {
    if (this.byes.length > 0) return nowMs;
    if (this.done) return Infinity;
    let wake = this.statusDueMs;
    const waiting = this.repairs.size + this.blockRepairs.size;
    const ready = this.firstReadyAt();
    // Repairs still gathering NAKs: wake when the first may go.
    if (ready > nowMs) wake = Math.min(wake, ready);
    const queued = ready <= nowMs ? waiting : 0;
    if (queued > 0 || this.nextNew < this.segments) {
      this.refill(nowMs);
      // When the uplink has room again and the most indebted receiver link is back within its
      // slack (an upper bound for a group send; a repair to another receiver may go sooner, so it
      // is capped at 1 ms), and never sooner than 0.5 ms from now when nothing can go now (no spin).
      const uplinkMs = this.credit >= 0 ? 0 : -this.credit / this.rateBytesPerMs;
      let worst = 0;
      this.linkCredit.forEach((c, i) => {
        if (!this.complete[i] && !this.failed[i]) worst = Math.min(worst, c);
      });
      const groupWaitMs = Math.max(0, -worst - this.linkBurstBytes) / this.linkBytesPerMs;
      const linkMs = queued > 0 ? Math.min(groupWaitMs, 1) : groupWaitMs;
      wake = Math.min(wake, nowMs + Math.max(uplinkMs, linkMs, 0.5));
    }
    // The dead-receiver check runs on every poll; the status tick guarantees one at least that often.
    return wake;
  }
}
