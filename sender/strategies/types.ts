/**
 * The scheduling-strategy interface: pure policy objects, in the manner of quinn-proto's congestion
 * controllers (see ../shared/STYLE.md).
 *
 * A strategy never touches a socket, a timer or the clock. Its driver (the TCP driver in
 * sender/driver.ts, or the lab's flow simulator) tells it what happened through the `on*` methods,
 * always passing `nowMs`, and asks it what to do:
 *
 *   - `pickOpen(nowMs, candidates)`: a connection slot is free (fewer than `width` open); which
 *     fragment should be connected next? The driver enforces the width. `candidates` is a live
 *     view of the waiting fragments (not backing off), so a list-order pick is O(log n), not a
 *     scan: the simulator opens 10,000 connections.
 *   - `pickWrite(nowMs)`: the aggregate rate limiter has tokens; which open connection gets the next
 *     chunk, and at most how many bytes? `null` means "nothing now".
 *   - `takeParkRequests(nowMs)`: open connections the strategy wants closed now and resumed later
 *     (probe-prioritise parks a probed node to make room for a longer pole).
 *   - `nextWakeupMs(nowMs)`: when to ask again though nothing else happens (a per-connection cap
 *     refilling, say); `null` = only on events.
 *
 * `pickOpen`, `pickWrite` and `nextWakeupMs` are queries: they must not change state, so a driver may
 * ask twice. State changes only through the `on*` events.
 *
 * "Room": the driver reports whether a connection can take more bytes now. The TCP driver says
 * yes when the socket does not need a 'drain', its next chunk has been read from disk, and fewer
 * than `windowBytes` are unacknowledged (sent minus the receiver's last PROGRESS). The simulator
 * says yes when fewer than `windowBytes` are in flight. So a slow node looks full to both.
 */
import type { StrategyName } from './names.js';

export interface StrategyFragment {
  index: number;
  sizeBytes: number;
}

export interface StrategyContext {
  fragments: readonly StrategyFragment[];
  /** Connections open at once (1..fragments.length). */
  width: number;
  /** The sender's aggregate limit in bytes/s; Infinity when unlimited. */
  rateBytesPerS: number;
  /** Largest write, payload bytes. */
  chunkBytes: number;
  /** Unacknowledged bytes a connection may have before it has no room (informational). */
  windowBytes: number;
  /** The receivers' progress granularity, bytes (informational: how often onDelivered fires). */
  progressEveryBytes: number;
}

/** The fragments that may be opened now: waiting for a slot and not backing off. */
export interface Candidates extends Iterable<number> {
  readonly size: number;
  has(index: number): boolean;
  /** The lowest index (node-list order), or null when there is none. */
  first(): number | null;
}

/** Why a connection closed. `retry`: it failed and will be offered again by pickOpen after a backoff. */
export type CloseReason = 'done' | 'retry' | 'failed' | 'parked';

export interface WriteDecision {
  index: number;
  /** Upper bound on payload bytes to write now (the driver also caps by chunk, window and rate). */
  maxBytes: number;
}

/**
 * What a strategy's probing cost (probe-prioritise): connections parked after their probe, the
 * set-ups made again to resume them, the bytes sent as probes (delivered and kept either way), and
 * the mean measured connection set-up time (connecting -> open), ms.
 */
export interface ProbeCosts {
  parks: number;
  extraSetups: number;
  probeBytes: number;
  setupMs: number | null;
}

export interface Strategy {
  readonly name: StrategyName;
  pickOpen(nowMs: number, candidates: Candidates): number | null;
  /** The driver started connecting `index` (it holds a slot from now on). */
  onConnecting(nowMs: number, index: number): void;
  /** The connection for `index` is established; sending (re)starts at `offsetBytes`. */
  onOpen(nowMs: number, index: number, offsetBytes: number): void;
  /** The connection can take more bytes now (true) or cannot (false). */
  onRoom(nowMs: number, index: number, hasRoom: boolean): void;
  /** `bytes` payload bytes were written to `index`. */
  onSent(nowMs: number, index: number, bytes: number): void;
  /** The receiver reports it holds `deliveredBytes` of fragment `index` in total. */
  onDelivered(nowMs: number, index: number, deliveredBytes: number): void;
  onClosed(nowMs: number, index: number, reason: CloseReason): void;
  pickWrite(nowMs: number): WriteDecision | null;
  takeParkRequests(nowMs: number): number[];
  nextWakeupMs(nowMs: number): number | null;
  /** What the strategy believes about a node's rate, bytes/s, if it keeps an estimate (reports). */
  estimatedRateBytesPerS?(index: number): number | null;
  /** What probing cost so far, if the strategy probes (reports). */
  costs?(): ProbeCosts;
}
