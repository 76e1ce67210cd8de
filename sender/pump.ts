/**
 * The pump: the one loop that turns a strategy's decisions into actions, shared by the TCP driver
 * (sender/driver.ts) and the lab's flow simulator (lab/sim/), so both run not only the same
 * strategy objects but the same order of questions to them. It owns no sockets and no clock: a
 * host does the I/O behind `PumpHost` and passes time in.
 *
 * One pass: (1) close the connections the strategy wants parked, (2) open connections while fewer
 * than `width` are open and the strategy picks a candidate, (3) write chunks while the aggregate
 * token bucket has tokens and the strategy picks a connection, (4) say when to run again: the
 * earliest of tokens available, the strategy's wake-up and a backoff ending.
 */
import type { TokenBucket } from '../core/token-bucket.js';
import { HEADER_BYTES } from '../wire/frames.js';
import type { OpenQueue } from './open-queue.js';
import type { Strategy } from './strategies/types.js';

/** What a pump needs its host to do. */
export interface PumpHost {
  /** Closes `index`'s open connection for the strategy (it is resumed later); false if not open. */
  park(nowMs: number, index: number): boolean;
  /** Starts connecting `index` (it holds a slot from now on). */
  open(nowMs: number, index: number): void;
  /** Payload bytes `index`'s connection can take now, at most `maxBytes` (0: no room). */
  writable(index: number, maxBytes: number): number;
  /** Writes `bytes` payload bytes (one DATA frame) to `index`; tokens are already taken. */
  write(nowMs: number, index: number, bytes: number): void;
  /** The strategy was told `index` has no room (the host keeps what it told it in step). */
  toldNoRoom(index: number): void;
  /** After a write: tell the strategy if `index`'s room changed. */
  syncRoom(index: number): void;
}

export interface PumpResult {
  /** When to run the pump again though nothing happens (Infinity: only on events). */
  wakeAtMs: number;
  /** The pass stopped at `maxWrites`: run again as soon as I/O has had its turn. */
  more: boolean;
}

export class Pump {
  /** Connections holding a slot (connecting or open). The host decrements it when one closes. */
  openCount = 0;
  private passing = false;
  private again = false;

  constructor(
    private readonly strategy: Strategy,
    private readonly limiter: TokenBucket,
    private readonly queue: OpenQueue,
    private readonly width: number,
    private readonly chunkBytes: number,
    private readonly host: PumpHost,
    private readonly maxWrites = 256,
  ) {}

  /**
   * Runs passes, handing each result to `after`, until nothing asked for another: a pass's I/O can
   * fire events that want the pump, and a call made during a pass only asks for one more pass.
   */
  drive(now: () => number, after: (r: PumpResult) => void): void {
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = true;
    try {
      do {
        this.again = false;
        after(this.run(now));
      } while (this.again);
    } finally {
      this.passing = false;
    }
  }

  /** One pass. `now` is read afresh for every write (a pass can take tens of ms on a loaded machine). */
  run(now: () => number): PumpResult {
    const t = now();
    for (const i of this.strategy.takeParkRequests(t)) {
      if (!this.host.park(t, i)) continue;
      this.openCount--;
      this.strategy.onClosed(t, i, 'parked');
    }
    this.queue.promote(t);
    while (this.openCount < this.width && this.queue.size > 0) {
      const pick = this.strategy.pickOpen(t, this.queue);
      if (pick === null) break;
      if (!this.queue.has(pick)) throw new Error(`strategy ${this.strategy.name} picked ${pick}, which is not a candidate`);
      this.queue.remove(pick);
      this.openCount++;
      this.strategy.onConnecting(t, pick);
      this.host.open(t, pick);
    }
    let wakeAtMs = this.queue.nextReadyMs();
    let writes = 0;
    while (writes < this.maxWrites) {
      // A fresh clock for every write: a stale time would meter (and grant) bytes earlier than the
      // tokens that pay for them exist.
      const tw = now();
      const d = this.strategy.pickWrite(tw);
      if (d === null) break;
      const n = this.host.writable(d.index, Math.min(d.maxBytes, this.chunkBytes));
      if (n <= 0) {
        // The strategy thought it had room; tell it otherwise so it picks another.
        this.host.toldNoRoom(d.index);
        this.strategy.onRoom(tw, d.index, false);
        continue;
      }
      const wire = n + HEADER_BYTES;
      if (!this.limiter.tryTake(tw, wire)) {
        wakeAtMs = Math.min(wakeAtMs, tw + Math.max(1, this.limiter.msUntil(tw, wire)));
        break;
      }
      this.host.write(tw, d.index, n);
      this.strategy.onSent(tw, d.index, n);
      this.host.syncRoom(d.index);
      writes++;
    }
    const later = now();
    const wake = this.strategy.nextWakeupMs(later);
    if (wake !== null) wakeAtMs = Math.min(wakeAtMs, Math.max(wake, later + 1));
    return { wakeAtMs, more: writes >= this.maxWrites };
  }
}
