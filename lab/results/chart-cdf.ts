/**
 * Chart (b): completion-time CDF, one stepped curve per strategy, each from that strategy's
 * median-makespan repeat (a real run, so the curve ends at a makespan the makespan chart
 * shows). The fraction is over all receivers, so a run with failures never reaches 1.
 * The lower bound is a dashed vertical red line. When one curve ends far later than another
 * (sequential next to the others, say), the time axis turns logarithmic so the fast curves
 * are not squeezed into a few pixels; the axis title then says so.
 */
import { Chart, type ChartConfiguration } from 'chart.js';
import type { ScenarioResults } from '../types.js';
import { formatSeconds } from './format.js';
import { completionCdf, completionTimesS, median, medianRun, runsOf, strategiesOf } from './stats.js';
import {
  LOWER_BOUND_DASH,
  lowerBoundLineDataset,
  strategyColor,
  subtitleOptions,
  titleOptions,
  titlePrefix,
} from './chart-style.js';

/** A log time axis is used when the last curve ends more than this many times later than the first. */
export const CDF_LOG_SPREAD = 4;

/** The CDF's time axis: linear from 0, or logarithmic from a round value (1, 2 or 5 x 10^k) below the first completion. */
export type CdfTimeAxis = { kind: 'linear' } | { kind: 'log'; minS: number };

/** Chooses the time axis from each curve's end (makespan) and first completion, in seconds. */
export function cdfTimeAxis(endsS: readonly number[], firstDoneS: readonly number[]): CdfTimeAxis {
  const ends = endsS.filter((t) => Number.isFinite(t) && t > 0);
  const firsts = firstDoneS.filter((t) => Number.isFinite(t) && t > 0);
  if (ends.length < 2 || firsts.length === 0) return { kind: 'linear' };
  if (Math.max(...ends) / Math.min(...ends) <= CDF_LOG_SPREAD) return { kind: 'linear' };
  const below = Math.min(...firsts) * 0.9;
  const decade = 10 ** Math.floor(Math.log10(below));
  const mantissa = [5, 2, 1].find((m) => m * decade <= below) ?? 1;
  return { kind: 'log', minS: mantissa * decade };
}

/** The chart.js configuration of the completion CDF chart. */
export function cdfChartConfig(results: ScenarioResults): ChartConfiguration {
  const strategies = strategiesOf(results.runs);
  const curves = strategies.flatMap((s) => {
    const run = medianRun(results.runs, s);
    if (run === undefined) return [];
    const repeats = runsOf(results.runs, s).length;
    const points = completionCdf(run.receivers).map((p) => ({ x: p.timeS, y: p.fraction }));
    const failed = completionTimesS(run.receivers).filter((t) => !Number.isFinite(t)).length;
    const note = repeats > 1 ? `, repeat ${run.repeat}/${repeats}` : '';
    const failNote = failed > 0 ? `, ${failed} failed` : '';
    return [{ strategy: s, run, points, label: `${s} (${formatSeconds(run.makespanS)} s${note}${failNote})` }];
  });
  const axis = cdfTimeAxis(
    curves.map((c) => c.run.makespanS),
    curves.flatMap((c) => (c.points.length > 1 ? [c.points[1]!.x] : [])),
  );
  if (axis.kind === 'log') {
    // A log axis has no 0: start each curve at the axis minimum instead.
    for (const c of curves) c.points = c.points.map((p) => (p.x < axis.minS ? { x: axis.minS, y: p.y } : p));
  }
  const bounds = curves.map((c) => c.run.lowerBoundS).filter((b) => Number.isFinite(b));
  const boundS = bounds.length > 0 ? median(bounds) : NaN;

  const datasets: NonNullable<ChartConfiguration<'line'>['data']>['datasets'] = curves.map((c) => ({
    label: c.label,
    data: c.points,
    stepped: 'before' as const,
    borderColor: strategyColor(c.strategy),
    backgroundColor: strategyColor(c.strategy),
    borderWidth: 2.5,
    pointRadius: 0,
  }));
  const boundIndex = Number.isFinite(boundS) ? datasets.length : -1;
  if (Number.isFinite(boundS)) {
    datasets.push(lowerBoundLineDataset(`lower bound (${formatSeconds(boundS)} s)`, boundS));
  }

  return {
    type: 'line',
    data: { datasets },
    options: {
      layout: { padding: { left: 8, right: 20, top: 4, bottom: 8 } },
      plugins: {
        title: titleOptions(`${titlePrefix(results)}: receivers done over time`),
        subtitle: subtitleOptions('one curve per strategy, from its median-makespan repeat; legend: strategy (makespan)'),
        legend: {
          position: 'top',
          labels: {
            usePointStyle: true,
            pointStyle: 'line',
            pointStyleWidth: 32,
            padding: 16,
            // With point styles chart.js takes the legend's style from a point, which has no dash.
            generateLabels: (chart) =>
              Chart.defaults.plugins.legend.labels
                .generateLabels(chart)
                .map((item) => (item.datasetIndex === boundIndex ? { ...item, lineDash: LOWER_BOUND_DASH, lineWidth: 2 } : item)),
          },
        },
      },
      scales: {
        x:
          axis.kind === 'log'
            ? { type: 'logarithmic', min: axis.minS, title: { display: true, text: 'time since start (s, log scale)' } }
            : { type: 'linear', min: 0, title: { display: true, text: 'time since start (s)' } },
        y: {
          type: 'linear',
          min: 0,
          max: 1,
          ticks: { stepSize: 0.1 },
          title: { display: true, text: 'receivers done (fraction)' },
        },
      },
    },
  } as ChartConfiguration;
}
