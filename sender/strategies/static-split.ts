/**
 * static-split: the baseline a script built from GNU parallel and `pv -L` gives. Every connection is
 * capped at rate / min(width, nodes), however fast its node is and however idle the others are;
 * nodes open in list order, `width` at a time. Each connection's cap is a token bucket of one chunk,
 * so the strategy asks to be woken when the next one refills.
 */
import { BookStrategy } from './book.js';
import type { StrategyContext, WriteDecision } from './types.js';

interface Bucket {
  tokens: number;
  atMs: number;
}

export class StaticSplit extends BookStrategy {
  readonly name = 'static-split' as const;
  /** Per-connection cap, bytes per ms (Infinity when the sender has no limit). */
  private readonly capBytesPerMs: number;
  private readonly buckets = new Map<number, Bucket>();

  constructor(ctx: StrategyContext) {
    super(ctx);
    const shares = Math.max(1, Math.min(ctx.width, ctx.fragments.length));
    this.capBytesPerMs = ctx.rateBytesPerS / shares / 1000;
  }

  private want(index: number): number {
    return Math.min(this.ctx.chunkBytes, this.remainingBytes(this.frag(index)));
  }

  private tokens(index: number, nowMs: number): number {
    const b = this.buckets.get(index);
    if (b === undefined) return this.ctx.chunkBytes;
    return Math.min(this.ctx.chunkBytes, b.tokens + (nowMs - b.atMs) * this.capBytesPerMs);
  }

  pickOpen(_nowMs: number, candidates: readonly number[]): number | null {
    return this.firstInListOrder(candidates);
  }

  pickWrite(nowMs: number): WriteDecision | null {
    for (const index of this.ready) {
      if (!Number.isFinite(this.capBytesPerMs)) return { index, maxBytes: this.ctx.chunkBytes };
      const want = this.want(index);
      if (this.tokens(index, nowMs) >= want) return { index, maxBytes: want };
    }
    return null;
  }

  override onOpen(nowMs: number, index: number, offsetBytes: number): void {
    super.onOpen(nowMs, index, offsetBytes);
    // A fresh connection starts with one chunk of credit, as `pv -L` does.
    this.buckets.set(index, { tokens: this.ctx.chunkBytes, atMs: nowMs });
  }

  override onSent(nowMs: number, index: number, bytes: number): void {
    super.onSent(nowMs, index, bytes);
    const tokens = this.tokens(index, nowMs) - bytes;
    this.buckets.set(index, { tokens, atMs: nowMs });
  }

  override nextWakeupMs(nowMs: number): number | null {
    if (!Number.isFinite(this.capBytesPerMs)) return null;
    let soonest: number | null = null;
    for (const index of this.ready) {
      const lack = this.want(index) - this.tokens(index, nowMs);
      const at = lack <= 0 ? nowMs : nowMs + lack / this.capBytesPerMs;
      if (soonest === null || at < soonest) soonest = at;
    }
    return soonest;
  }
}
