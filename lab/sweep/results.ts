/**
 * A sweep's results: one row per run with the parameter's value (sweep.csv), per point and
 * contender the median, min and max makespan and the bound (the chart's points), and the chart
 * itself (sweep-makespan.png): makespan against the parameter, the median as a line with a
 * min-max bar per point for each contender, the lower bound as a dashed line.
 */
import { stringify } from 'csv-stringify/sync';
import type { ChartConfiguration, Plugin } from 'chart.js';
import type { RunResult } from '../types.js';
import { LOWER_BOUND_COLOR, LOWER_BOUND_DASH, strategyColor, subtitleOptions, titleOptions, withAlpha } from '../results/chart-style.js';
import { median } from '../results/stats.js';
import { axisUnit, axisValue, type SweepSpec, type SweepValue } from './schema.js';

/** One run at one point. */
export interface SweepRow {
  value: SweepValue;
  /** Where it sits on the x axis (null: not a number). */
  x: number | null;
  run: RunResult;
  /** The point's results folder. */
  dir: string;
}

export const SWEEP_COLUMNS = [
  'scenario',
  'backend',
  'param',
  'value',
  'x',
  'contender',
  'protocol',
  'variant',
  'repeat',
  'makespan_s',
  'lower_bound_s',
  'efficiency',
  'bound_term',
  'receivers',
  'failed_receivers',
  'point_dir',
] as const;

export function sweepCsv(scenario: string, backend: string, spec: SweepSpec, rows: readonly SweepRow[]): string {
  return stringify(
    rows.map((r) => [
      scenario,
      backend,
      spec.param,
      String(r.value),
      r.x ?? '',
      r.run.strategy,
      r.run.protocol,
      r.run.variant,
      r.run.repeat,
      r.run.makespanS,
      r.run.lowerBoundS,
      r.run.efficiency,
      r.run.boundTerm ?? '',
      r.run.receivers.length,
      r.run.failedReceivers,
      r.dir,
    ]),
    { header: true, columns: [...SWEEP_COLUMNS], record_delimiter: '\n' },
  );
}

/** One contender at one point: what the chart draws. */
export interface SweepStat {
  contender: string;
  value: SweepValue;
  x: number | null;
  runs: number;
  medianS: number;
  minS: number;
  maxS: number;
  /** The bound of the point (the median of its runs' bounds: they agree within a point). */
  boundS: number;
  /** Runs with a failed or unverified receiver (left out of median/min/max when others succeeded). */
  failedRuns: number;
}

/** Per point (in the sweep's order) and contender (in first-seen order). */
export function sweepStats(spec: SweepSpec, rows: readonly SweepRow[]): SweepStat[] {
  const contenders = [...new Set(rows.map((r) => r.run.strategy))];
  const out: SweepStat[] = [];
  for (const value of spec.values) {
    for (const c of contenders) {
      const here = rows.filter((r) => r.value === value && r.run.strategy === c);
      if (here.length === 0) continue;
      const ok = here.filter((r) => r.run.failedReceivers === 0);
      const use = (ok.length > 0 ? ok : here).map((r) => r.run.makespanS);
      out.push({
        contender: c,
        value,
        x: here[0]!.x,
        runs: here.length,
        medianS: median(use),
        minS: Math.min(...use),
        maxS: Math.max(...use),
        boundS: median(here.map((r) => r.run.lowerBoundS)),
        failedRuns: here.length - ok.length,
      });
    }
  }
  return out;
}

/** The chart.js configuration of makespan against the parameter. */
export function sweepChartConfig(title: string, spec: SweepSpec, stats: readonly SweepStat[], note: string): ChartConfiguration {
  const numeric = stats.every((s) => s.x !== null);
  const labels = spec.values.map(String);
  const xOf = (s: SweepStat): number => (numeric ? s.x! : labels.indexOf(String(s.value)));
  const contenders = [...new Set(stats.map((s) => s.contender))];
  // Contenders whose bounds agree within 1 % at every point share one line (at the smallest, a
  // bound for each of them); otherwise each contender's bound is its own dashed line.
  const boundsOf = (c: string): number[] => spec.values.map((v) => stats.find((s) => s.contender === c && s.value === v)?.boundS ?? NaN);
  const all = contenders.map(boundsOf);
  const sharedBound = spec.values.every((_, i) => {
    const here = all.map((b) => b[i]!).filter((b) => Number.isFinite(b));
    return here.length === 0 || Math.max(...here) <= Math.min(...here) * 1.01;
  });
  const datasets: ChartConfiguration<'line'>['data']['datasets'] = contenders.map((c) => ({
    label: `${c} (median)`,
    data: stats.filter((s) => s.contender === c).map((s) => ({ x: xOf(s), y: s.medianS })),
    borderColor: strategyColor(c),
    backgroundColor: strategyColor(c),
    pointRadius: 4,
    borderWidth: 2,
  }));
  const pointsAt = (bounds: (i: number) => number): { x: number; y: number }[] =>
    spec.values.flatMap((v, i) => {
      const y = bounds(i);
      const s = stats.find((q) => q.value === v);
      return s && Number.isFinite(y) ? [{ x: xOf(s), y }] : [];
    });
  if (sharedBound) {
    datasets.push({
      label: contenders.length > 1 ? 'lower bound (all contenders, within 1 %)' : 'lower bound',
      data: pointsAt((i) => Math.min(...all.map((b) => b[i]!).filter((b) => Number.isFinite(b)))),
      borderColor: LOWER_BOUND_COLOR,
      backgroundColor: LOWER_BOUND_COLOR,
      borderDash: LOWER_BOUND_DASH,
      pointRadius: 0,
      borderWidth: 2,
    });
  } else {
    contenders.forEach((c, k) => {
      const color = withAlpha(strategyColor(c), 0.8);
      datasets.push({ label: `lower bound (${c})`, data: pointsAt((i) => all[k]![i]!), borderColor: color, backgroundColor: color, borderDash: LOWER_BOUND_DASH, pointRadius: 0, borderWidth: 2 });
    });
  }
  const top = Math.max(0, ...stats.map((s) => Math.max(s.maxS, s.boundS)));
  // A margin of 4 % of the span on each side, so the first and last points are not cut in half.
  const xs = stats.map(xOf);
  const margin = xs.length > 0 ? (Math.max(...xs) - Math.min(...xs)) * 0.04 || 0.5 : 0.5;
  const unit = axisUnit(spec.kind);
  return {
    type: 'line',
    data: { datasets },
    options: {
      layout: { padding: { left: 8, right: 16, top: 4, bottom: 8 } },
      plugins: {
        title: titleOptions(title),
        subtitle: subtitleOptions(note),
        legend: { position: 'top', labels: { boxHeight: 2, boxWidth: 28, padding: 14 } },
      },
      scales: {
        x: numeric
          ? {
              type: 'linear',
              min: Math.min(...xs) - margin,
              max: Math.max(...xs) + margin,
              title: { display: true, text: unit ? `${spec.label} (${unit})` : spec.label },
              // Ticks at the swept values themselves (when they are few enough to read).
              ...(spec.values.length <= 20 ? { afterBuildTicks: (axis: { ticks: { value: number }[] }) => { axis.ticks = [...new Set(stats.map((s) => s.x!))].sort((a, b) => a - b).map((value) => ({ value })); } } : {}),
              ticks: { precision: 3 },
            }
          : { type: 'linear', min: -0.5, max: labels.length - 0.5, title: { display: true, text: spec.label }, ticks: { stepSize: 1, callback: (v) => labels[Number(v)] ?? '' } },
        y: { beginAtZero: true, suggestedMax: top * 1.1, title: { display: true, text: 'makespan (s)' } },
      },
    },
    plugins: [spreadPlugin(stats, xOf)],
  } as ChartConfiguration;
}

/** A vertical min-max bar with caps at each point, in the contender's colour. */
function spreadPlugin(stats: readonly SweepStat[], xOf: (s: SweepStat) => number): Plugin {
  return {
    id: 'sweepSpread',
    afterDatasetsDraw(chart) {
      const xs = chart.scales['x'];
      const ys = chart.scales['y'];
      if (!xs || !ys) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.lineWidth = 1.5;
      for (const s of stats) {
        if (s.minS === s.maxS) continue;
        const x = xs.getPixelForValue(xOf(s));
        const y0 = ys.getPixelForValue(s.minS);
        const y1 = ys.getPixelForValue(s.maxS);
        ctx.strokeStyle = withAlpha(strategyColor(s.contender), 0.8);
        ctx.beginPath();
        ctx.moveTo(x, y0);
        ctx.lineTo(x, y1);
        ctx.moveTo(x - 5, y0);
        ctx.lineTo(x + 5, y0);
        ctx.moveTo(x - 5, y1);
        ctx.lineTo(x + 5, y1);
        ctx.stroke();
      }
      ctx.restore();
    },
  };
}

/** Rows of a text table: value, contender, median, min-max, bound, median/bound. */
export function sweepTable(spec: SweepSpec, stats: readonly SweepStat[]): string {
  const head = [spec.param, 'contender', 'median s', 'min-max s', 'bound s', 'median/bound', 'failed runs'];
  const rows = stats.map((s) => [
    String(s.value),
    s.contender,
    s.medianS.toFixed(2),
    `${s.minS.toFixed(2)}-${s.maxS.toFixed(2)}`,
    s.boundS.toFixed(2),
    (s.medianS / s.boundS).toFixed(2),
    String(s.failedRuns),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export { axisValue };
