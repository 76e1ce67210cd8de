/**
 * Per-fragment bookkeeping shared by every strategy (the part that is not policy): what each
 * connection has sent, what its receiver reports delivered, whether it is open and has room.
 * Strategies extend `BookStrategy` and add policy in `pickOpen` / `pickWrite`.
 *
 * `ready` holds the open connections that have room and bytes left to send, in the order they
 * became ready or were last written to: its first element is the least recently served, which
 * makes backpressure O(1) per write even with thousands of connections.
 */
import { IndexList } from '../../core/index-list.js';
import type { StrategyName } from './names.js';
import type { Candidates, CloseReason, Strategy, StrategyContext, WriteDecision } from './types.js';

export interface FragmentState {
  index: number;
  sizeBytes: number;
  /** Offset of the next byte to send. */
  sentBytes: number;
  /** Bytes the receiver reported holding. */
  deliveredBytes: number;
  /** The driver is connecting (holds a slot, not yet open). */
  connecting: boolean;
  open: boolean;
  hasRoom: boolean;
  done: boolean;
  failed: boolean;
  /** Times this fragment's connection was opened. */
  opens: number;
}

export abstract class BookStrategy implements Strategy {
  abstract readonly name: StrategyName;
  protected readonly frags: FragmentState[];
  protected readonly ready: IndexList;
  /** Open connections in the order they opened. */
  protected readonly openOrder: IndexList;
  /** Fragments neither open, done nor failed: they wait for a slot. */
  protected waitingCount: number;

  constructor(protected readonly ctx: StrategyContext) {
    this.frags = ctx.fragments.map((f) => ({
      index: f.index,
      sizeBytes: f.sizeBytes,
      sentBytes: 0,
      deliveredBytes: 0,
      connecting: false,
      open: false,
      hasRoom: false,
      done: false,
      failed: false,
      opens: 0,
    }));
    this.waitingCount = this.frags.length;
    this.ready = new IndexList(this.frags.length);
    this.openOrder = new IndexList(this.frags.length);
  }

  protected frag(index: number): FragmentState {
    const f = this.frags[index];
    if (f === undefined) throw new RangeError(`no fragment ${index}`);
    return f;
  }

  protected remainingBytes(f: FragmentState): number {
    return f.sizeBytes - f.sentBytes;
  }

  /** Re-evaluates whether `f` belongs in the ready set; `toBack` rotates it behind the others. */
  protected refresh(f: FragmentState, toBack = false): void {
    const want = f.open && f.hasRoom && this.remainingBytes(f) > 0;
    if (!want) {
      this.ready.delete(f.index);
    } else if (toBack || !this.ready.has(f.index)) {
      this.ready.delete(f.index);
      this.ready.add(f.index);
    }
  }

  abstract pickOpen(nowMs: number, candidates: Candidates): number | null;
  abstract pickWrite(nowMs: number): WriteDecision | null;

  onConnecting(_nowMs: number, index: number): void {
    const f = this.frag(index);
    if (!f.open && !f.connecting) this.waitingCount--;
    f.connecting = true;
  }

  onOpen(_nowMs: number, index: number, offsetBytes: number): void {
    const f = this.frag(index);
    if (!f.open && !f.connecting) this.waitingCount--;
    f.connecting = false;
    f.open = true;
    f.hasRoom = true;
    f.opens++;
    f.sentBytes = offsetBytes;
    f.deliveredBytes = offsetBytes;
    this.openOrder.delete(index);
    this.openOrder.add(index);
    this.refresh(f);
  }

  onRoom(_nowMs: number, index: number, hasRoom: boolean): void {
    const f = this.frag(index);
    f.hasRoom = hasRoom;
    this.refresh(f);
  }

  onSent(_nowMs: number, index: number, bytes: number): void {
    const f = this.frag(index);
    f.sentBytes += bytes;
    this.refresh(f, true);
  }

  onDelivered(_nowMs: number, index: number, deliveredBytes: number): void {
    const f = this.frag(index);
    if (deliveredBytes > f.deliveredBytes) f.deliveredBytes = deliveredBytes;
  }

  onClosed(_nowMs: number, index: number, reason: CloseReason): void {
    const f = this.frag(index);
    if ((f.open || f.connecting) && (reason === 'retry' || reason === 'parked')) this.waitingCount++;
    f.connecting = false;
    f.open = false;
    f.hasRoom = false;
    if (reason === 'done') {
      f.done = true;
      f.deliveredBytes = f.sizeBytes;
      f.sentBytes = f.sizeBytes;
    }
    if (reason === 'failed') f.failed = true;
    this.openOrder.delete(index);
    this.refresh(f);
  }

  takeParkRequests(_nowMs: number): number[] {
    return [];
  }

  nextWakeupMs(_nowMs: number): number | null {
    return null;
  }

  /** Lowest-index candidate: node-list order. */
  protected firstInListOrder(candidates: Candidates): number | null {
    return candidates.first();
  }

  /** The least recently served ready connection. */
  protected leastRecentlyServed(): WriteDecision | null {
    const index = this.ready.first();
    return index === null ? null : { index, maxBytes: this.ctx.chunkBytes };
  }
}
