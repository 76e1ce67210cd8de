/**
 * What the sender tells the world: events while it runs (one JSON object per line with --json)
 * and the summary at the end. Times `t`, `startS`, `doneS` are seconds since the run started.
 */
import type { StrategyName } from './strategies/names.js';
import type { ProbeCosts } from './strategies/types.js';

export type SenderEvent =
  | { event: 'start'; t: number; strategy: StrategyName; nodes: number; fileBytes: number; rateKbps: number | null; width: number; transferId: string }
  | { event: 'connected'; t: number; node: string; index: number; attempt: number; offsetBytes: number }
  | { event: 'first-byte'; t: number; node: string; index: number }
  | { event: 'acked'; t: number; node: string; index: number; bytes: number }
  | { event: 'parked'; t: number; node: string; index: number; deliveredBytes: number }
  | { event: 'error'; t: number; node: string; index: number; attempt: number; message: string; retryInMs: number | null };

export interface NodeReport {
  node: string;
  index: number;
  fragmentBytes: number;
  /** Payload bytes the receiver acknowledged holding. */
  bytes: number;
  /** First connection accepted. */
  startS: number | null;
  /** First DATA byte written. */
  firstByteS: number | null;
  /** ACK received. */
  doneS: number | null;
  attempts: number;
  /** The strategy's final estimate of the node's delivery rate, Kbps (probe-prioritise only). */
  estimatedKbps?: number;
  /** Set when the node failed for good. */
  error: string | null;
}

export interface SenderSummary {
  event: 'summary';
  ok: boolean;
  strategy: StrategyName;
  transferId: string;
  rateKbps: number | null;
  width: number;
  chunkBytes: number;
  windowBytes: number;
  makespanS: number;
  payloadBytes: number;
  /** Every byte written to sockets: frames, headers, payload. */
  wireBytes: number;
  /** Largest number of bytes written in any 1 s window. */
  maxWindowBytes: number;
  /** maxWindowBytes over the limit's bytes per second, minus one (null without a limit). */
  rateOvershoot: number | null;
  /** wireBytes / makespanS * 8 / 1000 */
  achievedKbps: number;
  cpuUserS: number;
  cpuSysS: number;
  maxRssBytes: number;
  failed: { node: string; index: number; reason: string }[];
  /** What the strategy's probing cost (probe-prioritise only): parks, set-ups made again, probe bytes. */
  probe?: ProbeCosts;
  nodes: NodeReport[];
}
