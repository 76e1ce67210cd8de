/**
 * comparison.csv: one row per scenario, strategy and run (reference first within a strategy),
 * with the figures and their differences from the reference. Seconds are plain numbers;
 * "inf" stands for a percentile that never happened (too many receivers failed), an empty
 * cell for a difference that is not defined (the reference row, a missing strategy).
 */
import { stringify } from 'csv-stringify/sync';
import { FIGURE_KEYS, type Comparison, type Delta } from './model.js';

const FIGURE_COLUMN_NAMES = { makespanS: 'makespan_s', efficiency: 'efficiency', p50S: 'p50_done_s', p95S: 'p95_done_s' } as const;

export const COMPARISON_COLUMNS = [
  'scenario',
  'strategy',
  'run',
  'folder',
  'backend',
  'git_commit',
  'reference',
  'repeats',
  ...FIGURE_KEYS.flatMap((k) => [FIGURE_COLUMN_NAMES[k], `${FIGURE_COLUMN_NAMES[k]}_diff`, `${FIGURE_COLUMN_NAMES[k]}_diff_pct`]),
  'lower_bound_s',
  'failed_receivers',
  'receivers',
];

type CsvCell = string | number | null;

function num(v: number | null | undefined): CsvCell {
  if (v === null || v === undefined) return null;
  if (Number.isNaN(v)) return null;
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return v;
}

/** The comparison as CSV text (header line first). */
export function comparisonCsv(c: Comparison): string {
  const runs = new Map(c.runs.map((r) => [r.name, r]));
  const rows: Record<string, CsvCell>[] = [];
  for (const s of c.scenarios) {
    for (const row of s.rows) {
      for (const cell of row.cells) {
        const run = runs.get(cell.run)!;
        const f = cell.figures;
        const out: Record<string, CsvCell> = {
          scenario: s.scenario,
          strategy: row.strategy,
          run: cell.run,
          folder: run.dir,
          backend: run.backend,
          git_commit: run.gitCommit,
          reference: cell.run === s.reference ? 'true' : 'false',
          repeats: f?.repeats ?? 0,
          lower_bound_s: num(f?.lowerBoundS),
          failed_receivers: f?.failedReceivers ?? null,
          receivers: f?.receivers ?? null,
        };
        for (const k of FIGURE_KEYS) {
          const d: Delta | undefined = cell.delta?.[k];
          out[FIGURE_COLUMN_NAMES[k]] = num(f?.[k]);
          out[`${FIGURE_COLUMN_NAMES[k]}_diff`] = num(d?.abs);
          out[`${FIGURE_COLUMN_NAMES[k]}_diff_pct`] = num(d?.pct);
        }
        rows.push(out);
      }
    }
  }
  return stringify(rows, { header: true, columns: COMPARISON_COLUMNS });
}
