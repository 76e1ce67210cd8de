/**
 * backpressure: write to whichever open connection has room, least recently served first, so a
 * slow node's share flows to the others (Node's write() return value and 'drain', plus the
 * receiver's PROGRESS window, decide "room"; see types.ts). Connections open in node-list order.
 */
import { BookStrategy } from './book.js';
import type { Candidates, WriteDecision } from './types.js';

export class Backpressure extends BookStrategy {
  readonly name: 'backpressure' | 'sequential' = 'backpressure';

  pickOpen(_nowMs: number, candidates: Candidates): number | null {
    return this.firstInListOrder(candidates);
  }

  pickWrite(_nowMs: number): WriteDecision | null {
    return this.leastRecentlyServed();
  }
}

/**
 * sequential: the naive baseline. Nodes in node-list order, `width` at a time, each served as fast as
 * it takes bytes: backpressure without any thought about who should start first. With width equal
 * to the node count it is the same as backpressure; its point is width < nodes.
 */
export class Sequential extends Backpressure {
  override readonly name = 'sequential' as const;
}
