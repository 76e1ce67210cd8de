/**
 * static-split: the baseline a script built from GNU parallel and `pv -L` gives. Every connection is
 * capped at rate / min(width, nodes), however fast its node is and however idle the others are;
 * nodes open in list order, `width` at a time. Each connection's cap is a token bucket of one chunk,
 * so the strategy asks to be woken when the next one refills. The connections that have room wait
 * in a heap by the time their bucket next holds a chunk (earliest first, then list order), so a
 * decision is O(log n) with thousands of connections open.
 */
import { Heap } from '../../core/heap.js';
import { BookStrategy, type FragmentState } from './book.js';
import type { Candidates, StrategyContext, WriteDecision } from './types.js';

interface Bucket {
  tokens: number;
  atMs: number;
}

export class StaticSplit extends BookStrategy {
  readonly name = 'static-split' as const;
  /** Per-connection cap, bytes per ms (Infinity when the sender has no limit). */
  private readonly capBytesPerMs: number;
  private readonly buckets = new Map<number, Bucket>();
  /** Ready connections by the time they can write; an entry is stale unless its version is current. */
  private readonly due = new Heap<{ atMs: number; index: number; version: number }>(
    (a, b) => a.atMs < b.atMs || (a.atMs === b.atMs && a.index < b.index),
  );
  private readonly version: Uint32Array;

  constructor(ctx: StrategyContext) {
    super(ctx);
    const shares = Math.max(1, Math.min(ctx.width, ctx.fragments.length));
    this.capBytesPerMs = ctx.rateBytesPerS / shares / 1000;
    this.version = new Uint32Array(ctx.fragments.length);
  }

  /** When `index`'s bucket holds what it wants to write next. */
  private dueMs(index: number): number {
    const b = this.buckets.get(index);
    if (b === undefined) return -Infinity;
    const lack = this.want(index) - b.tokens;
    return lack <= 0 ? b.atMs : b.atMs + lack / this.capBytesPerMs;
  }

  protected override refresh(f: FragmentState, toBack = false): void {
    super.refresh(f, toBack);
    if (!Number.isFinite(this.capBytesPerMs)) return;
    const version = ++this.version[f.index]!;
    if (this.ready.has(f.index)) this.due.push({ atMs: this.dueMs(f.index), index: f.index, version });
  }

  /** The earliest-due ready connection (stale heap entries are dropped on the way). */
  private earliest(): { atMs: number; index: number } | null {
    for (;;) {
      const top = this.due.peek();
      if (top === undefined) return null;
      if (top.version === this.version[top.index] && this.ready.has(top.index)) return top;
      this.due.pop();
    }
  }

  private want(index: number): number {
    return Math.min(this.ctx.chunkBytes, this.remainingBytes(this.frag(index)));
  }

  private tokens(index: number, nowMs: number): number {
    const b = this.buckets.get(index);
    if (b === undefined) return this.ctx.chunkBytes;
    return Math.min(this.ctx.chunkBytes, b.tokens + (nowMs - b.atMs) * this.capBytesPerMs);
  }

  pickOpen(_nowMs: number, candidates: Candidates): number | null {
    return this.firstInListOrder(candidates);
  }

  pickWrite(nowMs: number): WriteDecision | null {
    if (!Number.isFinite(this.capBytesPerMs)) return this.leastRecentlyServed();
    const e = this.earliest();
    if (e === null || e.atMs > nowMs) return null;
    return { index: e.index, maxBytes: this.want(e.index) };
  }

  override onOpen(nowMs: number, index: number, offsetBytes: number): void {
    // A fresh connection starts with one chunk of credit, as `pv -L` does (set before the base
    // class files the connection as ready, so its due time is right).
    this.buckets.set(index, { tokens: this.ctx.chunkBytes, atMs: nowMs });
    super.onOpen(nowMs, index, offsetBytes);
  }

  override onSent(nowMs: number, index: number, bytes: number): void {
    const tokens = this.tokens(index, nowMs) - bytes;
    this.buckets.set(index, { tokens, atMs: nowMs });
    super.onSent(nowMs, index, bytes);
  }

  override nextWakeupMs(nowMs: number): number | null {
    if (!Number.isFinite(this.capBytesPerMs)) return null;
    const e = this.earliest();
    return e === null ? null : Math.max(nowMs, e.atMs);
  }
}
