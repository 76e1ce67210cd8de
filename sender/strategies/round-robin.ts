/**
 * round-robin: the seed's simple design. Cycle over the open connections in the order they opened,
 * writing one fixed chunk to each in turn; when the connection whose turn it is has no room, wait
 * for it (head-of-line blocking), exactly as blocking writes in a loop would. Connections open in
 * node-list order.
 */
import { BookStrategy } from './book.js';
import type { WriteDecision } from './types.js';

export class RoundRobin extends BookStrategy {
  readonly name = 'round-robin' as const;
  /** Index (in fragment terms) of the connection whose turn it is, or null for "the first open one". */
  private turn: number | null = null;

  pickOpen(_nowMs: number, candidates: readonly number[]): number | null {
    return this.firstInListOrder(candidates);
  }

  /** The open connection whose turn it is, skipping any that have nothing left to send. */
  private current(): number | null {
    const cycle = [...this.openOrder].filter((i) => this.remainingBytes(this.frag(i)) > 0);
    if (cycle.length === 0) return null;
    if (this.turn !== null && cycle.includes(this.turn)) return this.turn;
    // The turn's owner finished or closed: the turn passes to the next one after it in the cycle.
    if (this.turn !== null) {
      const after = cycle.find((i) => i > this.turn!);
      if (after !== undefined) return after;
    }
    return cycle[0]!;
  }

  pickWrite(_nowMs: number): WriteDecision | null {
    const i = this.current();
    if (i === null) return null;
    const f = this.frag(i);
    if (!f.hasRoom) return null; // wait on the full one
    return { index: i, maxBytes: this.ctx.chunkBytes };
  }

  override onSent(nowMs: number, index: number, bytes: number): void {
    super.onSent(nowMs, index, bytes);
    // Advance the turn to the next open connection after `index` (in open order, wrapping).
    const cycle = [...this.openOrder].filter((i) => this.remainingBytes(this.frag(i)) > 0 || i === index);
    const at = cycle.indexOf(index);
    const next = cycle.length > 0 ? cycle[(at + 1) % cycle.length]! : null;
    this.turn = next === index && this.remainingBytes(this.frag(index)) === 0 ? null : next;
  }
}
