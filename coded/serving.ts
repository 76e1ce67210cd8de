/**
 * What a sender (a peer, or the server) keeps for one node it serves, pure (no sockets, no clock):
 * the segments that node asked for, holds, and its last packet budget per segment (`need`: send at
 * most that many more).
 *
 * Holds: when the node finds our packet of a segment dependent, our subspace is (almost surely)
 * inside its own. Our rank growing is not enough to lift that: in a swarm much of what we get
 * comes from that very node, and a dimension it gave us is one it has. So the sender counts, per
 * segment, the innovative packets it got from everybody but that node (`fresh`, the caller's
 * number), records it at the hold, and sends again only once it has grown. A sender holding the
 * whole segment passes Infinity. The client's driver and the virtual-time swarm
 * test (test/coded/swarm.test.ts) run this same object.
 */

/** Segments one node may ask for at once. */
export const MAX_ASKED = 16;
/** Packets a peer may send of a segment just asked for, before the asker's first `need`. */
export const INITIAL_BUDGET = 4;

export class ServeState {
  readonly segs: number[] = [];
  private rr = 0;
  readonly holds = new Map<number, number>();
  readonly budget = new Map<number, number>();
  /** The node's rank of each segment, from its packets and `need`s, and packets we sent it since (the rank gate). */
  readonly theirRank = new Map<number, number>();
  readonly sentSince = new Map<number, number>();

  /** The node asks for `seg`; false when it already asks for too many. `budgeted`: false for a sender the node gives no budgets (the server). */
  ask(seg: number, budgeted = true): boolean {
    if (this.segs.includes(seg)) return true;
    if (this.segs.length >= MAX_ASKED) return false;
    this.segs.push(seg);
    // A few packets until the node's first budget comes (within NEED_INTERVAL_MS): without one,
    // every peer sent unlimited at the start and the first segments were half late packets.
    if (budgeted) this.budget.set(seg, INITIAL_BUDGET);
    return true;
  }

  /** The node holds `seg` (or wants no more of it). */
  done(seg: number): void {
    const i = this.segs.indexOf(seg);
    if (i >= 0) this.segs.splice(i, 1);
    this.holds.delete(seg);
    this.budget.delete(seg);
    this.theirRank.delete(seg);
    this.sentSince.delete(seg);
  }

  /** The node found our packet of `seg` dependent; `fresh` is our count of what others gave us of it, now. */
  hold(seg: number, fresh: number): void {
    if (!this.segs.includes(seg)) return;
    this.holds.set(seg, Math.max(fresh, this.holds.get(seg) ?? 0));
  }

  /**
   * The node's rank of `seg` as a packet from it (or its `need`) said: the rank gate's reference.
   * Only a report newer than the last one counts (ranks only grow).
   */
  heard(seg: number, rank: number): void {
    if (!this.segs.includes(seg)) return;
    if (rank > (this.theirRank.get(seg) ?? -1)) {
      this.theirRank.set(seg, rank);
      this.sentSince.set(seg, 0);
    }
  }

  /** A new budget for `seg` (replaces the last one). */
  need(seg: number, n: number, rank?: number): void {
    if (!this.segs.includes(seg)) return;
    this.budget.set(seg, n);
    if (rank !== undefined) this.heard(seg, rank);
  }

  /**
   * Whether a packet of `seg` may go to this node now; `fresh`: innovative packets of it we got from
   * others than this node (Infinity when we hold it all; 0 with nothing to send).
   */
  sendable(seg: number, fresh: number, rank = Infinity): boolean {
    // Rank gate: a sender whose rank is not above the node's (its last report, plus what we sent it
    // since) can extend it only by a dimension the node happens to lack; in a swarm that mixes the
    // same server packets that is rare. (In the virtual-time model most dependent packets came from
    // such senders, but the gate alone cut them little, 12.6 to 12.4 %: the reports are stale.)
    if (rank !== Infinity && rank <= (this.theirRank.get(seg) ?? -1) + (this.sentSince.get(seg) ?? 0)) return false;
    return fresh > 0 && fresh > (this.holds.get(seg) ?? 0) && (this.budget.get(seg) ?? 1) > 0;
  }

  any(freshOf: (seg: number) => number, rankOf?: (seg: number) => number): boolean {
    return this.segs.some((g) => this.sendable(g, freshOf(g), rankOf?.(g)));
  }

  /** The next segment to send this node a packet of (round robin over the sendable ones), its budget charged; null if none. */
  pick(freshOf: (seg: number) => number, rankOf?: (seg: number) => number): number | null {
    const n = this.segs.length;
    for (let j = 0; j < n; j++) {
      const idx = (this.rr + j) % n;
      const g = this.segs[idx]!;
      if (!this.sendable(g, freshOf(g), rankOf?.(g))) continue;
      this.rr = (idx + 1) % n;
      const left = this.budget.get(g);
      if (left !== undefined) this.budget.set(g, left - 1);
      if (this.sentSince.has(g)) this.sentSince.set(g, this.sentSince.get(g)! + 1);
      return g;
    }
    return null;
  }
}

/**
 * The budget a receiver gives sender number `i` of its `senders` for a segment it has `rank` of
 * `k`: what it still misses times `margin` (loss, dependent packets), rounded up, split as evenly as
 * whole packets allow; the senders that get the odd packets are those with i below the remainder,
 * so pass i rotated (by time) to spread them. Near the end of a segment only a few senders get one
 * packet each, instead of every sender one (which made 6 senders send 6 packets for the last one).
 */
export function needShare(k: number, rank: number, senders: number, margin: number, i: number): number {
  const n = Math.max(1, senders);
  const total = Math.max(0, Math.ceil((k - rank) * margin));
  return Math.floor(total / n) + ((((i % n) + n) % n) < total % n ? 1 : 0);
}

/**
 * Peers' budgets cover what the swarm can still give: min(k, swarm rank + NEED_SWARM_SLACK) - rank,
 * the swarm rank being the highest rank seen in a packet of the segment (the server's header counts
 * what it has sent of it). Sized on k - rank instead, peers sent what nobody had yet: in the
 * virtual-time model (test/coded/swarm.test.ts) 21 % of the packets were dependent, 12 % with this,
 * same makespan.
 */
export const NEED_SWARM_SLACK = 2;

/**
 * The rank a receiver may still reach of a segment, for its peers' budgets: the swarm holds no more
 * of it than the server has sent (`swarmRank`, the highest count its packets carried), plus what the
 * server sent since (about one packet per node it serves: `slack`); at most k.
 */
export function swarmCap(k: number, swarmRank: number, slack: number): number {
  return Math.min(k, swarmRank + slack);
}
