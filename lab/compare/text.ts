/**
 * The comparison as text: the terminal output of `fanout compare`, and the cell formatting the
 * CSV-free outputs (terminal, HTML) share. Plain text, no colours; columns laid out by the lab's
 * own table layout (lab/results/table.ts).
 */
import { formatSeconds } from '../results/format.js';
import { layout } from '../results/table.js';
import { shortCommit, type Cell, type Comparison, type Delta, type FigureKey, type RunInfo, type ScenarioComparison } from './model.js';

/** What the compared columns are, for headers: [figure, header, unit kind]. */
export const FIGURE_COLUMNS: readonly { key: FigureKey; header: string; kind: 'seconds' | 'ratio' }[] = [
  { key: 'makespanS', header: 'makespan (s)', kind: 'seconds' },
  { key: 'efficiency', header: 'efficiency', kind: 'ratio' },
  { key: 'p50S', header: 'p50 done (s)', kind: 'seconds' },
  { key: 'p95S', header: 'p95 done (s)', kind: 'seconds' },
];

/** A figure's value: seconds as the lab prints them, efficiency as "1.07x". */
export function formatFigure(value: number, kind: 'seconds' | 'ratio'): string {
  if (kind === 'ratio') return Number.isFinite(value) ? `${value.toFixed(2)}x` : formatSeconds(value);
  return formatSeconds(value);
}

function signed(text: string, value: number): string {
  return value > 0 ? `+${text}` : text;
}

/** "+0.20 (+4.3%)", "-0.05 (-4.3%)", "0.00 (0.0%)"; "-" when not defined. */
export function formatDelta(d: Delta, kind: 'seconds' | 'ratio'): string {
  if (d.abs === null) return '-';
  const abs = signed(kind === 'ratio' ? d.abs.toFixed(3) : formatSeconds(d.abs), d.abs);
  if (d.pct === null) return abs;
  const pct = signed(`${d.pct.toFixed(1)}%`, d.pct);
  return `${abs} (${pct})`;
}

/** "0/128" failed receivers over repeats. */
export function formatFailed(cell: Cell): string {
  return cell.figures === null ? '-' : `${cell.figures.failedReceivers}/${cell.figures.receivers}`;
}

/**
 * The cells of one row (without the strategy/run label), as text: repeats, then per figure value
 * and difference (empty for the reference itself), then failed.
 */
export function cellTexts(cell: Cell, isReference: boolean): string[] {
  if (cell.figures === null) return ['0', ...FIGURE_COLUMNS.flatMap(() => ['not run', '']), '-'];
  const f = cell.figures;
  return [
    String(f.repeats),
    ...FIGURE_COLUMNS.flatMap((c) => [
      formatFigure(f[c.key], c.kind),
      isReference ? '' : cell.delta === null ? 'no reference' : formatDelta(cell.delta[c.key], c.kind),
    ]),
    formatFailed(cell),
  ];
}

export const TABLE_HEADERS = ['repeats', ...FIGURE_COLUMNS.flatMap((c) => [c.header, 'vs ref']), 'failed'];

/** One scenario's table as lines: strategy and run in the first column, the strategy written once per group. */
export function scenarioTableLines(s: ScenarioComparison): string[] {
  const strategyWidth = Math.max(...s.rows.map((r) => r.strategy.length), 'strategy'.length);
  const rows: string[][] = [[`${'strategy'.padEnd(strategyWidth)}  run`, ...TABLE_HEADERS]];
  for (const row of s.rows) {
    row.cells.forEach((cell, i) => {
      const first = `${(i === 0 ? row.strategy : '').padEnd(strategyWidth)}  ${cell.run}${i === 0 && row.cells.length > 1 ? ' (ref)' : ''}`;
      rows.push([first, ...cellTexts(cell, i === 0)]);
    });
  }
  const [head, ...body] = layout(rows);
  return [head!, '-'.repeat(head!.length), ...body];
}

/** "A  results/one-slow/A  netns, abc1234, started 2026-11-21T05:40:00.000Z": one line per folder. */
export function runKeyLines(runs: readonly RunInfo[]): string[] {
  const width = Math.max(...runs.map((r) => r.name.length));
  const dirWidth = Math.max(...runs.map((r) => r.dir.length));
  return runs.map((r, i) => {
    const details = `${r.backend}, ${shortCommit(r.gitCommit)}`;
    const started = r.startedAt !== null ? `, started ${r.startedAt}` : '';
    return `  ${r.name.padEnd(width)}  ${r.dir.padEnd(dirWidth)}  ${details}${started}${i === 0 ? '  (reference)' : ''}`;
  });
}

/** The heading line of one scenario's table. */
export function scenarioHeading(s: ScenarioComparison): string {
  const others = s.runs.slice(1);
  return `${s.scenario} (${s.receivers} receivers): reference ${s.reference}${others.length > 0 ? `, compared: ${others.join(', ')}` : ''}`;
}

/** Explains the table once, under the folder key. */
export const METHOD_NOTE =
  'Medians over repeats; p50/p95 done = when 50 %/95 % of receivers had finished (nearest rank, "inf" when more failed);\n' +
  'vs ref = run - reference (and % of the reference); lower is better in every column.';

/** The whole terminal output. */
export function formatComparison(c: Comparison): string {
  const lines = [`Comparing ${c.runs.length} results folders; the reference is the first given, ${c.reference}:`, ...runKeyLines(c.runs), '', METHOD_NOTE];
  for (const s of c.scenarios) {
    lines.push('', scenarioHeading(s), ...scenarioTableLines(s));
    for (const note of s.notes) lines.push(`note: ${note}`);
  }
  const warned = c.runs.filter((r) => r.warnings.length > 0);
  if (warned.length > 0) {
    lines.push('');
    for (const r of warned) for (const w of r.warnings) lines.push(`warning (${r.name}): ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
