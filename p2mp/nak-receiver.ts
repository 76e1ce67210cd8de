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
 */
import { MAX_RANGES, type Range } from './nak-wire.js';

export interface NakReceiverOptions {
  nakIntervalMs?: number;
  holdoffMs?: number;
  heartbeatMs?: number;
  completeIntervalMs?: number;
  /** After COMPLETE, give up waiting for BYE after this long (the file is already complete). */
  byeWaitMs?: number;
  maxSegments?: number;
}

export interface Announce {
  fileBytes: number;
  segBytes: number;
  sha256: Buffer;
}

export type NakReceiverTx = { kind: 'nak'; held: number; ranges: Range[] } | { kind: 'complete' };

export type DataVerdict = 'new' | 'duplicate' | 'invalid' | 'unannounced';

export class NakReceiver {
  announce: Announce | null = null;
  segments = 0;
  private have: Uint8Array = new Uint8Array(0);
  private nakedAt: Uint32Array = new Uint32Array(0);
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
  naksSent = 0;

  constructor(o: NakReceiverOptions, nowMs: number) {
    this.o = { nakIntervalMs: 20, holdoffMs: 60, heartbeatMs: 500, completeIntervalMs: 100, byeWaitMs: 3000, maxSegments: 1 << 24, ...o };
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
      this.announce = { fileBytes: a.fileBytes, segBytes: a.segBytes, sha256: Buffer.from(a.sha256) };
      this.segments = segs;
      this.have = new Uint8Array(Math.ceil(segs / 8));
      this.nakedAt = new Uint32Array(segs);
    } else if (a.fileBytes !== this.announce.fileBytes || a.segBytes !== this.announce.segBytes || !a.sha256.equals(this.announce.sha256)) {
      return 'a STATUS contradicts the first announce';
    }
    this.knownSent = Math.max(this.knownSent, Math.min(sentSegs, this.segments));
    void nowMs;
    return null;
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
    this.have[seg >> 3]! |= 1 << (seg & 7);
    this.held++;
    while (this.firstMissing < this.segments && this.has(this.firstMissing)) this.firstMissing++;
    if (this.held === this.segments && this.state === 'receiving') this.state = 'verifying';
    return 'new';
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
    this.nextNakMs = nowMs + this.o.nakIntervalMs;
    // u32 ms since the start, +1 so that 0 means "never NAKed".
    const stamp = Math.floor(nowMs - this.t0) + 1;
    const holdoff = this.o.holdoffMs;
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
    this.naksSent++;
    return { kind: 'nak', held: this.held, ranges };
  }

  nextWakeMs(nowMs: number): number {
    if (this.state === 'finished' || this.state === 'verifying') return Infinity;
    if (this.state === 'completing') return Math.max(nowMs, Math.min(this.lastSentMs + this.o.completeIntervalMs, this.completeSinceMs + this.o.byeWaitMs));
    if (this.announce === null) return Infinity;
    return Math.max(nowMs, this.nextNakMs);
  }
}
