/**
 * The `p2mp-ftp/nak` receiver, sans I/O: which segments it holds, what to NAK and when, and the
 * end (COMPLETE until BYE). The driver writes each new segment at its offset in a temporary file,
 * checks the whole file's SHA-256 once every segment is held, renames it, then calls `verified()`.
 *
 * Memory is bounded per transfer and per peer: one bit per segment held, one u32 per segment for
 * when it was last NAKed, and nothing per datagram (data goes straight to the file). The announced
 * file is refused when it would need more than `maxSegments` segments.
 *
 * NAKs. Every `nakIntervalMs` the receiver lists, lowest first, the segments it lacks below what it
 * knows was sent (the STATUS's count, or the highest segment that arrived: on a FIFO path a gap
 * below it is a loss) that it has not NAKed in the last `holdoffMs` (a repair is on its way), at
 * most MAX_RANGES ranges per NAK. With nothing to ask for it still sends an empty NAK every
 * `heartbeatMs`, so the sender knows it is alive.
 *
 * Parity repairs (the STATUS announces blockSegs B > 0). The segments form blocks of B; a block's
 * rank is its segments held plus the independent REPAIRs taken for it. Instead of ranges the
 * receiver sends BNAKs: per block sent in full, its deficit (length - rank), NAKed again no sooner
 * than `holdoffMs`. A REPAIR is checked (block index, k = the block's length, payload = segBytes)
 * and taken only for a block that is open (holds a decoder in the driver) or can be opened: at
 * most `maxOpenBlocks` blocks are open, so memory stays bounded (a REPAIR for another block is
 * dropped and counted; the block is NAKed again later). The driver feeds the block's held
 * segments (unit vectors) and its repairs into a codec Decoder and reports whether each repair
 * was innovative (`repairAdded`); once a block's rank reaches its length, its missing segments are
 * recovered: `takeDecoded()` hands the driver the block and the segments to write. A segment of an
 * open block that arrives is fed to its decoder too, and reported with `dataAdded`.
 */
import { MAX_RANGES, type BlockNeed, type Range } from './nak-wire.js';

export interface NakReceiverOptions {
  nakIntervalMs?: number;
  holdoffMs?: number;
  heartbeatMs?: number;
  completeIntervalMs?: number;
  /** After COMPLETE, give up waiting for BYE after this long (the file is already complete). */
  byeWaitMs?: number;
  maxSegments?: number;
  /** Parity mode: blocks that may hold a decoder at once. */
  maxOpenBlocks?: number;
}

export interface Announce {
  fileBytes: number;
  segBytes: number;
  sha256: Buffer;
  /** Parity block size (0 or absent: plain retransmissions). */
  blockSegs?: number;
}

export type NakReceiverTx = { kind: 'nak'; held: number; ranges: Range[] } | { kind: 'bnak'; held: number; needs: BlockNeed[] } | { kind: 'complete' };

export type DataVerdict = 'new' | 'duplicate' | 'invalid' | 'unannounced';
/** 'full': the block is not open and maxOpenBlocks are (dropped, counted). */
export type RepairVerdict = DataVerdict | 'full';

export interface Decoded {
  block: number;
  /** The segments of the block the receiver lacked, now recovered (to write). */
  segs: number[];
}

/**
 * A block's holdoff doubles at most this many times (60 ms -> 1.92 s with the default holdoff). A
 * repair of the block sets it back to one holdoff, so the end of a transfer (a repair lost, the
 * last deficits) is asked for again at the holdoff's pace.
 */
export const MAX_BACKOFF_DOUBLINGS = 5;

export class NakReceiver {
  announce: Announce | null = null;
  segments = 0;
  private have: Uint8Array = new Uint8Array(0);
  private nakedAt: Uint32Array = new Uint32Array(0);
  /** Parity mode: block size, segments held per block, open blocks' innovative repairs. */
  blockSegs = 0;
  blocks = 0;
  private heldIn: Uint16Array = new Uint16Array(0);
  private blockNakedAt: Uint32Array = new Uint32Array(0);
  /**
   * NAKs of each block since a repair of it last arrived: while new data is still coming, its
   * holdoff doubles with each (up to MAX_BACKOFF_DOUBLINGS times), and a repair sets it back. The
   * sender keeps a NAKed deficit until it is repaired, so asking again matters only when a NAK was
   * lost; and on a slow link a block's unicast repairs wait behind new data until the whole file
   * has gone out once (a link carrying new data at its rate has no room for them): at 0.5 Mbit/s
   * every receiver asked again every holdoff, about once per datagram it received (simulator: 48
   * NAKs a second each, 64 receivers).
   */
  private blockNaks: Uint8Array = new Uint8Array(0);
  private readonly open = new Map<number, number>();
  private readonly decoded: Decoded[] = [];
  private held = 0;
  private firstMissing = 0;
  /** What the receiver knows has been sent: segments below this may be NAKed. */
  private knownSent = 0;
  private nextNakMs: number;
  private lastSentMs = -Infinity;
  private state: 'receiving' | 'verifying' | 'completing' | 'finished' = 'receiving';
  private completeSinceMs = 0;
  private readonly t0: number;
  private readonly o: Required<NakReceiverOptions>;
  duplicates = 0;
  invalid = 0;
  /** Repairs dropped because maxOpenBlocks blocks were open. */
  repairsDropped = 0;
  /** Repairs taken that turned out dependent. */
  repairsDependent = 0;
  naksSent = 0;

  constructor(o: NakReceiverOptions, nowMs: number) {
    this.o = { nakIntervalMs: 20, holdoffMs: 60, heartbeatMs: 500, completeIntervalMs: 100, byeWaitMs: 3000, maxSegments: 1 << 24, maxOpenBlocks: 64, ...o };
    this.t0 = nowMs;
    this.nextNakMs = nowMs;
  }

  get allHeld(): boolean {
    return this.announce !== null && this.held === this.segments;
  }

  get heldSegments(): number {
    return this.held;
  }

  get finished(): boolean {
    return this.state === 'finished';
  }

  /** A STATUS. Returns an error when the announce is unacceptable or contradicts the first one. */
  onStatus(nowMs: number, a: Announce, sentSegs: number): string | null {
    if (this.announce === null) {
      const segs = Math.ceil(a.fileBytes / a.segBytes);
      if (segs > this.o.maxSegments) return `the announced file needs ${segs} segments (at most ${this.o.maxSegments})`;
      const blockSegs = a.blockSegs ?? 0;
      if (!(Number.isInteger(blockSegs) && blockSegs >= 0 && blockSegs <= 0xffff)) return `bad block size ${blockSegs}`;
      this.announce = { fileBytes: a.fileBytes, segBytes: a.segBytes, sha256: Buffer.from(a.sha256), blockSegs };
      this.segments = segs;
      this.have = new Uint8Array(Math.ceil(segs / 8));
      this.nakedAt = new Uint32Array(segs);
      this.blockSegs = blockSegs;
      this.blocks = blockSegs > 0 ? Math.ceil(segs / blockSegs) : 0;
      this.heldIn = new Uint16Array(this.blocks);
      this.blockNakedAt = new Uint32Array(this.blocks);
      this.blockNaks = new Uint8Array(this.blocks);
    } else if (a.fileBytes !== this.announce.fileBytes || a.segBytes !== this.announce.segBytes || !a.sha256.equals(this.announce.sha256) || (a.blockSegs ?? 0) !== this.blockSegs) {
      return 'a STATUS contradicts the first announce';
    }
    this.knownSent = Math.max(this.knownSent, Math.min(sentSegs, this.segments));
    void nowMs;
    return null;
  }

  /** Whether segment s is held. */
  holds(s: number): boolean {
    return this.has(s);
  }

  private has(s: number): boolean {
    return (this.have[s >> 3]! & (1 << (s & 7))) !== 0;
  }

  /** A DATA frame: whether to write it. Its length must be the segment's. */
  onData(nowMs: number, seg: number, bytes: number): DataVerdict {
    void nowMs;
    const a = this.announce;
    if (a === null) return 'unannounced';
    if (seg >= this.segments || bytes !== Math.min(a.segBytes, a.fileBytes - seg * a.segBytes)) {
      this.invalid++;
      return 'invalid';
    }
    this.knownSent = Math.max(this.knownSent, seg + 1);
    if (this.has(seg)) {
      this.duplicates++;
      return 'duplicate';
    }
    this.mark(seg);
    if (this.blockSegs > 0) {
      const b = Math.floor(seg / this.blockSegs);
      this.heldIn[b]!++;
    }
    return 'new';
  }

  /**
   * After a new segment of an open block (isOpen): whether the block's decoder found it
   * innovative (a unit vector can lie in the span of the repairs taken: then it adds no rank).
   * Decodes the block when its rank is full. Nothing to do for a block that is not open.
   */
  dataAdded(seg: number, innovative: boolean): void {
    if (this.blockSegs === 0) return;
    const b = Math.floor(seg / this.blockSegs);
    const n = this.open.get(b);
    if (n === undefined) return;
    if (!innovative) this.open.set(b, n - 1);
    this.maybeDecoded(b);
  }

  private mark(seg: number): void {
    this.have[seg >> 3]! |= 1 << (seg & 7);
    this.held++;
    while (this.firstMissing < this.segments && this.has(this.firstMissing)) this.firstMissing++;
    if (this.held === this.segments && this.state === 'receiving') this.state = 'verifying';
  }

  /** Segments in block b (parity mode). */
  blockLen(b: number): number {
    return Math.min(this.blockSegs, this.segments - b * this.blockSegs);
  }

  /** Independent repairs block b still needs (0 once decoded or whole). */
  deficit(b: number): number {
    return Math.max(0, this.blockLen(b) - this.heldIn[b]! - (this.open.get(b) ?? 0));
  }

  get openBlocks(): number {
    return this.open.size;
  }

  /** Whether block b holds a decoder (the driver feeds it the block's segments as they come). */
  isOpen(b: number): boolean {
    return this.open.has(b);
  }

  /** A REPAIR frame: whether to feed it to the block's decoder (then call repairAdded). */
  acceptRepair(nowMs: number, block: number, k: number, payloadBytes: number): RepairVerdict {
    const a = this.announce;
    if (a === null) return 'unannounced';
    if (this.blockSegs === 0 || !(block >= 0 && block < this.blocks) || k !== this.blockLen(block) || payloadBytes !== a.segBytes) {
      this.invalid++;
      return 'invalid';
    }
    this.knownSent = Math.max(this.knownSent, block * this.blockSegs + k);
    if (this.deficit(block) === 0) {
      this.duplicates++;
      return 'duplicate';
    }
    if (!this.open.has(block)) {
      if (this.open.size >= this.o.maxOpenBlocks) {
        this.repairsDropped++;
        return 'full';
      }
      this.open.set(block, 0);
    }
    // Repairs of this block are coming: the holdoff before asking for it again runs from now, not
    // from the NAK, and starts again from one holdoff (see blockNaks).
    this.blockNakedAt[block] = Math.floor(nowMs - this.t0) + 1;
    this.blockNaks[block] = 1;
    return 'new';
  }

  /** The decoder's verdict on a repair acceptRepair took. */
  repairAdded(block: number, innovative: boolean): void {
    const n = this.open.get(block);
    if (n === undefined) return;
    if (!innovative) {
      this.repairsDependent++;
      return;
    }
    this.open.set(block, n + 1);
    this.maybeDecoded(block);
  }

  private maybeDecoded(b: number): void {
    if (this.deficit(b) > 0) return;
    this.open.delete(b);
    const segs: number[] = [];
    const first = b * this.blockSegs;
    for (let s = first; s < first + this.blockLen(b); s++) {
      if (!this.has(s)) {
        segs.push(s);
        this.mark(s);
      }
    }
    this.heldIn[b] = this.blockLen(b);
    // Pushed even with nothing to write: the driver then frees the block's decoder.
    this.decoded.push({ block: b, segs });
  }

  /** Blocks decoded since the last call, with the segments to write (in order). */
  takeDecoded(): Decoded[] {
    return this.decoded.splice(0);
  }

  /** The driver found the stored file's SHA-256 right and renamed it: announce completion. */
  verified(nowMs: number): void {
    this.state = 'completing';
    this.completeSinceMs = nowMs;
    this.lastSentMs = -Infinity;
  }

  /** The stored file failed its check: start over (every segment is asked for again). */
  reset(): void {
    this.have.fill(0);
    this.nakedAt.fill(0);
    this.held = 0;
    this.firstMissing = 0;
    this.heldIn.fill(0);
    this.blockNakedAt.fill(0);
    this.blockNaks.fill(0);
    this.open.clear();
    this.decoded.length = 0;
    this.state = 'receiving';
  }

  onBye(): void {
    if (this.state === 'completing') this.state = 'finished';
  }

  /** What to send now, if anything. */
  poll(nowMs: number): NakReceiverTx | null {
    if (this.state === 'completing') {
      if (nowMs - this.completeSinceMs >= this.o.byeWaitMs) {
        this.state = 'finished';
        return null;
      }
      if (nowMs - this.lastSentMs < this.o.completeIntervalMs) return null;
      this.lastSentMs = nowMs;
      return { kind: 'complete' };
    }
    if (this.state !== 'receiving' || this.announce === null || nowMs < this.nextNakMs) return null;
    // (The NAK interval runs from the last NAK sent: a poll that finds nothing to send, e.g. for a
    // datagram, does not put off the next one.)
    // u32 ms since the start, +1 so that 0 means "never NAKed".
    const stamp = Math.floor(nowMs - this.t0) + 1;
    const holdoff = this.o.holdoffMs;
    if (this.blockSegs > 0) {
      const needs: BlockNeed[] = [];
      const B = this.blockSegs;
      const first = Math.floor(this.firstMissing / B);
      const holdoffOver = (b: number): boolean => this.blockNakedAt[b] === 0 || stamp - this.blockNakedAt[b]! >= this.blockHoldoff(b);
      // A NAK goes when some block is due (never asked for, or its holdoff over); it then also
      // asks for every block asked for three times or more since its last repair and past half
      // its holdoff, so those blocks' timers fall into step and one NAK serves them: each on its
      // own phase, they made a NAK per block per holdoff (also after the new data, when a slow
      // link's repairs go: simulator, 64 receivers at 0.5 Mbit/s, 9.2 NAKs a second each without
      // this then, 6.6 with). (Not blocks at their first or second holdoff: asked for early,
      // their repairs on the way are queued again, which cost the 10 Mbit/s scenarios 6-10 % in
      // the simulator.)
      let due = false;
      for (let b = first; this.blockSent(b) && !due; b++) due = this.deficit(b) > 0 && holdoffOver(b);
      for (let b = first; due && this.blockSent(b) && needs.length < MAX_RANGES; b++) {
        const d = this.deficit(b);
        const since = stamp - this.blockNakedAt[b]!;
        if (d > 0 && (holdoffOver(b) || (this.blockNaks[b]! >= 3 && 2 * since >= this.blockHoldoff(b)))) {
          needs.push({ block: b, deficit: d });
          this.blockNakedAt[b] = stamp;
          if (this.blockNaks[b]! < 255) this.blockNaks[b]!++;
        }
      }
      if (needs.length === 0 && nowMs - this.lastSentMs < this.o.heartbeatMs) return null;
      this.lastSentMs = nowMs;
      this.nextNakMs = nowMs + this.o.nakIntervalMs;
      this.naksSent++;
      return { kind: 'bnak', held: this.held, needs };
    }
    const ranges: Range[] = [];
    let cur: Range | null = null;
    for (let s = this.firstMissing; s < this.knownSent && ranges.length <= MAX_RANGES; s++) {
      const want = !this.has(s) && (this.nakedAt[s] === 0 || stamp - this.nakedAt[s]! >= holdoff);
      if (want) {
        if (cur && cur.first + cur.count === s) cur.count++;
        else {
          if (ranges.length === MAX_RANGES) break;
          cur = { first: s, count: 1 };
          ranges.push(cur);
        }
        this.nakedAt[s] = stamp;
      }
    }
    if (ranges.length === 0 && nowMs - this.lastSentMs < this.o.heartbeatMs) return null;
    this.lastSentMs = nowMs;
    this.nextNakMs = nowMs + this.o.nakIntervalMs;
    this.naksSent++;
    return { kind: 'nak', held: this.held, ranges };
  }

  nextWakeMs(nowMs: number): number {
    if (this.state === 'finished' || this.state === 'verifying') return Infinity;
    if (this.state === 'completing') return Math.max(nowMs, Math.min(this.lastSentMs + this.o.completeIntervalMs, this.completeSinceMs + this.o.byeWaitMs));
    if (this.announce === null) return Infinity;
    // Nothing to ask for yet (no gap below what was sent; in parity mode, none in a block sent in
    // full): the next wake is the heartbeat's. A datagram that opens a gap polls again, and the
    // driver sets its timer sooner. A receiver on a clean stream so wakes for its datagrams and
    // about twice a second, not every nakIntervalMs (each wake of a Node process costs tens of
    // microseconds of CPU: at 64 receivers on 2 cores, that counts).
    if (!this.gapToAskFor()) return Math.max(nowMs, this.nextNakMs, this.lastSentMs + this.o.heartbeatMs);
    // A gap NAKed less than holdoffMs ago cannot be asked for again before then: wake when the
    // first one can (or for the heartbeat), not every nakIntervalMs while its repair is on the way.
    return Math.max(nowMs, this.nextNakMs, Math.min(this.nextAskableMs(), this.lastSentMs + this.o.heartbeatMs));
  }

  /**
   * The earliest time poll would find a gap to ask for (see poll's holdoff test: a stamp s, NAKed
   * at t0 + s - 1, may be asked for again from t0 + s - 1 + holdoffMs); -Infinity if one can be now.
   */
  private nextAskableMs(): number {
    const at = (stamp: number, holdoff: number): number => (stamp === 0 ? -Infinity : this.t0 + stamp - 1 + holdoff);
    let best = Infinity;
    if (this.blockSegs > 0) {
      for (let b = Math.floor(this.firstMissing / this.blockSegs); this.blockSent(b); b++) {
        if (this.deficit(b) > 0) best = Math.min(best, at(this.blockNakedAt[b]!, this.blockHoldoff(b)));
        if (best === -Infinity) break;
      }
      return best;
    }
    for (let s = this.firstMissing, n = 0; s < this.knownSent; s++, n++) {
      if (n > 1 << 16) return -Infinity; // a long scan: wake at the NAK interval, as before
      if (!this.has(s)) best = Math.min(best, at(this.nakedAt[s]!, this.o.holdoffMs));
      if (best === -Infinity) break;
    }
    return best;
  }

  /** How long after its last NAK (or repair) block b may be asked for again: holdoffMs, doubled per NAK since its last repair. */
  private blockHoldoff(b: number): number {
    // Once the whole file has gone out once, repairs no longer wait behind new data: no backoff.
    if (this.knownSent >= this.segments) return this.o.holdoffMs;
    return this.o.holdoffMs * 2 ** Math.min(MAX_BACKOFF_DOUBLINGS, Math.max(0, this.blockNaks[b]! - 1));
  }

  /** Whether block b exists and has gone out in full (only then may its deficit be asked for). */
  private blockSent(b: number): boolean {
    return b < this.blocks && b * this.blockSegs + this.blockLen(b) <= this.knownSent;
  }

  /** Whether a missing segment lies where a NAK may ask for it (see poll). */
  private gapToAskFor(): boolean {
    const s = this.firstMissing;
    if (s >= this.knownSent) return false;
    if (this.blockSegs === 0) return true;
    return this.blockSent(Math.floor(s / this.blockSegs));
  }
}
