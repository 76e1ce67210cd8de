/**
 * The Kumar-Ross lower bound for a whole-file job: one source holds a file of F bytes, N nodes
 * each want all of it, traffic is unicast, and every node may upload what it already has (the
 * BitTorrent / peer-assisted model). With constant rates (Kumar and Ross, 2006):
 *
 *   T >= max( F / u_s,                   the source must send every byte at least once
 *             F / d_min,                 the slowest downlink must receive all F bytes
 *             N*F / (u_s + sum_i u_i) )  N*F bytes must be received in total, and each one was
 *                                        uploaded by somebody: the source or a node
 *
 * and, in the fluid model, the bound is attained (so it is the right yardstick for a lab run).
 *
 * Units and meaning, as in lab/bound.ts: rates are LINK rates in bit/s (what HTB enforces on
 * whole Ethernet frames). What a link carries of the file is `bps/8 * goodputFactor` bytes/s,
 * further scaled by `(1 - lossPct/100)` for a direction with random loss (a dropped packet costs
 * link capacity but delivers nothing). `Infinity` means unshaped: no limit from that link.
 *
 * Timed link events make every capacity piecewise constant. Instead of dividing by a rate, each
 * term is the earliest time the integrated capacity reaches the bytes it must carry:
 *   - source-up:    earliest t with  integral_0^t u_s            >= F
 *   - slowest-down: max over nodes i of earliest t with  integral_0^t d_i >= F
 *   - aggregate-up: earliest t with  integral_0^t (u_s + sum_i u_i(t)) >= N*F
 * Each is a lower bound by the same argument as the constant case restricted to [0, t], so the
 * largest of them is one too. The integration itself is `transferMs` of lab/bound.ts.
 */
import { transferMs } from './bound.js';

/** A capacity over time: [fromMs, next fromMs) at bytesPerS, sorted, the first at 0. */
type Steps = { fromMs: number; bytesPerS: number }[];

export interface WholeFileBoundInput {
  fileBytes: number;
  /** The source's upload link rate, bit/s (Infinity = unshaped, no limit). */
  sourceUpBps: number;
  /** Link rates, bit/s, and random loss, percent (receiver i = nodes[i]). */
  nodes: { downBps: number; upBps: number; lossDownPct?: number; lossUpPct?: number }[];
  /** Rate changes of nodes during the run (atMs from the start; receivers index `nodes`). */
  events: { atMs: number; receivers: number[]; downBps?: number; upBps?: number }[];
  /** Payload bytes per link byte (e.g. TCP 1448/1514), applied to every link. */
  goodputFactor: number;
}

export type WholeFileBinding = 'source-up' | 'slowest-down' | 'aggregate-up';

export interface WholeFileBound {
  seconds: number;
  binding: WholeFileBinding;
  terms: { sourceUpS: number; slowestDownS: number; aggregateUpS: number };
}

function checkRate(bps: number, what: string): void {
  if (!(bps === Infinity || (Number.isFinite(bps) && bps > 0))) {
    throw new RangeError(`${what}: expected a positive bit/s or Infinity (got ${bps})`);
  }
}

function checkPct(pct: number, what: string): void {
  if (!(Number.isFinite(pct) && pct >= 0 && pct <= 100)) throw new RangeError(`${what}: expected a percentage in [0, 100] (got ${pct})`);
}

/** Payload bytes/s of a link of `bps` bit/s with `lossPct` random loss. */
export function payloadBytesPerS(bps: number, goodputFactor: number, lossPct = 0): number {
  if (bps === Infinity) return lossPct >= 100 ? 0 : Infinity;
  return (bps / 8) * goodputFactor * (1 - lossPct / 100);
}

/** Sort by time, and of steps starting at the same moment keep the last (the latest event wins). */
function normalize(steps: Steps): Steps {
  const sorted = steps.map((s, k) => ({ ...s, k })).sort((a, b) => a.fromMs - b.fromMs || a.k - b.k);
  const out: Steps = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.fromMs === s.fromMs) last.bytesPerS = s.bytesPerS;
    else out.push({ fromMs: s.fromMs, bytesPerS: s.bytesPerS });
  }
  return out;
}

/** Node `i`'s capacity in direction `dir` over time, in payload bytes/s. */
function nodeSteps(i: WholeFileBoundInput, n: number, dir: 'down' | 'up'): Steps {
  const node = i.nodes[n]!;
  const loss = (dir === 'down' ? node.lossDownPct : node.lossUpPct) ?? 0;
  const steps: Steps = [{ fromMs: 0, bytesPerS: payloadBytesPerS(dir === 'down' ? node.downBps : node.upBps, i.goodputFactor, loss) }];
  for (const ev of i.events) {
    const bps = dir === 'down' ? ev.downBps : ev.upBps;
    if (bps === undefined || !ev.receivers.includes(n)) continue;
    steps.push({ fromMs: ev.atMs, bytesPerS: payloadBytesPerS(bps, i.goodputFactor, loss) });
  }
  return normalize(steps);
}

/** The capacity of a step function at time `tMs`. */
function valueAt(steps: Steps, tMs: number): number {
  let v = steps[0]!.bytesPerS;
  for (const s of steps) if (s.fromMs <= tMs) v = s.bytesPerS;
  return v;
}

/** The pointwise sum of step functions (breakpoints: the union of theirs). */
export function sumSteps(all: readonly Steps[]): Steps {
  const times = [...new Set(all.flatMap((s) => s.map((x) => x.fromMs)))].sort((a, b) => a - b);
  return times.map((t) => ({ fromMs: t, bytesPerS: all.reduce((acc, s) => acc + valueAt(s, t), 0) }));
}

/** Seconds until `bytes` have passed through `steps` from t = 0 (Infinity if never). */
function earliestS(steps: Steps, bytes: number): number {
  if (bytes <= 0) return 0;
  return transferMs(steps, bytes, 0) / 1000;
}

function validate(i: WholeFileBoundInput): void {
  if (!(Number.isFinite(i.fileBytes) && i.fileBytes >= 0)) throw new RangeError(`fileBytes: expected a finite size >= 0 (got ${i.fileBytes})`);
  if (!(Number.isFinite(i.goodputFactor) && i.goodputFactor > 0 && i.goodputFactor <= 1)) {
    throw new RangeError(`goodputFactor: expected a number in (0, 1] (got ${i.goodputFactor})`);
  }
  checkRate(i.sourceUpBps, 'sourceUpBps');
  i.nodes.forEach((n, k) => {
    checkRate(n.downBps, `nodes[${k}].downBps`);
    checkRate(n.upBps, `nodes[${k}].upBps`);
    checkPct(n.lossDownPct ?? 0, `nodes[${k}].lossDownPct`);
    checkPct(n.lossUpPct ?? 0, `nodes[${k}].lossUpPct`);
  });
  i.events.forEach((ev, k) => {
    if (!(Number.isFinite(ev.atMs) && ev.atMs >= 0)) throw new RangeError(`events[${k}].atMs: expected a finite time >= 0 (got ${ev.atMs})`);
    for (const r of ev.receivers) {
      if (!(Number.isInteger(r) && r >= 0 && r < i.nodes.length)) throw new RangeError(`events[${k}]: no node ${r} (${i.nodes.length} nodes)`);
    }
    if (ev.downBps !== undefined) checkRate(ev.downBps, `events[${k}].downBps`);
    if (ev.upBps !== undefined) checkRate(ev.upBps, `events[${k}].upBps`);
  });
}

/**
 * The Kumar-Ross bound for distributing `fileBytes` to every node, with time-varying links
 * integrated (see the banner). With no nodes nothing has to move: every term is 0.
 */
export function kumarRossBound(i: WholeFileBoundInput): WholeFileBound {
  validate(i);
  const n = i.nodes.length;
  if (n === 0) return { seconds: 0, binding: 'source-up', terms: { sourceUpS: 0, slowestDownS: 0, aggregateUpS: 0 } };
  const source: Steps = [{ fromMs: 0, bytesPerS: payloadBytesPerS(i.sourceUpBps, i.goodputFactor) }];
  const sourceUpS = earliestS(source, i.fileBytes);
  const slowestDownS = Math.max(...i.nodes.map((_, k) => earliestS(nodeSteps(i, k, 'down'), i.fileBytes)));
  const aggregate = sumSteps([source, ...i.nodes.map((_, k) => nodeSteps(i, k, 'up'))]);
  const aggregateUpS = earliestS(aggregate, n * i.fileBytes);
  const seconds = Math.max(sourceUpS, slowestDownS, aggregateUpS);
  const binding: WholeFileBinding = seconds === sourceUpS ? 'source-up' : seconds === slowestDownS ? 'slowest-down' : 'aggregate-up';
  return { seconds, binding, terms: { sourceUpS, slowestDownS, aggregateUpS } };
}
