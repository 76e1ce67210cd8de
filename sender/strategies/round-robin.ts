/**
 * round-robin: the seed's simple design. Cycle over the open connections in the order they opened,
 * writing one fixed chunk to each in turn; when the connection whose turn it is has no room, wait
 * for it (head-of-line blocking), exactly as blocking writes in a loop would. Connections open in
 * node-list order.
 *
 * The cycle is a circular list of the open connections that still have bytes to send, in the order
 * they opened, so every decision is O(1) however many connections are open.
 */
import { BookStrategy } from './book.js';
import type { Candidates, CloseReason, StrategyContext, WriteDecision } from './types.js';

export class RoundRobin extends BookStrategy {
  readonly name = 'round-robin' as const;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly inCycle: Uint8Array;
  /** The longest-standing member of the cycle (where a new member is inserted before), or -1. */
  private head = -1;
  /** The connection whose turn it is, or -1 for "the head". Always a member when not -1. */
  private turn = -1;

  constructor(ctx: StrategyContext) {
    super(ctx);
    const n = ctx.fragments.length;
    this.next = new Int32Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
    this.inCycle = new Uint8Array(n);
  }

  pickOpen(_nowMs: number, candidates: Candidates): number | null {
    return this.firstInListOrder(candidates);
  }

  pickWrite(_nowMs: number): WriteDecision | null {
    const i = this.turn >= 0 ? this.turn : this.head;
    if (i < 0) return null;
    if (!this.frag(i).hasRoom) return null; // wait on the full one
    return { index: i, maxBytes: this.ctx.chunkBytes };
  }

  override onOpen(nowMs: number, index: number, offsetBytes: number): void {
    super.onOpen(nowMs, index, offsetBytes);
    if (this.remainingBytes(this.frag(index)) > 0) this.join(index);
  }

  override onSent(nowMs: number, index: number, bytes: number): void {
    super.onSent(nowMs, index, bytes);
    // The turn passes to the next open connection after `index`, wrapping.
    if (this.inCycle[index]) this.turn = this.next[index]!;
    if (this.remainingBytes(this.frag(index)) <= 0) this.leave(index);
  }

  override onClosed(nowMs: number, index: number, reason: CloseReason): void {
    super.onClosed(nowMs, index, reason);
    this.leave(index);
  }

  /** Appends `i` at the end of the cycle (just before the head). */
  private join(i: number): void {
    if (this.inCycle[i]) this.leave(i);
    this.inCycle[i] = 1;
    if (this.head < 0) {
      this.head = i;
      this.next[i] = this.prev[i] = i;
      return;
    }
    const tail = this.prev[this.head]!;
    this.next[tail] = i;
    this.prev[i] = tail;
    this.next[i] = this.head;
    this.prev[this.head] = i;
  }

  /** Removes `i`; if it held the turn, the turn passes to the one after it. */
  private leave(i: number): void {
    if (!this.inCycle[i]) return;
    this.inCycle[i] = 0;
    const n = this.next[i]!;
    const p = this.prev[i]!;
    if (n === i) {
      this.head = this.turn = -1;
      return;
    }
    this.next[p] = n;
    this.prev[n] = p;
    if (this.head === i) this.head = n;
    if (this.turn === i) this.turn = n;
  }
}
