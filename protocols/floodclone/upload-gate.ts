/**
 * A node's upload window, pure (no sockets, no clock: time comes in as `nowMs`).
 *
 * Why: a node's requests, and the TCP acknowledgements of everything it downloads, leave through
 * the same uplink as the chunks it uploads, in one FIFO (a modem's, or the lab's tc queue). Writing
 * chunks whenever a socket takes them lets the kernel's send buffers fill that FIFO: on
 * flood-one-slow the slow node (2 Mbit/s up) had up to 475 KB queued there, 1.9 s, and its download
 * (10 Mbit/s, the scenario's bound) stood idle for a third of the run while its requests waited
 * behind its own uploads.
 *
 * So a node writes a chunk only while the bytes it has written and their receivers have not yet
 * announced (HAVE) fit in a window, and the window follows the delay its own uplink adds, as
 * LEDBAT does:
 *   - Each announcement gives the chunk's latency, write to HAVE. The least latency seen lately,
 *     over all receivers, is the base (a chunk's own transfer, a receiver's hashing and batching);
 *     what a chunk took above it is queueing. (A base per receiver would be poisoned: a receiver
 *     first served while the queue was long takes that queue for its base; in the model of the unit
 *     test, a 2 Mbit/s uplink then queued 3.9 s.)
 *   - The queueing an announced chunk tells of is its own, or less if a chunk written after it, to
 *     another receiver, was announced with less: a queue in this node's uplink delays every chunk
 *     written after it, one in a receiver's downlink or behind a shared trunk only the chunks going
 *     there. So chunks stuck far away do not shrink the window
 *     (behind flood-sites' trunks they did, when the window was sized from the node's rate and its
 *     fastest receiver's latency: the chunks crossing a trunk filled it, and the relaying inside the
 *     site starved: 1.37x -> 2.0x).
 *   - The window starts at two chunks and, until a chunk first tells of half the target, grows by
 *     each announced chunk (doubling per round trip). After that, per window of announced bytes, it
 *     grows by up to one chunk while the queueing is under `targetMs` and shrinks by up to one above
 *     it (in proportion to the distance; LEDBAT's rule), never below one chunk. It grows only while
 *     at least half used.
 * At least one chunk may always be outstanding.
 *
 * A chunk stops counting once it has been out four times the base latency, or the base and four
 * times the target if longer (`expireMs` before any chunk was announced): by then it is held
 * somewhere past this node's uplink (a queue that long here would have closed the window well
 * before), or its announcement will never come (the receiver lost it, lied, or already had it).
 * Chunks crossing a slow trunk or into a full downlink thus hold no room for long (in the unit
 * test's model, half the chunks held up 1.5 s downstream kept the window filled with them and the
 * link a third used).
 */
export interface UploadGateOptions {
  /** Bytes of one chunk: the window is never smaller. */
  chunkBytes: number;
  /** Queueing delay aimed at in this node's uplink (default 100 ms). */
  targetMs?: number;
  /** The window at the start (default 2 chunks). */
  initialBytes?: number;
  /** The window at most (default 1024 chunks). */
  maxBytes?: number;
  /** Before any chunk was announced, an unannounced one stops counting after this long (default 2000 ms). */
  expireMs?: number;
}

/** The base latency is the least of the current and the previous epoch of this length. */
const BASE_EPOCH_MS = 10_000;

interface Sent {
  bytes: number;
  atMs: number;
}

interface Receiver {
  out: Map<number, Sent>;
  /** Queueing of its last announced chunk, and when that chunk was written. */
  lastQueueMs: number;
  lastSentMs: number;
}

export class UploadGate {
  private readonly targetMs: number;
  private readonly maxBytes: number;
  private readonly expireMs: number;
  private readonly rx = new Map<string, Receiver>();
  private outBytes = 0;
  private window: number;
  private baseNow = Infinity;
  private basePrev = Infinity;
  private epochStart: number | null = null;
  private slowStart = true;
  /** Chunks that stopped counting before they were announced (reported). */
  expired = 0;

  constructor(private readonly o: UploadGateOptions) {
    this.targetMs = o.targetMs ?? 100;
    this.maxBytes = o.maxBytes ?? 1024 * o.chunkBytes;
    this.expireMs = o.expireMs ?? 2000;
    this.window = Math.max(o.chunkBytes, o.initialBytes ?? 2 * o.chunkBytes);
  }

  /** The least write-to-announcement latency seen lately (Infinity before any). */
  get baseMs(): number {
    return Math.min(this.baseNow, this.basePrev);
  }

  get outstandingBytes(): number {
    return this.outBytes;
  }

  /** The window in bytes. */
  windowBytes(): number {
    return this.window;
  }

  /** The queueing a chunk written at `sentMs` and announced after `queueMs` tells of (see above). */
  private queueingOf(queueMs: number, sentMs: number): number {
    let q = queueMs;
    for (const r of this.rx.values()) if (r.lastSentMs > sentMs && r.lastQueueMs < q) q = r.lastQueueMs;
    return q;
  }

  /** Whether another chunk may be written now. */
  hasRoom(nowMs: number): boolean {
    this.expire(nowMs);
    return this.outBytes < this.window;
  }

  private receiver(peer: string, nowMs: number): Receiver {
    let r = this.rx.get(peer);
    if (!r) this.rx.set(peer, (r = { out: new Map(), lastQueueMs: 0, lastSentMs: -Infinity }));
    this.epochStart ??= nowMs;
    return r;
  }

  /** A chunk of `bytes` was written to `peer`. Writing one already outstanding to it restarts it. */
  sent(peer: string, chunk: number, bytes: number, nowMs: number): void {
    const r = this.receiver(peer, nowMs);
    const old = r.out.get(chunk);
    if (old) this.outBytes -= old.bytes;
    r.out.set(chunk, { bytes, atMs: nowMs });
    this.outBytes += bytes;
  }

  /** `peer` announced it holds these chunks; returns whether any was outstanding (room may have opened). */
  announced(peer: string, chunks: Iterable<number>, nowMs: number): boolean {
    const r = this.rx.get(peer);
    if (!r || r.out.size === 0) return false;
    let any = false;
    for (const k of chunks) {
      const s = r.out.get(k);
      if (!s) continue;
      const busy = this.outBytes >= this.window / 2;
      r.out.delete(k);
      this.outBytes -= s.bytes;
      any = true;
      const lat = Math.max(0, nowMs - s.atMs);
      if (nowMs - (this.epochStart ?? nowMs) >= BASE_EPOCH_MS) {
        this.basePrev = this.baseNow;
        this.baseNow = Infinity;
        this.epochStart = nowMs;
      }
      this.baseNow = Math.min(this.baseNow, lat);
      const q = this.queueingOf(lat - this.baseMs, s.atMs);
      if (s.atMs >= r.lastSentMs) {
        r.lastQueueMs = lat - this.baseMs;
        r.lastSentMs = s.atMs;
      }
      if (q >= this.targetMs / 2) this.slowStart = false;
      const gain = Math.max(-1, Math.min(1, (this.targetMs - q) / this.targetMs));
      const step = this.slowStart ? s.bytes : (s.bytes * this.o.chunkBytes) / this.window;
      if (gain < 0 || busy) this.window = Math.max(this.o.chunkBytes, Math.min(this.maxBytes, this.window + gain * step));
    }
    return any;
  }

  /** `peer` is gone: what it had outstanding no longer counts. */
  forget(peer: string): void {
    const r = this.rx.get(peer);
    if (!r) return;
    for (const s of r.out.values()) this.outBytes -= s.bytes;
    this.rx.delete(peer);
  }

  private expire(nowMs: number): void {
    if (this.outBytes === 0) return;
    const base = this.baseMs;
    const expire = base === Infinity ? this.expireMs : Math.max(4 * base, base + 4 * this.targetMs);
    for (const r of this.rx.values()) {
      for (const [k, s] of r.out) {
        if (nowMs - s.atMs < expire) continue;
        r.out.delete(k);
        this.outBytes -= s.bytes;
        this.expired++;
      }
    }
  }
}
