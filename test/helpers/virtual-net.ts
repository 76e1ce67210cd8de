/**
 * The strategy tests' network in virtual time: the lab's flow simulator (lab/sim/engine.ts) with
 * the figures those tests were written for (256 KiB window, 16 KiB reports, 1 ms set-up, no slow
 * start). It is the real simulator, not a second model: what the tests see is what `--backend sim` runs.
 */
import { simulateTransfer, type SimOutcome } from '../../lab/sim/engine.js';
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
  maxMs?: number;
  /** Capacity changes: at `atMs`, node `index` drains at `bytesPerS`. */
  changes?: { atMs: number; index: number; bytesPerS: number }[];
}

export interface VirtualRun extends SimOutcome {
  doneMs: number[];
  openedAtMs: number[];
  writtenBytes: number;
}

export function runVirtual(o: VirtualNetOptions): VirtualRun {
  const r = simulateTransfer({
    strategy: o.strategy,
    fragmentBytes: o.fragmentBytes,
    capacityBytesPerS: o.capacityBytesPerS,
    rateBytesPerS: o.rateBytesPerS ?? Infinity,
    width: o.width ?? o.fragmentBytes.length,
    chunkBytes: o.chunkBytes ?? 64 * 1024,
    windowBytes: o.windowBytes ?? 256 * 1024,
    progressEveryBytes: o.progressEveryBytes ?? 16 * 1024,
    changes: o.changes ?? [],
    model: { connectMs: o.connectMs ?? 1, setupCpuMs: 0, rttMs: 0, finalizeMs: 0, linkEfficiency: 1 },
    maxMs: o.maxMs ?? 600_000,
  });
  return {
    ...r,
    doneMs: r.nodes.map((x) => x.doneMs ?? NaN),
    openedAtMs: r.nodes.map((x) => (x.startMs === null ? NaN : x.startMs - (o.connectMs ?? 1))),
    writtenBytes: r.payloadBytes,
  };
}
