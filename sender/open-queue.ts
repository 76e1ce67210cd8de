/**
 * The fragments waiting for a connection slot, as a driver keeps them: those that may be opened
 * now (the strategy's `pickOpen` candidates) and those backing off after a failed attempt until
 * their retry time. Every operation is O(log n), so opening 10,000 connections one by one costs
 * n log n, not n^2 (the simulator runs that many). Both the TCP driver and the simulator use it.
 */
import { Heap } from '../core/heap.js';
import type { Candidates } from './strategies/types.js';

export class OpenQueue implements Candidates {
  private readonly members = new Set<number>();
  /** Lowest index first; may hold stale entries (no longer members), skipped lazily. */
  private readonly byIndex = new Heap<number>((a, b) => a < b);
  private readonly backoffAt = new Map<number, number>();
  private readonly backoffs = new Heap<{ atMs: number; index: number }>((a, b) => a.atMs < b.atMs || (a.atMs === b.atMs && a.index < b.index));

  /** Every fragment, in list order, may be opened from the start. */
  static allReady(count: number): OpenQueue {
    const q = new OpenQueue();
    for (let i = 0; i < count; i++) q.add(i, 0, 0);
    return q;
  }

  get size(): number {
    return this.members.size;
  }

  has(index: number): boolean {
    return this.members.has(index);
  }

  first(): number | null {
    for (;;) {
      const top = this.byIndex.peek();
      if (top === undefined) return null;
      if (this.members.has(top)) return top;
      this.byIndex.pop();
    }
  }

  [Symbol.iterator](): Iterator<number> {
    return this.members[Symbol.iterator]();
  }

  /** `index` waits for a slot; it may be opened from `readyAtMs` on. */
  add(index: number, readyAtMs: number, nowMs: number): void {
    this.remove(index);
    if (readyAtMs <= nowMs) {
      this.members.add(index);
      this.byIndex.push(index);
    } else {
      this.backoffAt.set(index, readyAtMs);
      this.backoffs.push({ atMs: readyAtMs, index });
    }
  }

  /** `index` no longer waits (opened, finished or given up). */
  remove(index: number): void {
    this.members.delete(index);
    this.backoffAt.delete(index);
  }

  /** Moves every fragment whose backoff has ended by `nowMs` among the candidates. */
  promote(nowMs: number): void {
    for (;;) {
      const top = this.backoffs.peek();
      if (top === undefined || top.atMs > nowMs) return;
      this.backoffs.pop();
      if (this.backoffAt.get(top.index) !== top.atMs) continue;
      this.backoffAt.delete(top.index);
      this.members.add(top.index);
      this.byIndex.push(top.index);
    }
  }

  /** When the next backoff ends (Infinity: none). */
  nextReadyMs(): number {
    for (;;) {
      const top = this.backoffs.peek();
      if (top === undefined) return Infinity;
      if (this.backoffAt.get(top.index) === top.atMs) return top.atMs;
      this.backoffs.pop();
    }
  }
}
