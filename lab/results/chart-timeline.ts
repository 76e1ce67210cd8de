/**
 * Chart (c): one strategy's per-receiver timeline, from its median-makespan repeat. A row
 * per receiver, fastest download link at the top, labelled "#index rate"; a light bar from
 * connection start to first byte (waiting), a strategy-coloured bar from first byte to done
 * (for peer-to-peer protocols the label also says how much each node uploaded to the others)
 * (transferring), a red bar to the end of the run for a receiver that never finished, and
 * the lower bound as a dashed vertical line. The chart grows taller with the receiver count.
 */
import type { ChartConfiguration, Plugin } from 'chart.js';
import type { ContenderName } from '../types.js';
import type { ReceiverResult, RunResult, ScenarioResults } from '../types.js';
import { chartMonoFontFamily, type ChartSizePx } from './chart-canvas.js';
import { formatRateBps, formatSeconds } from './format.js';
import { medianRun, runsOf } from './stats.js';
import {
  FAILED_COLOR,
  strategyColor,
  subtitleOptions,
  titleOptions,
  titlePrefix,
  verticalMarkerPlugin,
  withAlpha,
} from './chart-style.js';

/** Pixel height of one receiver row; the chart is never shorter than 600 px. */
const ROW_PX = 15;

/** A timeline draws at most this many receivers (the simulator runs 10,000): an even sample beyond it. */
export const TIMELINE_MAX_ROWS = 200;

/** The size of a timeline with `receivers` rows (sampled beyond TIMELINE_MAX_ROWS): 1000 px wide, at least 600 px tall. */
export function timelineChartSize(receivers: number): ChartSizePx {
  return { widthPx: 1000, heightPx: Math.max(600, 170 + ROW_PX * Math.min(receivers, TIMELINE_MAX_ROWS)) };
}

/**
 * At most `max` of `rows`, evenly spaced in their order, always keeping the last receiver to finish
 * (the one that sets the makespan) and every failed one that fits.
 */
export function sampleRows(rows: readonly ReceiverResult[], max = TIMELINE_MAX_ROWS): ReceiverResult[] {
  if (rows.length <= max) return [...rows];
  const keep = new Set<ReceiverResult>();
  const last = rows.reduce((a, r) => ((r.doneS ?? Infinity) > (a.doneS ?? Infinity) ? r : a));
  keep.add(last);
  for (const r of rows) if (failed(r) && keep.size < max / 2) keep.add(r);
  const step = rows.length / (max - keep.size);
  for (let k = 0; keep.size < max && Math.floor(k * step) < rows.length; k++) keep.add(rows[Math.floor(k * step)]!);
  return rows.filter((r) => keep.has(r));
}

/** Receivers top to bottom: fastest download first, then by index. */
export function timelineOrder(receivers: readonly ReceiverResult[]): ReceiverResult[] {
  return [...receivers].sort((a, b) => b.downBps - a.downBps || a.index - b.index);
}

function failed(r: ReceiverResult): boolean {
  return r.doneS === null || r.error !== undefined;
}

type Span = [number, number] | null;

/** The chart.js configuration of one strategy's timeline; throws when the strategy has no runs. */
export function timelineChartConfig(results: ScenarioResults, strategy: ContenderName): ChartConfiguration {
  const run: RunResult | undefined = medianRun(results.runs, strategy);
  if (run === undefined) throw new RangeError(`no runs of strategy ${strategy} to draw a timeline for`);
  const repeats = runsOf(results.runs, strategy).length;
  const all = timelineOrder(run.receivers);
  const rows = sampleRows(all);
  const color = strategyColor(strategy);
  const endS = run.makespanS;

  const waiting: Span[] = rows.map((r) => (r.startS !== null && r.firstByteS !== null ? [r.startS, r.firstByteS] : null));
  const transferring: Span[] = rows.map((r) => (!failed(r) && r.firstByteS !== null ? [r.firstByteS, r.doneS!] : null));
  const broken: Span[] = rows.map((r) => {
    if (!failed(r)) return null;
    const from = r.firstByteS ?? r.startS ?? 0;
    return [from, Math.max(from, r.doneS ?? endS)];
  });
  const failures = rows.filter(failed).length;
  // Peer-to-peer protocols: what each node uploaded to the others, beside its link.
  const uploads = rows.some((r) => (r.upBytes ?? 0) > 0);
  const labels = rows.map(
    (r) => `#${r.index}  ${formatRateBps(r.downBps)}${uploads ? `  up ${((r.upBytes ?? 0) / 1048576).toFixed(1).padStart(5)} MiB` : ''}${failed(r) ? '  FAILED' : ''}`,
  );
  const bar = { grouped: false, barPercentage: 0.85, categoryPercentage: 1, borderSkipped: false } as const;
  const repeatNote = repeats > 1 ? `repeat ${run.repeat} of ${repeats} (median makespan)` : 'one repeat';
  const failNote = failures > 0 ? `, ${failures} failed` : '';

  return {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { ...bar, label: 'connecting / waiting (start \u2192 first byte)', data: waiting, backgroundColor: '#c8c8c8' },
        { ...bar, label: 'transferring (first byte \u2192 done)', data: transferring, backgroundColor: withAlpha(color, 0.9) },
        { ...bar, label: 'failed (to end of run)', data: broken, backgroundColor: withAlpha(FAILED_COLOR, 0.85) },
      ],
    },
    options: {
      indexAxis: 'y',
      layout: { padding: { left: 8, right: 20, top: 4, bottom: 8 } },
      plugins: {
        title: titleOptions(`${titlePrefix(results)}: ${strategy}, per-receiver timeline`),
        subtitle: subtitleOptions(
          `${repeatNote}, makespan ${formatSeconds(run.makespanS)} s${failNote}; receivers by download rate, fastest at the top` +
            (rows.length < all.length ? ` (${rows.length} of ${all.length} shown: an even sample and the last to finish)` : ''),
        ),
        legend: {
          position: 'top',
          labels: { padding: 16, filter: (item) => item.datasetIndex !== 2 || failures > 0 },
        },
      },
      scales: {
        x: {
          type: 'linear',
          min: 0,
          suggestedMax: Math.max(endS, run.lowerBoundS) * 1.02,
          title: { display: true, text: 'time since start (s)' },
        },
        y: {
          title: { display: true, text: uploads ? 'receiver (index, download link rate, bytes it uploaded to others)' : 'receiver (index, download link rate)' },
          ticks: { autoSkip: false, font: { size: rows.length > 40 ? 10 : 12, family: chartMonoFontFamily() ?? undefined } },
          grid: { display: false },
        },
      },
    },
    plugins: [
      verticalMarkerPlugin('lowerBound', run.lowerBoundS, `lower bound ${formatSeconds(run.lowerBoundS)} s`),
      rowStripesPlugin(),
    ],
  } as ChartConfiguration;
}

/** Light stripes behind every other row so a bar can be followed to its label. */
function rowStripesPlugin(): Plugin {
  return {
    id: 'rowStripes',
    beforeDatasetsDraw(chart) {
      const yScale = chart.scales['y'];
      if (yScale === undefined) return;
      const labels = chart.data.labels ?? [];
      const rowPx = chart.chartArea.height / Math.max(1, labels.length);
      const ctx = chart.ctx;
      ctx.save();
      ctx.fillStyle = '#f3f3f3';
      for (let i = 1; i < labels.length; i += 2) {
        const y = yScale.getPixelForValue(i);
        ctx.fillRect(chart.chartArea.left, y - rowPx / 2, chart.chartArea.width, rowPx);
      }
      ctx.restore();
    },
  };
}
