/**
 * Max-min fair sharing of link capacity among flows (progressive filling): every flow's rate rises
 * together until a link it crosses is full or it reaches its own demand; those flows freeze and the
 * rest go on rising. The result is the unique max-min fair allocation.
 *
 * `maxMinRates` is the general form (any flows over any links) for hand-checked cases and for
 * protocols where several flows share a receiver's link. `starRates` is the fragment fan-out's
 * case, one shared sender uplink and one private link per flow, in O(n log n).
 */

export interface FairFlow {
  /** Indexes into the capacities array: every link the flow crosses. */
  links: readonly number[];
  /** The most the flow can use on its own (bytes/s; Infinity = no limit of its own). */
  demand?: number;
}

/** Max-min fair rates for `flows` over links of `capacities` (same units). */
export function maxMinRates(flows: readonly FairFlow[], capacities: readonly number[]): number[] {
  const rate = new Array<number>(flows.length).fill(0);
  const frozen = new Array<boolean>(flows.length).fill(false);
  const left = [...capacities];
  let active = flows.length;
  for (let f = 0; f < flows.length; f++) {
    if ((flows[f]!.demand ?? Infinity) <= 0) {
      frozen[f] = true;
      active--;
    }
  }
  while (active > 0) {
    // How far every unfrozen flow can rise together: the tightest link share or own demand.
    const users = new Array<number>(capacities.length).fill(0);
    for (let f = 0; f < flows.length; f++) if (!frozen[f]) for (const l of flows[f]!.links) users[l]!++;
    let step = Infinity;
    for (let l = 0; l < capacities.length; l++) if (users[l]! > 0) step = Math.min(step, left[l]! / users[l]!);
    for (let f = 0; f < flows.length; f++) if (!frozen[f]) step = Math.min(step, (flows[f]!.demand ?? Infinity) - rate[f]!);
    if (!Number.isFinite(step)) throw new RangeError('a flow crosses no finite link and has no demand: its rate is unbounded');
    for (let f = 0; f < flows.length; f++) {
      if (frozen[f]) continue;
      rate[f]! += step;
      for (const l of flows[f]!.links) left[l]! -= step;
    }
    // Freeze flows on full links and flows at their demand.
    const eps = 1e-9;
    for (let f = 0; f < flows.length; f++) {
      if (frozen[f]) continue;
      const d = flows[f]!.demand ?? Infinity;
      const atDemand = rate[f]! >= d - eps * Math.max(1, d);
      const onFullLink = flows[f]!.links.some((l) => left[l]! <= eps * Math.max(1, capacities[l]!));
      if (atDemand || onFullLink) {
        frozen[f] = true;
        active--;
      }
    }
  }
  return rate;
}

/**
 * Rates for flows that each cross one private link (capacity `caps[i]`) and one shared uplink of
 * `uplink`: every flow gets min(cap, L), the water level L chosen so the uplink is exactly full
 * (or L = Infinity when the private links alone do not fill it).
 */
export function starRates(caps: readonly number[], uplink: number): number[] {
  const level = waterLevel(caps, uplink);
  return caps.map((c) => Math.min(c, level));
}

/** The uplink share L of `starRates`. */
export function waterLevel(caps: readonly number[], uplink: number): number {
  let sum = 0;
  for (const c of caps) sum += c;
  if (!(sum > uplink)) return Infinity;
  const sorted = [...caps].sort((a, b) => a - b);
  let left = uplink;
  for (let k = 0; k < sorted.length; k++) {
    const share = left / (sorted.length - k);
    if (sorted[k]! >= share) return share;
    left -= sorted[k]!;
  }
  return Infinity;
}
