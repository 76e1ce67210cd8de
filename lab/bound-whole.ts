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
 *
 * Sites (Topology.sites): site k holds n_k >= 1 receivers S_k behind a trunk that carries at most
 * D_k into the site and U_k out of it (payload bytes/s, constant: events change node links only).
 * The source is never in a site; O is the set of receivers in none. Count *useful* receptions
 * only: the first copy of each byte at each node, N*F of them in all, n_k*F inside site k; every
 * useful reception was uploaded by someone, at that uploader's expense. Three more terms:
 *
 *   - site-down (F / D_k): no member of site k holds any byte at the start, so for every byte the
 *     first member to receive it got it from outside, through the trunk: at least F bytes cross
 *     D_k. Earliest t with D_k * t >= F, for every site, the largest.
 *   - site-aggregate (n_k*F / (D_k + sum_{S_k} u_i)): the n_k*F useful receptions inside site k
 *     come through the trunk (at most D_k) or from members (at most their uploads). Earliest t
 *     with integral_0^t (D_k + sum_{S_k} u_i) >= n_k*F, for every site, the largest.
 *   - aggregate-up, with trunks (replaces the plain one when there are sites): split what site k's
 *     members upload usefully into I_k (to members of k) and X_k (to anyone outside k, which
 *     crosses U_k). By the site-down argument at least F of the n_k*F receptions inside k came
 *     from outside, so I_k <= (n_k - 1)*F; X_k <= integral min(sum_{S_k} u_i, U_k) (at every
 *     moment the trunk and the members' links both limit it); I_k + X_k <= integral sum_{S_k} u_i.
 *     Hence
 *        N*F <= integral (u_s + sum_O u_i)
 *               + sum_k min( integral sum_{S_k} u_i,  (n_k - 1)*F + integral min(sum_{S_k} u_i, U_k) )
 *     and the term is the earliest t at which the right side (continuous, non-decreasing in t)
 *     reaches N*F (found by bisection). Each site's share to the others is thus capped by its
 *     trunk up; with U_k = Infinity the min is just sum_{S_k} u_i and this is the plain term.
 * The argument for each term holds on [0, t] for any t, as above, so the largest is a bound. It
 * is not claimed tight with sites (the fluid bound without sites is attained; with trunks the
 * cuts interact), only valid: a protocol cannot beat it.
 */
import { transferMs } from './bound.js';
import type { Topology } from './types.js';

/** A capacity over time: [fromMs, next fromMs) at bytesPerS, sorted, the first at 0. */
type Steps = { fromMs: number; bytesPerS: number }[];

export interface WholeFileBoundInput {
  fileBytes: number;
  /** The source's upload link rate, bit/s (Infinity = unshaped, no limit). */
  sourceUpBps: number;
  /** Link rates, bit/s, and random loss, percent (receiver i = nodes[i]). */
  nodes: { downBps: number; upBps: number; lossDownPct?: number; lossUpPct?: number }[];
  /** Groups of nodes behind a shared trunk (see the banner); absent or empty: none. */
  sites?: { members: number[]; upBps: number; downBps: number }[];
  /** Rate changes of nodes during the run (atMs from the start; receivers index `nodes`). */
  events: { atMs: number; receivers: number[]; downBps?: number; upBps?: number }[];
  /** Payload bytes per link byte (e.g. TCP 1448/1514), applied to every link. */
  goodputFactor: number;
}

export type WholeFileBinding = 'source-up' | 'slowest-down' | 'aggregate-up' | 'site-down' | 'site-aggregate';

export interface WholeFileBound {
  seconds: number;
  binding: WholeFileBinding;
  /** siteDownS and siteAggregateS only when the input has sites. */
  terms: { sourceUpS: number; slowestDownS: number; aggregateUpS: number; siteDownS?: number; siteAggregateS?: number };
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
  const seen = new Set<number>();
  (i.sites ?? []).forEach((s, k) => {
    checkRate(s.upBps, `sites[${k}].upBps`);
    checkRate(s.downBps, `sites[${k}].downBps`);
    if (s.members.length === 0) throw new RangeError(`sites[${k}]: no members`);
    for (const m of s.members) {
      if (!(Number.isInteger(m) && m >= 0 && m < i.nodes.length)) throw new RangeError(`sites[${k}]: no node ${m} (${i.nodes.length} nodes)`);
      if (seen.has(m)) throw new RangeError(`sites[${k}]: node ${m} is in two sites (or listed twice)`);
      seen.add(m);
    }
  });
}

/** Bytes `steps` carry from t = 0 to `tMs`. */
function integral(steps: Steps, tMs: number): number {
  let bytes = 0;
  for (let k = 0; k < steps.length; k++) {
    const from = steps[k]!.fromMs;
    if (from >= tMs) break;
    const end = Math.min(tMs, k + 1 < steps.length ? steps[k + 1]!.fromMs : Infinity);
    const v = steps[k]!.bytesPerS;
    if (v === Infinity) return end > from ? Infinity : bytes;
    bytes += (v * (end - from)) / 1000;
  }
  return bytes;
}

/** Seconds until the non-decreasing, continuous `carried(tMs)` (bytes, 0 at 0) reaches `bytes` (Infinity if never). */
function earliestByBisection(carried: (tMs: number) => number, bytes: number): number {
  if (bytes <= 0) return 0;
  let hi = 1;
  while (carried(hi) < bytes) {
    hi *= 2;
    if (hi > 1e15) return Infinity;
  }
  let lo = 0;
  for (let k = 0; k < 200 && hi - lo > 1e-9 * hi; k++) {
    const mid = (lo + hi) / 2;
    if (carried(mid) >= bytes) hi = mid;
    else lo = mid;
  }
  return hi / 1000;
}

/** The three site terms (banner), seconds. */
function siteTerms(i: WholeFileBoundInput, sourceUp: Steps): { siteDownS: number; siteAggregateS: number; aggregateUpS: number } {
  const sites = i.sites ?? [];
  const F = i.fileBytes;
  const up = i.nodes.map((_, k) => nodeSteps(i, k, 'up'));
  const inSite = new Set(sites.flatMap((s) => s.members));
  const outside = sumSteps([sourceUp, ...up.filter((_, k) => !inSite.has(k))]);
  let siteDownS = 0;
  let siteAggregateS = 0;
  const shares: ((tMs: number) => number)[] = [];
  for (const s of sites) {
    const down: Steps = [{ fromMs: 0, bytesPerS: payloadBytesPerS(s.downBps, i.goodputFactor) }];
    const trunkUp = payloadBytesPerS(s.upBps, i.goodputFactor);
    const members = sumSteps(s.members.map((m) => up[m]!));
    const leaving: Steps = members.map((x) => ({ fromMs: x.fromMs, bytesPerS: Math.min(x.bytesPerS, trunkUp) }));
    siteDownS = Math.max(siteDownS, earliestS(down, F));
    siteAggregateS = Math.max(siteAggregateS, earliestS(sumSteps([down, members]), s.members.length * F));
    const inside = (s.members.length - 1) * F;
    shares.push((tMs) => Math.min(integral(members, tMs), inside + integral(leaving, tMs)));
  }
  const carried = (tMs: number): number => shares.reduce((acc, f) => acc + f(tMs), integral(outside, tMs));
  const aggregateUpS = earliestByBisection(carried, i.nodes.length * F);
  return { siteDownS, siteAggregateS, aggregateUpS };
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
  if ((i.sites ?? []).length > 0) {
    const { siteDownS, siteAggregateS, aggregateUpS } = siteTerms(i, source);
    const seconds = Math.max(sourceUpS, slowestDownS, aggregateUpS, siteDownS, siteAggregateS);
    const binding: WholeFileBinding =
      seconds === sourceUpS ? 'source-up' : seconds === slowestDownS ? 'slowest-down' : seconds === aggregateUpS ? 'aggregate-up' : seconds === siteDownS ? 'site-down' : 'site-aggregate';
    return { seconds, binding, terms: { sourceUpS, slowestDownS, aggregateUpS, siteDownS, siteAggregateS } };
  }
  const aggregate = sumSteps([source, ...i.nodes.map((_, k) => nodeSteps(i, k, 'up'))]);
  const aggregateUpS = earliestS(aggregate, n * i.fileBytes);
  const seconds = Math.max(sourceUpS, slowestDownS, aggregateUpS);
  const binding: WholeFileBinding = seconds === sourceUpS ? 'source-up' : seconds === slowestDownS ? 'slowest-down' : 'aggregate-up';
  return { seconds, binding, terms: { sourceUpS, slowestDownS, aggregateUpS } };
}

/** The sites of a Topology as kumarRossBound takes them. */
export function boundSites(sites: readonly { receivers: number[]; upBps: number; downBps: number }[] | undefined): WholeFileBoundInput['sites'] {
  return (sites ?? []).map((s) => ({ members: [...s.receivers], upBps: s.upBps, downBps: s.downBps }));
}

/**
 * The bound of a whole-file run on topology `t` at `goodputFactor` (payload per link-rate byte of
 * the protocol's framing): every receiver's links and loss, the timed events and the sites, as the
 * unicast peer-to-peer plug-ins (bittorrent, floodclone, coded) all take them.
 */
export function topologyKumarRoss(t: Topology, fileBytes: number, goodputFactor: number): WholeFileBound {
  return kumarRossBound({
    fileBytes,
    sourceUpBps: t.sender.upBps,
    nodes: t.receivers.map((r) => ({ downBps: r.downBps, upBps: r.upBps, lossDownPct: r.lossDownPct ?? 0, lossUpPct: r.lossUpPct ?? 0 })),
    events: t.events,
    sites: boundSites(t.sites),
    goodputFactor,
  });
}
