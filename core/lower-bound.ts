/**
 * The fluid lower bound on the makespan of a fragment fan-out. Pure.
 *
 * Treat bytes as a fluid: fragment i (s_i bytes) flows to node i at no more than that node's
 * capacity c_i (bytes/s), all flows together at no more than the sender's rate R (bytes/s), and at
 * most W flows at once. Whatever the schedule, the makespan T satisfies
 *
 *   T >= sum_i s_i / R            the sender's limit must carry every byte;
 *   T >= max_i s_i / c_i          each node needs at least its own transfer time;
 *   T >= (sum_i s_i / c_i) / W    every node occupies one of W slots for at least s_i / c_i.
 *
 * The bound is the largest of the three. It ignores connection set-up, slow start and headers, so
 * a real run is always above it; efficiency = makespan / bound (1.0 is unreachable, 1.1 is good).
 *
 * Units: pass capacities and the rate in the *same meaning* (payload goodput or link rate): the lab
 * converts link rates to payload goodput before calling this (see lab/bound.ts).
 */
export interface LowerBoundInput {
  fragmentBytes: readonly number[];
  /** Per node, bytes/s (same order as fragmentBytes). Infinity = unconstrained. */
  capacityBytesPerS: readonly number[];
  /** The sender's aggregate limit, bytes/s. Infinity = none. */
  rateBytesPerS: number;
  /** Connections at once (>= 1). */
  width: number;
}

export interface LowerBound {
  seconds: number;
  /** Which term binds. */
  binding: 'rate' | 'slowest-node' | 'width';
  terms: { rateS: number; slowestNodeS: number; widthS: number };
}

export function fluidLowerBound(input: LowerBoundInput): LowerBound {
  const { fragmentBytes, capacityBytesPerS, rateBytesPerS, width } = input;
  if (fragmentBytes.length !== capacityBytesPerS.length) {
    throw new RangeError('fragmentBytes and capacityBytesPerS differ in length');
  }
  if (!(width >= 1)) throw new RangeError(`width must be >= 1 (got ${width})`);
  if (!(rateBytesPerS > 0)) throw new RangeError(`rate must be > 0 (got ${rateBytesPerS})`);
  let total = 0;
  let slowest = 0;
  let slotSeconds = 0;
  for (let i = 0; i < fragmentBytes.length; i++) {
    const s = fragmentBytes[i]!;
    const c = capacityBytesPerS[i]!;
    if (!(c > 0)) throw new RangeError(`capacity of node ${i} must be > 0 (got ${c})`);
    total += s;
    const t = s / c;
    slotSeconds += t;
    if (t > slowest) slowest = t;
  }
  const rateS = total / rateBytesPerS;
  const widthS = slotSeconds / Math.min(width, Math.max(1, fragmentBytes.length));
  const terms = { rateS, slowestNodeS: slowest, widthS };
  let binding: LowerBound['binding'] = 'rate';
  let seconds = rateS;
  if (slowest > seconds) {
    seconds = slowest;
    binding = 'slowest-node';
  }
  if (widthS > seconds) {
    seconds = widthS;
    binding = 'width';
  }
  return { seconds, binding, terms };
}
