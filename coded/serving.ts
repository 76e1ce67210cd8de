/**
 * What a sender (a peer, or the server) keeps for one node it serves, pure (no sockets, no clock):
 * the segments that node asked for, the rank at which it found our packets dependent (`hold`:
 * send more of that segment only once our rank is above it), and its last packet budget per
 * segment (`need`: send at most that many more). The client's driver and the virtual-time swarm
 * test (test/coded/swarm.test.ts) run this same object.
 */

/** Segments one node may ask for at once. */
export const MAX_ASKED = 16;

export class ServeState {
  readonly segs: number[] = [];
  private rr = 0;
  readonly holds = new Map<number, number>();
  readonly budget = new Map<number, number>();

  /** The node asks for `seg`; false when it already asks for too many. */
  ask(seg: number): boolean {
    if (this.segs.includes(seg)) return true;
    if (this.segs.length >= MAX_ASKED) return false;
    this.segs.push(seg);
    return true;
  }

  /** The node holds `seg` (or wants no more of it). */
  done(seg: number): void {
    const i = this.segs.indexOf(seg);
    if (i >= 0) this.segs.splice(i, 1);
    this.holds.delete(seg);
    this.budget.delete(seg);
  }

  hold(seg: number, rank: number): void {
    if (!this.segs.includes(seg)) return;
    this.holds.set(seg, Math.max(rank, this.holds.get(seg) ?? 0));
  }

  /** A new budget for `seg` (replaces the last one). */
  need(seg: number, n: number): void {
    if (this.segs.includes(seg)) this.budget.set(seg, n);
  }

  /** Whether a packet of `seg` made at our rank `rank` may go to this node now. */
  sendable(seg: number, rank: number): boolean {
    return rank > (this.holds.get(seg) ?? 0) && (this.budget.get(seg) ?? 1) > 0;
  }

  any(rankOf: (seg: number) => number): boolean {
    return this.segs.some((g) => this.sendable(g, rankOf(g)));
  }

  /** The next segment to send this node a packet of (round robin over the sendable ones), its budget charged; null if none. */
  pick(rankOf: (seg: number) => number): number | null {
    const n = this.segs.length;
    for (let j = 0; j < n; j++) {
      const idx = (this.rr + j) % n;
      const g = this.segs[idx]!;
      if (!this.sendable(g, rankOf(g))) continue;
      this.rr = (idx + 1) % n;
      const left = this.budget.get(g);
      if (left !== undefined) this.budget.set(g, left - 1);
      return g;
    }
    return null;
  }
}

/**
 * The budget a receiver gives each of its `senders` for a segment it has `rank` of `k`: an equal
 * share of what it still misses, times `margin` (loss, dependent packets), plus one.
 */
export function needShare(k: number, rank: number, senders: number, margin: number): number {
  return Math.ceil(((k - rank) * margin) / Math.max(1, senders)) + 1;
}
