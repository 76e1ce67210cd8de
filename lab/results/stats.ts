/**
 * Small statistics over lab results: medians over repeats, percentiles of completion times,
 * the completion CDF of one run, and the choice of a run to stand for a strategy in charts.
 *
 * Methods, stated once:
 * - `median` is the usual one: the middle value, or the mean of the two middle values.
 * - `percentile` is nearest-rank: the smallest observed value v with at least p % of the
 *   values <= v. So "p95 completion = 9.1 s" reads "95 % of receivers were done by 9.1 s",
 *   the result is always an observed time, and a receiver that never finished (counted as
 *   +Infinity) makes the percentile Infinity once more than (100 - p) % failed. For an even
 *   count, p50 is the lower of the two middle values, which can differ from `median`.
 */
import type { ReceiverResult, RunResult, ScenarioResults, StrategyMedians, ContenderName } from '../types.js';

/** A statistic was asked of values it is not defined for (empty input, NaN, p out of range). */
export class StatsError extends Error {
  override readonly name = 'StatsError';
}

function checkValues(values: readonly number[], what: string): number[] {
  if (values.length === 0) throw new StatsError(`${what} of no values`);
  if (values.some((v) => Number.isNaN(v))) throw new StatsError(`${what} of values containing NaN`);
  return [...values].sort((a, b) => a - b);
}

/** The median of `values` (mean of the two middle values for an even count). Throws StatsError when empty. */
export function median(values: readonly number[]): number {
  const sorted = checkValues(values, 'median');
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid]!;
  const lo = sorted[mid - 1]!;
  const hi = sorted[mid]!;
  // Infinity + Infinity / 2 is fine; Infinity - Infinity never happens here because lo <= hi.
  return lo === hi ? lo : (lo + hi) / 2;
}

/**
 * The nearest-rank percentile: sorted[ceil(p/100 * n) - 1], with p = 0 giving the minimum.
 * `p` is in [0, 100]. Throws StatsError for no values, NaN values or p out of range.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new StatsError(`percentile p must be in [0, 100], got ${p}`);
  const sorted = checkValues(values, `p${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Completion times of a run's receivers in seconds; a receiver that never finished counts as +Infinity. */
export function completionTimesS(receivers: readonly ReceiverResult[]): number[] {
  return receivers.map((r) => (r.doneS === null || r.error !== undefined ? Infinity : r.doneS));
}

/** The p-th percentile (nearest rank) of one run's completion times, Infinity if too many failed. */
export function completionPercentileS(run: RunResult, p: number): number {
  return percentile(completionTimesS(run.receivers), p);
}

/** One step of a completion CDF: `done` receivers (a `fraction` of all of them) had finished by `timeS`. */
export interface CdfPoint {
  timeS: number;
  done: number;
  fraction: number;
}

/**
 * The completion CDF of one run: a point at time 0 with nothing done, then one point per
 * finished receiver in time order (ties merged). The fraction is over *all* receivers, so
 * the curve stays below 1 when some failed. Empty receivers give just the origin.
 */
export function completionCdf(receivers: readonly ReceiverResult[]): CdfPoint[] {
  const total = receivers.length;
  const times = completionTimesS(receivers)
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  const points: CdfPoint[] = [{ timeS: 0, done: 0, fraction: 0 }];
  times.forEach((t, i) => {
    const point = { timeS: t, done: i + 1, fraction: (i + 1) / total };
    const last = points[points.length - 1]!;
    if (last.timeS === t && i > 0) points[points.length - 1] = point;
    else points.push(point);
  });
  return points;
}

/** Strategies in the order they first appear in `runs`. */
export function strategiesOf(runs: readonly RunResult[]): ContenderName[] {
  const seen: ContenderName[] = [];
  for (const run of runs) if (!seen.includes(run.strategy)) seen.push(run.strategy);
  return seen;
}

/** The runs of one strategy, by repeat number. */
export function runsOf(runs: readonly RunResult[], strategy: ContenderName): RunResult[] {
  return runs.filter((r) => r.strategy === strategy).sort((a, b) => a.repeat - b.repeat);
}

/**
 * The run that stands for a strategy in per-run charts: the one with the median makespan
 * (the lower middle for an even count, ties broken by repeat). Undefined when it has no runs.
 */
export function medianRun(runs: readonly RunResult[], strategy: ContenderName): RunResult | undefined {
  const own = runsOf(runs, strategy).sort((a, b) => a.makespanS - b.makespanS || a.repeat - b.repeat);
  return own[Math.floor((own.length - 1) / 2)];
}

/**
 * Per strategy, the medians over its repeats of makespan, lower bound and efficiency.
 * Efficiency is the median of the runs' efficiencies, not the ratio of the two medians.
 * Strategies without runs are absent.
 */
export function computeMedians(runs: readonly RunResult[]): ScenarioResults['medians'] {
  const medians: Partial<Record<ContenderName, StrategyMedians>> = {};
  for (const strategy of strategiesOf(runs)) {
    const own = runsOf(runs, strategy);
    medians[strategy] = {
      makespanS: median(own.map((r) => r.makespanS)),
      lowerBoundS: median(own.map((r) => r.lowerBoundS)),
      efficiency: median(own.map((r) => r.efficiency)),
    };
  }
  return medians;
}
