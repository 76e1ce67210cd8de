/**
 * A tiny time-stepped fluid network for testing strategies in virtual time: each node drains its
 * connection's unacknowledged bytes at its capacity, progress reports fire every
 * `progressEveryBytes`, the aggregate limit is the same TokenBucket the TCP driver uses, and the
 * strategy is asked exactly what the driver asks (parks, opens, writes, wake-ups).
 */
import { TokenBucket, burstFor } from '../../core/token-bucket.js';
import { createStrategy, type StrategyName } from '../../sender/strategies/index.js';
import type { Strategy } from '../../sender/strategies/types.js';

export interface VirtualNetOptions {
  strategy: StrategyName | ((ctx: Parameters<typeof createStrategy>[1]) => Strategy);
  fragmentBytes: number[];
  /** Per node, bytes per second. */
  capacityBytesPerS: number[];
  rateBytesPerS?: number;
  width?: number;
  chunkBytes?: number;
  windowBytes?: number;
  progressEveryBytes?: number;
  /** Connection set-up, ms (default 1). */
  connectMs?: number;
  stepMs?: number;
  maxMs?: number;
  /** Capacity changes: at `atMs`, node `index` drains at `bytesPerS`. */
  changes?: { atMs: number; index: number; bytesPerS: number }[];
}

export interface VirtualRun {
  makespanMs: number;
  doneMs: number[];
  openedAtMs: number[];
  /** Order in which fragments were first opened. */
  openOrder: number[];
  parks: number[];
  /** Payload bytes written per node per step, for rate checks. */
  writtenBytes: number;
  strategy: Strategy;
  maxConcurrent: number;
}

export function runVirtual(o: VirtualNetOptions): VirtualRun {
  const n = o.fragmentBytes.length;
  const chunk = o.chunkBytes ?? 64 * 1024;
  const windowBytes = o.windowBytes ?? 256 * 1024;
  const progress = o.progressEveryBytes ?? 16 * 1024;
  const rate = o.rateBytesPerS ?? Infinity;
  const width = Math.min(o.width ?? n, n);
  const step = o.stepMs ?? 1;
  const ctx = {
    fragments: o.fragmentBytes.map((sizeBytes, index) => ({ index, sizeBytes })),
    width,
    rateBytesPerS: rate,
    chunkBytes: chunk,
    windowBytes,
    progressEveryBytes: progress,
  };
  const strategy = typeof o.strategy === 'string' ? createStrategy(o.strategy, ctx) : o.strategy(ctx);
  const limiter = new TokenBucket(rate, burstFor(rate, chunk), 0);
  const cap = [...o.capacityBytesPerS];
  const sent = new Array<number>(n).fill(0);
  const delivered = new Array<number>(n).fill(0);
  const reported = new Array<number>(n).fill(0);
  const state = new Array<'wait' | 'connecting' | 'open' | 'done'>(n).fill('wait');
  const openAt = new Array<number>(n).fill(0);
  const room = new Array<boolean>(n).fill(false);
  const doneMs = new Array<number>(n).fill(NaN);
  const openedAtMs = new Array<number>(n).fill(NaN);
  const openOrder: number[] = [];
  const parks: number[] = [];
  let open = 0;
  let finished = 0;
  let written = 0;
  let maxConcurrent = 0;
  const maxMs = o.maxMs ?? 600_000;
  const setRoom = (now: number, i: number): void => {
    const left = o.fragmentBytes[i]! - sent[i]!;
    const r = state[i] === 'open' && left > 0 && windowBytes - (sent[i]! - delivered[i]!) >= Math.min(chunk, left);
    if (r !== room[i]) {
      room[i] = r;
      strategy.onRoom(now, i, r);
    }
  };
  for (let now = 0; now <= maxMs; now += step) {
    for (const c of o.changes ?? []) if (c.atMs === now) cap[c.index] = c.bytesPerS;
    // The network: drain, report progress, finish.
    for (let i = 0; i < n; i++) {
      if (state[i] === 'connecting' && now >= openAt[i]!) {
        state[i] = 'open';
        room[i] = true;
        strategy.onOpen(now, i, delivered[i]!);
        sent[i] = delivered[i]!;
        reported[i] = delivered[i]!;
        setRoom(now, i);
      }
      if (state[i] !== 'open') continue;
      const d = Math.min(sent[i]! - delivered[i]!, (cap[i]! * step) / 1000);
      delivered[i]! += d;
      if (delivered[i]! >= o.fragmentBytes[i]! - 1e-9) {
        delivered[i] = o.fragmentBytes[i]!;
        state[i] = 'done';
        open--;
        finished++;
        doneMs[i] = now;
        strategy.onClosed(now, i, 'done');
        continue;
      }
      const caughtUp = delivered[i]! >= sent[i]! - 1e-9 && delivered[i]! > reported[i]!;
      if (delivered[i]! - reported[i]! >= progress || caughtUp) {
        reported[i] = Math.floor(delivered[i]!);
        strategy.onDelivered(now, i, reported[i]!);
      }
      setRoom(now, i);
    }
    if (finished === n) {
      return { makespanMs: now, doneMs, openedAtMs, openOrder, parks, writtenBytes: written, strategy, maxConcurrent };
    }
    for (const i of strategy.takeParkRequests(now)) {
      if (state[i] !== 'open') continue;
      // Parked: the receiver keeps what it reported; bytes in flight are lost.
      delivered[i] = reported[i]!;
      sent[i] = reported[i]!;
      state[i] = 'wait';
      room[i] = false;
      open--;
      parks.push(i);
      strategy.onClosed(now, i, 'parked');
    }
    while (open < width) {
      const candidates = [...Array(n).keys()].filter((i) => state[i] === 'wait');
      if (candidates.length === 0) break;
      const pick = strategy.pickOpen(now, candidates);
      if (pick === null) break;
      state[pick] = 'connecting';
      strategy.onConnecting(now, pick);
      openAt[pick] = now + (o.connectMs ?? 1);
      if (Number.isNaN(openedAtMs[pick]!)) {
        openedAtMs[pick] = now;
        openOrder.push(pick);
      }
      open++;
    }
    maxConcurrent = Math.max(maxConcurrent, open);
    for (let guard = 0; guard < 100_000; guard++) {
      const d = strategy.pickWrite(now);
      if (d === null) break;
      const i = d.index;
      const nBytes = Math.min(d.maxBytes, chunk, o.fragmentBytes[i]! - sent[i]!, windowBytes - (sent[i]! - delivered[i]!));
      if (state[i] !== 'open' || nBytes <= 0) {
        room[i] = false;
        strategy.onRoom(now, i, false);
        continue;
      }
      if (!limiter.tryTake(now, nBytes + 5)) break;
      sent[i]! += nBytes;
      written += nBytes;
      strategy.onSent(now, i, nBytes);
      setRoom(now, i);
    }
  }
  throw new Error(`virtual run did not finish within ${maxMs} ms`);
}
