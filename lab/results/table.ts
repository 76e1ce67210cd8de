/**
 * The terminal summary of a ScenarioResults: a heading line, a fixed-width table with one
 * row per strategy, and the run's warnings. Plain text, no colours.
 *
 * Columns, each over a strategy's repeats:
 *   makespan     median makespan, s
 *   bound        median lower bound, s
 *   efficiency   median of makespan / lower bound
 *   p95 done     median over repeats of the run's nearest-rank p95 receiver completion, s
 *                ("inf" when more than 5 % of a run's receivers never finished)
 *   failed       failed receivers summed over repeats, of receivers x repeats
 *   peak 1s/limit  the busiest 1 s window of any repeat over the rate limit (100 % = at the limit; a dash
 *                  for protocols without one;
 *                  above 101 % plus a chunk breaks the sender's promise)
 */
import type { ScenarioResults } from '../types.js';
import { formatSeconds } from './format.js';
import { completionPercentileS, computeMedians, median, runsOf, strategiesOf } from './stats.js';

const HEADERS = ['strategy', 'makespan (s)', 'bound (s)', 'efficiency', 'p95 done (s)', 'failed', 'peak 1s/limit'] as const;

/** One table row per strategy, as the cells `formatSummaryTable` prints. */
export function summaryRows(results: ScenarioResults): string[][] {
  const medians = { ...computeMedians(results.runs), ...results.medians };
  return strategiesOf(results.runs).map((strategy) => {
    const runs = runsOf(results.runs, strategy);
    const m = medians[strategy]!;
    const p95 = median(runs.map((r) => completionPercentileS(r, 95)));
    const failed = runs.reduce((sum, r) => sum + r.failedReceivers, 0);
    const receivers = runs.reduce((sum, r) => sum + r.receivers.length, 0);
    const overshoot = Math.max(...runs.map((r) => r.rateOvershoot));
    // Only the fragment sender has an aggregate limit: other protocols show a dash.
    const limited = runs.every((r) => (r.protocol ?? 'fragments') === 'fragments');
    return [
      strategy,
      formatSeconds(m.makespanS),
      formatSeconds(m.lowerBoundS),
      `${m.efficiency.toFixed(2)}x`,
      formatSeconds(p95),
      `${failed}/${receivers}`,
      limited ? `${((1 + overshoot) * 100).toFixed(1)}%` : '-',
    ];
  });
}

/** Pads every cell to its column's width: text left-aligned in the first column, numbers right-aligned. */
export function layout(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** The summary table as lines of text ending with "\n". */
export function formatSummaryTable(results: ScenarioResults): string {
  const repeats = Math.max(0, ...strategiesOf(results.runs).map((s) => runsOf(results.runs, s).length));
  const heading =
    `${results.scenario.name} on ${results.backend} (${results.backendReason}): ` +
    `${results.scenario.receivers.length} receivers, ${repeats} repeat${repeats === 1 ? '' : 's'}, medians over repeats`;
  const lines = [heading];
  if (results.runs.length === 0) lines.push('(no runs)');
  else {
    const [head, ...body] = layout([[...HEADERS], ...summaryRows(results)]);
    lines.push(head!, '-'.repeat(head!.length), ...body);
  }
  for (const warning of results.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}
