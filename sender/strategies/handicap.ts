/**
 * A deliberately slowed strategy, to prove that the regression gate (`npm run lab:check`) fails
 * when a strategy gets worse: it wraps a real strategy and keeps one node waiting, no bytes to it,
 * until `untilMs` after the start. While the wrapped strategy wants to write to that node, nothing
 * is written (so round-robin, which waits on its turn, stalls outright).
 *
 * Enabled only by the environment: FANOUT_HANDICAP=<strategy>:<node index|last>:<ms>, e.g.
 * `FANOUT_HANDICAP=round-robin:last:1500`. `fanout send` (and so every lab backend) honours it and
 * says so on stderr; nothing else sets it.
 */
import type { StrategyName } from './names.js';
import { isStrategyName } from './names.js';
import type { Candidates, CloseReason, Strategy, WriteDecision } from './types.js';

export interface Handicap {
  strategy: StrategyName;
  /** Node index, or 'last'. */
  node: number | 'last';
  untilMs: number;
}

export const HANDICAP_ENV = 'FANOUT_HANDICAP';

/** Parses FANOUT_HANDICAP; null when unset or empty; throws on a malformed value. */
export function parseHandicap(value: string | undefined): Handicap | null {
  if (value === undefined || value.trim() === '') return null;
  const m = /^([a-z-]+):(last|\d+):(\d+(?:\.\d+)?)$/.exec(value.trim());
  if (!m || !isStrategyName(m[1]!)) {
    throw new Error(`${HANDICAP_ENV}="${value}": expected <strategy>:<node index|last>:<ms>, e.g. round-robin:last:1500`);
  }
  return { strategy: m[1] as StrategyName, node: m[2] === 'last' ? 'last' : Number(m[2]), untilMs: Number(m[3]) };
}

export class Handicapped implements Strategy {
  readonly name: StrategyName;

  constructor(
    private readonly inner: Strategy,
    private readonly node: number,
    private readonly untilMs: number,
  ) {
    this.name = inner.name;
  }

  private held(nowMs: number, index: number): boolean {
    return index === this.node && nowMs < this.untilMs;
  }

  pickOpen(nowMs: number, candidates: Candidates): number | null {
    return this.inner.pickOpen(nowMs, candidates);
  }
  onConnecting(nowMs: number, index: number): void {
    this.inner.onConnecting(nowMs, index);
  }
  onOpen(nowMs: number, index: number, offsetBytes: number): void {
    this.inner.onOpen(nowMs, index, offsetBytes);
  }
  onRoom(nowMs: number, index: number, hasRoom: boolean): void {
    this.inner.onRoom(nowMs, index, hasRoom);
  }
  onSent(nowMs: number, index: number, bytes: number): void {
    this.inner.onSent(nowMs, index, bytes);
  }
  onDelivered(nowMs: number, index: number, deliveredBytes: number): void {
    this.inner.onDelivered(nowMs, index, deliveredBytes);
  }
  onClosed(nowMs: number, index: number, reason: CloseReason): void {
    this.inner.onClosed(nowMs, index, reason);
  }
  pickWrite(nowMs: number): WriteDecision | null {
    const d = this.inner.pickWrite(nowMs);
    return d !== null && this.held(nowMs, d.index) ? null : d;
  }
  takeParkRequests(nowMs: number): number[] {
    return this.inner.takeParkRequests(nowMs);
  }
  nextWakeupMs(nowMs: number): number | null {
    const w = this.inner.nextWakeupMs(nowMs);
    if (nowMs >= this.untilMs) return w;
    return w === null ? this.untilMs : Math.min(w, this.untilMs);
  }
  estimatedRateBytesPerS(index: number): number | null {
    return this.inner.estimatedRateBytesPerS?.(index) ?? null;
  }
}
