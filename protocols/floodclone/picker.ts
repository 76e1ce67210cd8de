/**
 * A node's chunk picker: which chunk to ask which peer for, next. Pure: no sockets, no clock (time
 * comes in as `nowMs`), so the TCP driver and a simulator run the very same object.
 *
 * Theory of operation (README, "FloodClone: push or pull"):
 *   - The source pushes fresh chunks, Mutualcast-style, but a node asks for them: it sends FRESH
 *     ("any chunk nobody has been sent") while its own upload backlog is short. So a node that
 *     forwards faster asks, and gets, more; a node whose uplink is full stops asking. Fresh chunks
 *     cost the source one copy each; the peers' uplinks carry every other copy.
 *   - Everything else is pulled from holders. Every node tells every peer what it holds (HAVE), so
 *     the knowledge of who needs what stays where it is needed. A chunk is requested from one
 *     holder at a time (nothing in flight twice, so nothing arrives twice), rarest first.
 *   - Rates are measured, never pinged: the first chunk from a peer measures it; afterwards its rate
 *     is an EWMA of chunk completions while its request queue was never empty, revised throughout.
 *     A peer gets as many requests in flight as its rate drains in `queueTargetMs` (at least one).
 *   - The source also holds every chunk: a node asks it directly for a chunk some peer was sent
 *     (never for one nobody has: that is what FRESH is for), one at a time. The source serves those
 *     only when no writable connection waits for a fresh chunk (Mutualcast's direct mode: the source
 *     uplink is used directly only once the peers' forwarding queues are full).
 *   - End game and slow links: a request waiting far longer than its peer's rate predicts, for a
 *     chunk another live peer holds, is CANCELled; only the peer's CANCELLED (it had not started)
 *     frees it, so a chunk is never in flight twice. A corrupt chunk halves the sender's trust (its
 *     slots and its rank) and the chunk is asked for elsewhere; three corrupt chunks and the driver
 *     drops that peer. A peer that vanishes takes its requests and its holdings with it.
 */
export type Handle = number;

export type PickAction =
  | { kind: 'request'; peer: Handle; chunk: number }
  | { kind: 'cancel'; peer: Handle; chunk: number }
  | { kind: 'fresh'; peer: Handle };

export interface PickerConfig {
  chunks: number;
  chunkBytes: number;
  /** Node id, to decorrelate tie-breaks between nodes. */
  seed?: number;
  /** Requests in flight per peer at most. */
  maxPerPeer?: number;
  /** A peer gets the requests its rate drains in this long. */
  queueTargetMs?: number;
  /** FRESH requests in flight at most. */
  maxFresh?: number;
  /** Ask for fresh chunks while the upload backlog drains within this long. */
  freshBacklogMs?: number;
  /**
   * Cancel a request that has waited at least minCancelMs when another holder with a free slot would
   * bring the chunk cancelFactor times sooner than what is left of it here.
   */
  minCancelMs?: number;
  cancelFactor?: number;
  /**
   * Leave a chunk to a holder measured at least this many times faster: a peer is asked only for
   * chunks no such holder has (0 turns this off). Behind a shared trunk the neighbours are the fast
   * holders, so a chunk already inside the site is relayed there instead of crossing the trunk again.
   */
  preferFaster?: number;
  /**
   * Split the chunks that must come from a far peer among the near ones. A peer with much faster
   * peers beside it (`preferFaster`) is asked for a chunk that two or more peers hold only by the
   * node whose hash of (chunk, node id) is smallest among itself and those faster peers that still
   * make progress (a new chunk within `ownStaleMs`); the others wait to get it from that node at
   * their near rate. Behind a shared trunk every member of a site sees the same chunk appear outside
   * at once; without this they all pull it across the trunk. After a chunk has been held outside
   * for `ownFarMs`, anyone may fetch it (this bounds what a near peer that never fetches its share
   * can hold back; 0 turns the split off).
   */
  ownFarMs?: number;
  ownStaleMs?: number;
}

interface Outstanding {
  sentMs: number;
  cancelling: boolean;
}

interface Peer {
  handle: Handle;
  /** Its node id (for the split of far chunks; the handle when the driver does not know it). */
  id: number;
  isSource: boolean;
  holds: Uint8Array;
  outstanding: Map<number, Outstanding>;
  /** Payload bytes/s, EWMA; null until the first chunk. */
  rate: number | null;
  /** When it last announced a chunk new to us. */
  lastHaveMs: number;
  /** Since when its queue has been non-empty (for rate samples). */
  busySinceMs: number;
  lastDoneMs: number;
  trust: number;
  corrupt: number;
  /** Asked for chunks (the driver may keep a second link to the same peer for serving only). */
  requestable: boolean;
}

const EWMA = 0.3;

export class Picker {
  readonly chunks: number;
  readonly chunkBytes: number;
  private readonly cfg: Required<Omit<PickerConfig, 'chunks' | 'chunkBytes' | 'seed'>>;
  private readonly seed: number;
  readonly have: Uint8Array;
  haveCount = 0;
  /** Chunks some peer was known to hold at some point (so the source has sent them). */
  private readonly everHeld: Uint8Array;
  /** When each chunk was first known held by a peer (ms; for ownFarMs). */
  private readonly heldSinceMs: Float64Array;
  /** Live peers (not the source) holding each chunk. */
  private readonly avail: Uint16Array;
  private readonly requested = new Map<number, Handle>();
  private readonly peers = new Map<Handle, Peer>();
  private missing: number[];
  freshOutstanding = 0;
  freshExhausted = false;
  duplicates = 0;
  private backlogBytes = 0;
  private upRate: number | null = null;
  private upSamples: { ms: number; bytes: number }[] = [];

  constructor(c: PickerConfig) {
    this.chunks = c.chunks;
    this.chunkBytes = c.chunkBytes;
    this.seed = (c.seed ?? 0) >>> 0;
    this.cfg = {
      maxPerPeer: c.maxPerPeer ?? 8,
      queueTargetMs: c.queueTargetMs ?? 400,
      maxFresh: c.maxFresh ?? 2,
      freshBacklogMs: c.freshBacklogMs ?? 600,
      minCancelMs: c.minCancelMs ?? 300,
      cancelFactor: c.cancelFactor ?? 3,
      preferFaster: c.preferFaster ?? 2,
      ownFarMs: c.ownFarMs ?? 15_000,
      ownStaleMs: c.ownStaleMs ?? 1000,
    };
    this.have = new Uint8Array(c.chunks);
    this.everHeld = new Uint8Array(c.chunks);
    this.heldSinceMs = new Float64Array(c.chunks);
    this.avail = new Uint16Array(c.chunks);
    this.missing = Array.from({ length: c.chunks }, (_, k) => k);
  }

  get complete(): boolean {
    return this.haveCount === this.chunks;
  }

  /** Chunks this node holds already (a resumed node): call before any peer is added. */
  markHave(chunk: number): void {
    if (this.have[chunk]) return;
    this.have[chunk] = 1;
    this.haveCount++;
    this.missing = this.missing.filter((c) => c !== chunk);
  }

  /** `id`: the peer's node id (the handle if not given), for the split of far chunks. */
  addPeer(handle: Handle, isSource: boolean, nowMs: number, id: number = handle): void {
    if (this.peers.has(handle)) return;
    const holds = new Uint8Array(this.chunks);
    if (isSource) holds.fill(1);
    this.peers.set(handle, { handle, id: id >>> 0, isSource, holds, outstanding: new Map(), rate: null, lastHaveMs: nowMs, busySinceMs: nowMs, lastDoneMs: nowMs, trust: 1, corrupt: 0, requestable: true });
  }

  removePeer(handle: Handle): void {
    const p = this.peers.get(handle);
    if (!p) return;
    for (const c of p.outstanding.keys()) this.requested.delete(c);
    if (!p.isSource) for (let c = 0; c < this.chunks; c++) if (p.holds[c]) this.avail[c]!--;
    if (p.isSource) this.freshOutstanding = 0;
    this.peers.delete(handle);
  }

  hasPeer(handle: Handle): boolean {
    return this.peers.has(handle);
  }

  /** The peer says it holds these chunks (indices out of range are ignored: the driver rejects them). */
  onHave(handle: Handle, chunks: Iterable<number>, nowMs: number): void {
    const p = this.peers.get(handle);
    if (!p || p.isSource) return;
    for (const c of chunks) {
      if (!(c >= 0 && c < this.chunks) || p.holds[c]) continue;
      p.holds[c] = 1;
      this.avail[c]!++;
      p.lastHaveMs = nowMs;
      if (!this.everHeld[c]) (this.everHeld[c] = 1), (this.heldSinceMs[c] = nowMs);
    }
  }

  /** The driver's view of this node's upload: bytes queued for peers now, and bytes sent so far. */
  onUpload(nowMs: number, backlogBytes: number, sentBytesTotal: number): void {
    this.backlogBytes = backlogBytes;
    this.upSamples.push({ ms: nowMs, bytes: sentBytesTotal });
    while (this.upSamples.length > 2 && nowMs - this.upSamples[1]!.ms >= 1000) this.upSamples.shift();
    const a = this.upSamples[0]!;
    if (nowMs - a.ms >= 200 && sentBytesTotal > a.bytes) this.upRate = ((sentBytesTotal - a.bytes) * 1000) / (nowMs - a.ms);
  }

  /**
   * A whole chunk arrived from `handle` and was checked against the manifest (`ok`). Returns what
   * the driver should do with it: store it, or drop it (a duplicate or unasked-for).
   */
  onChunk(handle: Handle, chunk: number, ok: boolean, nowMs: number): 'store' | 'drop' {
    const p = this.peers.get(handle);
    if (!p || !(chunk >= 0 && chunk < this.chunks)) return 'drop';
    const asked = p.outstanding.get(chunk);
    if (asked) {
      p.outstanding.delete(chunk);
      this.requested.delete(chunk);
      if (ok) this.sample(p, nowMs);
    } else if (p.isSource && this.freshOutstanding > 0) {
      this.freshOutstanding--;
      if (ok) this.sample(p, nowMs);
    } else if (this.have[chunk]) {
      this.duplicates++;
      return 'drop';
    }
    if (p.outstanding.size === 0) p.busySinceMs = nowMs;
    if (!ok) {
      p.trust /= 2;
      p.corrupt++;
      if (!p.isSource && p.holds[chunk]) {
        p.holds[chunk] = 0;
        this.avail[chunk]!--;
      }
      return 'drop';
    }
    if (this.have[chunk]) {
      this.duplicates++;
      return 'drop';
    }
    this.have[chunk] = 1;
    this.haveCount++;
    this.everHeld[chunk] = 1;
    const k = this.missing.indexOf(chunk);
    if (k >= 0) this.missing.splice(k, 1);
    return 'store';
  }

  /** How many corrupt chunks this peer sent (the driver drops it at 3). */
  corruptFrom(handle: Handle): number {
    return this.peers.get(handle)?.corrupt ?? 0;
  }

  /** The peer dropped our request before sending anything (CANCELLED), or could not serve it. */
  onCancelled(handle: Handle, chunk: number, nowMs: number): void {
    const p = this.peers.get(handle);
    if (!p?.outstanding.has(chunk)) return;
    p.outstanding.delete(chunk);
    this.requested.delete(chunk);
    if (p.outstanding.size === 0) p.busySinceMs = nowMs;
    // It said it cannot serve this one: it no longer counts as a holder of it.
    if (!p.isSource && p.holds[chunk]) {
      p.holds[chunk] = 0;
      this.avail[chunk]!--;
    }
  }

  /** The source has no fresh chunk left (NOFRESH). */
  onNoFresh(): void {
    this.freshExhausted = true;
    this.freshOutstanding = 0;
  }

  rateOf(handle: Handle): number | null {
    return this.peers.get(handle)?.rate ?? null;
  }

  private sample(p: Peer, nowMs: number): void {
    const dt = nowMs - Math.max(p.busySinceMs, p.lastDoneMs);
    p.lastDoneMs = nowMs;
    if (dt <= 0) return;
    const r = (this.chunkBytes * 1000) / dt;
    p.rate = p.rate === null ? r : p.rate * (1 - EWMA) + r * EWMA;
  }

  /**
   * Whether this peer link is asked for chunks. A link that is not keeps what it holds and its
   * requests in flight (they complete as usual); it is just asked for nothing new.
   */
  setRequestable(handle: Handle, requestable: boolean): void {
    const p = this.peers.get(handle);
    if (p) p.requestable = requestable;
  }

  private slots(p: Peer): number {
    if (!p.requestable) return 0;
    if (p.rate === null) return 1;
    const want = Math.ceil((p.rate * p.trust * this.cfg.queueTargetMs) / 1000 / this.chunkBytes) + 1;
    return Math.max(1, Math.min(this.cfg.maxPerPeer, p.isSource ? 1 : want));
  }

  private tie(c: number): number {
    return Math.imul((c ^ this.seed) >>> 0, 2654435761) >>> 0;
  }

  /** What to do now: requests to send, cancels, a FRESH. Call after every event (cheap). */
  pick(nowMs: number): PickAction[] {
    const out: PickAction[] = [];
    if (this.complete) return out;
    const source = [...this.peers.values()].find((p) => p.isSource);
    // 1. Fresh chunks from the source while this node's uplink can forward them soon.
    if (source && !this.freshExhausted) {
      const drainMs = this.upRate === null ? (this.backlogBytes > 0 ? Infinity : 0) : (this.backlogBytes * 1000) / this.upRate;
      const allowed = this.upRate === null ? 1 : this.cfg.maxFresh;
      if (this.freshOutstanding < allowed && (this.freshOutstanding === 0 ? drainMs <= this.cfg.freshBacklogMs || this.backlogBytes <= this.chunkBytes : drainMs <= this.cfg.freshBacklogMs / 2)) {
        this.freshOutstanding++;
        out.push({ kind: 'fresh', peer: source.handle });
      }
    }
    // 2. Requests: best peers first (measured rate x trust; unmeasured peers get their probe); the
    //    source last, so it is asked by name only for what no peer's free slot could take.
    const score = (p: Peer): number => (p.isSource ? -1 : (p.rate ?? Infinity) * p.trust);
    const peers = [...this.peers.values()].sort((a, b) => score(b) - score(a));
    for (const p of peers) {
      let free = this.slots(p) - p.outstanding.size;
      if (free <= 0) continue;
      const f = this.cfg.preferFaster;
      const faster: Peer[] = [];
      if (f > 0 && p.rate !== null) {
        // `peers` is sorted by score: the much faster ones come first.
        for (const q of peers) {
          if (score(q) < f * p.rate * p.trust) break;
          if (!q.isSource && q.rate !== null) faster.push(q);
        }
      }
      while (free > 0) {
        const c = this.choose(p, faster, nowMs);
        if (c < 0) break;
        if (p.outstanding.size === 0) p.busySinceMs = nowMs;
        p.outstanding.set(c, { sentMs: nowMs, cancelling: false });
        this.requested.set(c, p.handle);
        out.push({ kind: 'request', peer: p.handle, chunk: c });
        free--;
      }
    }
    // 3. Requests stuck behind a slow link, for chunks another live peer could bring much sooner:
    //    cancel them (the peer answers CANCELLED if it had not started; only then is it asked again).
    // Peers that could take one more request now (the same for every candidate below: cancelling
    // frees nothing until CANCELLED), with when they would bring it.
    const open = peers.filter((q) => q.rate !== null && q.outstanding.size < this.slots(q)).map((q) => ({ q, etaMs: ((q.outstanding.size + 1) * this.chunkBytes * 1000) / (q.rate! * q.trust) }));
    if (open.length === 0) return out;
    for (const p of peers) {
      let position = 0;
      for (const [c, o] of p.outstanding) {
        position++;
        const waited = nowMs - o.sentMs;
        if (o.cancelling || waited < this.cfg.minCancelMs) continue;
        // What is left of this request's expected time at p (unmeasured: it has taken this long already).
        const leftMs = p.rate === null ? waited : Math.max(0, (position * this.chunkBytes * 1000) / (p.rate * p.trust) - waited);
        const better = open.some(({ q, etaMs }) => {
          if (q === p) return false;
          if (q.isSource ? !this.everHeld[c] : !q.holds[c]) return false;
          return this.cfg.cancelFactor * etaMs < Math.max(leftMs, waited / this.cfg.cancelFactor);
        });
        if (!better) continue;
        o.cancelling = true;
        out.push({ kind: 'cancel', peer: p.handle, chunk: c });
      }
    }
    return out;
  }

  /** Is this node, of itself and `group`, the one whose hash of (chunk, node id) is smallest? */
  private owns(c: number, group: readonly Peer[]): boolean {
    const mine = ownHash(c, this.seed);
    return group.every((q) => ownHash(c, q.id) > mine || (ownHash(c, q.id) === mine && q.id > this.seed));
  }

  /**
   * The chunk to ask `p` for: missing, not asked for, held by p and by none of `faster` (peers
   * measured much faster: it is left to them), rarest first; -1 if none.
   */
  private choose(p: Peer, faster: readonly Peer[], nowMs: number): number {
    const owners = this.cfg.ownFarMs > 0 ? faster.filter((q) => nowMs - q.lastHaveMs <= this.cfg.ownStaleMs) : [];
    let best = -1;
    let bestAvail = Infinity;
    let bestTie = 0;
    for (const c of this.missing) {
      if (this.requested.has(c)) continue;
      if (p.isSource) {
        // Never ask the source by name for a chunk nobody was sent: FRESH does that (and a named
        // request could cross the same chunk sent as fresh). After NOFRESH, anything goes.
        if (!this.everHeld[c] && !this.freshExhausted) continue;
      } else if (!p.holds[c]) continue;
      if (faster.length > 0 && faster.some((q) => q.holds[c])) continue;
      // A chunk one of the faster peers is to fetch from afar: wait for it there. Not a chunk a
      // single peer holds: if that holder is slow, its one fetch can hold up the end game (a
      // 100 kB/s uploader's chunk took 2.2x the bound in test/floodclone/swarm-sim.test.ts).
      if (owners.length > 0 && this.avail[c]! >= 2 && nowMs - this.heldSinceMs[c]! < this.cfg.ownFarMs && !this.owns(c, owners)) continue;
      // From a far peer (some holder is much faster), seeded order instead of rarest first: the
      // neighbours, who see the same rarity, would otherwise all pull the same new chunk across.
      const a = faster.length > 0 ? 0 : this.avail[c]!;
      const t = this.tie(c);
      if (a < bestAvail || (a === bestAvail && t < bestTie)) {
        best = c;
        bestAvail = a;
        bestTie = t;
      }
    }
    return best;
  }
}

/** A node's hash of a chunk for the split of far chunks: every node computes the same for (c, id). */
export function ownHash(c: number, id: number): number {
  let h = Math.imul(c ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(id ^ 0x27d4eb2f, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}
