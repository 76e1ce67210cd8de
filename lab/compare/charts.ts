/**
 * The comparison's charts, one pair per scenario, drawn with the lab's chart code (chart.js on
 * @napi-rs/canvas, lab/results/chart-*.ts). Each run (results folder) has one colour in both.
 *
 *   makespan-<scenario>.png  grouped bars: per strategy a bar per run at its median makespan, a
 *                            dot per repeat, the run's lower bound as a dashed red segment over
 *                            its bar, and above each bar the median and its difference from the
 *                            reference in percent (green lower, red higher)
 *   cdf-<scenario>.png       one panel per strategy overlaying the runs' completion CDFs (each
 *                            run's median-makespan repeat): the reference solid, the others
 *                            dashed; the lower bound dashed red; panels two to a row
 */
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { Chart, type ChartConfiguration, type LegendItem, type Plugin } from 'chart.js';
import type { ContenderName } from '../types.js';
import { chartFontFamily, renderChartPng, type ChartSizePx } from '../results/chart-canvas.js';
import { cdfTimeAxis } from '../results/chart-cdf.js';
import {
  canvasFont,
  LOWER_BOUND_COLOR,
  LOWER_BOUND_DASH,
  lowerBoundLegendItem,
  lowerBoundLineDataset,
  paletteColor,
  repeatLegendItem,
  subtitleOptions,
  titleOptions,
  withAlpha,
} from '../results/chart-style.js';
import { formatSeconds } from '../results/format.js';
import { completionCdf, completionTimesS, medianRun, runsOf } from '../results/stats.js';
import type { LoadedFolder } from './load.js';
import { runLabel, type Comparison, type ScenarioComparison } from './model.js';

/** Colour of a lower value than the reference's in labels and tables, and of a higher one. */
export const BETTER_COLOR = '#2e7d32';
export const WORSE_COLOR = '#c62828';

/** Dash patterns of the non-reference runs' curves (the reference is solid). */
const RUN_DASHES = [[10, 5], [3, 4], [12, 4, 3, 4], [6, 3]];

/** The colour of a run by its place among all folders compared (so it is the same in every scenario). */
export function runColor(c: Comparison, runName: string): string {
  return paletteColor(Math.max(0, c.runs.findIndex((r) => r.name === runName)));
}

function groupOf(folders: readonly LoadedFolder[], s: ScenarioComparison): LoadedFolder[] {
  return s.runs.map((name) => folders.find((f) => f.name === name)!);
}

/** The size of the makespan chart: wider with more bars. */
export function makespanChartSize(s: ScenarioComparison): ChartSizePx {
  return { widthPx: Math.max(1000, 160 + s.rows.length * s.runs.length * 72), heightPx: 620 };
}

/** The chart.js configuration of one scenario's makespan comparison. */
export function makespanCompareConfig(c: Comparison, folders: readonly LoadedFolder[], s: ScenarioComparison): ChartConfiguration {
  const group = groupOf(folders, s);
  const strategies = s.rows.map((r) => r.strategy);
  const info = (name: string) => c.runs.find((r) => r.name === name)!;
  const allValues = group.flatMap((f) =>
    strategies.flatMap((st) => runsOf(f.results.runs, st).flatMap((r) => [r.makespanS, r.lowerBoundS])),
  );
  const highest = Math.max(0, ...allValues.filter((v) => Number.isFinite(v)));

  const legendItems: LegendItem[] = [
    ...s.runs.map(
      (name, i): LegendItem => ({
        text: `${runLabel(info(name))}${i === 0 ? ', reference' : ''}`,
        fillStyle: withAlpha(runColor(c, name), 0.75),
        strokeStyle: runColor(c, name),
        lineWidth: 1,
        pointStyle: 'rect',
        hidden: false,
      }),
    ),
    repeatLegendItem(),
    lowerBoundLegendItem(),
  ];

  return {
    type: 'bar',
    data: {
      labels: strategies,
      datasets: s.runs.map((name, i) => ({
        label: name,
        data: s.rows.map((row) => row.cells[i]!.figures?.makespanS ?? null),
        backgroundColor: withAlpha(runColor(c, name), 0.75),
        borderColor: runColor(c, name),
        borderWidth: 1,
        barPercentage: 0.85,
        categoryPercentage: 0.8,
      })),
    },
    options: {
      layout: { padding: { left: 8, right: 16, top: 4, bottom: 8 } },
      plugins: {
        title: titleOptions(`${s.scenario}: makespan per strategy, ${s.runs.join(' vs ')}`),
        subtitle: subtitleOptions(
          `bar = median over repeats, dots = each repeat; label = median and its difference from the reference ${s.reference}`,
        ),
        legend: { position: 'top', labels: { usePointStyle: true, boxHeight: 8, generateLabels: () => legendItems, padding: 18 } },
      },
      scales: {
        x: { title: { display: true, text: 'strategy' }, grid: { display: false }, ticks: { font: { size: 14 } } },
        y: { beginAtZero: true, suggestedMax: highest * 1.2, title: { display: true, text: 'makespan (s)' } },
      },
    },
    plugins: [barDecorationsPlugin(group, s)],
  } as ChartConfiguration;
}

/** Per bar: the repeats as dots, the lower bound as a dashed segment, the median and its difference above. */
function barDecorationsPlugin(group: LoadedFolder[], s: ScenarioComparison): Plugin {
  return {
    id: 'compareBarDecorations',
    afterDatasetsDraw(chart) {
      const yScale = chart.scales['y'];
      if (yScale === undefined) return;
      const ctx = chart.ctx;
      ctx.save();
      s.runs.forEach((_, i) => {
        const meta = chart.getDatasetMeta(i);
        s.rows.forEach((row, j) => {
          const cell = row.cells[i]!;
          const bar = meta.data[j];
          if (cell.figures === null || bar === undefined) return;
          const { x, width } = bar.getProps(['x', 'width'], true) as { x: number; width: number };
          const repeats = runsOf(group[i]!.results.runs, row.strategy);
          // lower bound over the bar
          const bound = cell.figures.lowerBoundS;
          if (Number.isFinite(bound)) {
            const y = yScale.getPixelForValue(bound);
            ctx.strokeStyle = LOWER_BOUND_COLOR;
            ctx.lineWidth = 2.5;
            ctx.setLineDash(LOWER_BOUND_DASH);
            ctx.beginPath();
            ctx.moveTo(x - width / 2 - 3, y);
            ctx.lineTo(x + width / 2 + 3, y);
            ctx.stroke();
            ctx.setLineDash([]);
          }
          // repeats as dots
          for (const r of repeats) {
            ctx.beginPath();
            ctx.arc(x, yScale.getPixelForValue(r.makespanS), 4, 0, 2 * Math.PI);
            ctx.fillStyle = '#222';
            ctx.fill();
            ctx.lineWidth = 1;
            ctx.strokeStyle = '#fff';
            ctx.stroke();
          }
          // labels above the highest of median, repeats and bound
          const top = Math.max(cell.figures.makespanS, bound, ...repeats.map((r) => r.makespanS));
          const yTop = yScale.getPixelForValue(top) - 6;
          const size = width < 46 ? 11 : 13;
          ctx.textAlign = 'center';
          ctx.textBaseline = 'bottom';
          const pct = cell.delta?.makespanS.pct ?? null;
          if (i > 0 && pct !== null) {
            ctx.font = canvasFont(size - 1, 'bold');
            ctx.fillStyle = pct <= -0.05 ? BETTER_COLOR : pct >= 0.05 ? WORSE_COLOR : '#555';
            ctx.fillText(`${pct > 0 ? '+' : ''}${pct.toFixed(1)}%`, x, yTop);
          } else if (i === 0 && s.runs.length > 1) {
            ctx.font = canvasFont(size - 1);
            ctx.fillStyle = '#555';
            ctx.fillText('ref', x, yTop);
          }
          ctx.font = canvasFont(size, 'bold');
          ctx.fillStyle = '#222';
          ctx.fillText(formatSeconds(cell.figures.makespanS), x, yTop - size - 3);
        });
      });
      ctx.restore();
    },
  };
}

/** Size of one CDF panel. */
export const CDF_PANEL_SIZE: ChartSizePx = { widthPx: 720, heightPx: 440 };

/** The chart.js configuration of one strategy's CDF panel: a curve per run that ran it. */
export function cdfPanelConfig(c: Comparison, folders: readonly LoadedFolder[], s: ScenarioComparison, strategy: ContenderName): ChartConfiguration {
  const group = groupOf(folders, s);
  const curves = group.flatMap((f, i) => {
    const run = medianRun(f.results.runs, strategy);
    if (run === undefined) return [];
    const points = completionCdf(run.receivers).map((p) => ({ x: p.timeS, y: p.fraction }));
    const failed = completionTimesS(run.receivers).filter((t) => !Number.isFinite(t)).length;
    const repeats = runsOf(f.results.runs, strategy).length;
    return [{ name: f.name, index: i, run, points, failed, repeats }];
  });
  const axis = cdfTimeAxis(
    curves.map((cv) => cv.run.makespanS),
    curves.flatMap((cv) => (cv.points.length > 1 ? [cv.points[1]!.x] : [])),
  );
  if (axis.kind === 'log') for (const cv of curves) cv.points = cv.points.map((p) => (p.x < axis.minS ? { x: axis.minS, y: p.y } : p));

  const datasets: NonNullable<ChartConfiguration<'line'>['data']>['datasets'] = curves.map((cv) => ({
    label:
      `${cv.name}${cv.index === 0 ? ' (ref)' : ''}: ${formatSeconds(cv.run.makespanS)} s` +
      `${cv.repeats > 1 ? ` (repeat ${cv.run.repeat}/${cv.repeats})` : ''}${cv.failed > 0 ? `, ${cv.failed} failed` : ''}`,
    data: cv.points,
    stepped: 'before' as const,
    borderColor: runColor(c, cv.name),
    backgroundColor: runColor(c, cv.name),
    borderWidth: cv.index === 0 ? 3 : 2.5,
    borderDash: cv.index === 0 ? [] : RUN_DASHES[(cv.index - 1) % RUN_DASHES.length]!,
    pointRadius: 0,
  }));
  // Room after the last step, so a curve reaching 1 at the end does not vanish into the axis edge.
  const lastS = Math.max(0, ...curves.map((cv) => cv.run.makespanS), ...curves.map((cv) => cv.run.lowerBoundS).filter((b) => Number.isFinite(b)));
  const bounds = [...new Set(curves.map((cv) => cv.run.lowerBoundS).filter((b) => Number.isFinite(b)))];
  const boundIndexes = new Set<number>();
  for (const b of bounds) {
    boundIndexes.add(datasets.length);
    datasets.push(
      lowerBoundLineDataset(
        `lower bound${bounds.length > 1 ? ` of ${curves.filter((cv) => cv.run.lowerBoundS === b).map((cv) => cv.name).join(', ')}` : ''} (${formatSeconds(b)} s)`,
        b,
      ),
    );
  }

  return {
    type: 'line',
    data: { datasets },
    options: {
      layout: { padding: { left: 6, right: 16, top: 2, bottom: 6 } },
      plugins: {
        title: { ...titleOptions(strategy), font: { size: 16, weight: 'bold' } },
        legend: {
          position: 'top',
          labels: {
            usePointStyle: true,
            pointStyle: 'line',
            pointStyleWidth: 36,
            padding: 12,
            font: { size: 12 },
            // With point styles chart.js takes the legend's style from a point, which has no dash.
            generateLabels: (chart) =>
              Chart.defaults.plugins.legend.labels.generateLabels(chart).map((item) => {
                const i = item.datasetIndex ?? -1;
                const dash = (datasets[i] as { borderDash?: number[] } | undefined)?.borderDash ?? [];
                return boundIndexes.has(i) || dash.length > 0 ? { ...item, lineDash: dash, lineWidth: 2.5 } : item;
              }),
          },
        },
      },
      scales: {
        x:
          axis.kind === 'log'
            ? { type: 'logarithmic', min: axis.minS, title: { display: true, text: 'time since start (s, log scale)' } }
            : { type: 'linear', min: 0, suggestedMax: lastS * 1.03, title: { display: true, text: 'time since start (s)' } },
        y: { type: 'linear', min: 0, max: 1, ticks: { stepSize: 0.2 }, title: { display: true, text: 'receivers done (fraction)' } },
      },
    },
  } as ChartConfiguration;
}

/** One rendered chart of the comparison. */
export interface CompareChart {
  scenario: string;
  kind: 'makespan' | 'cdf';
  fileName: string;
  /** One sentence saying what the chart shows (the HTML page's caption and alt text). */
  caption: string;
  png: Buffer;
}

/** A file-name-safe form of a scenario name. */
export function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';
}

/** Height of the title band above the CDF panels. */
const CDF_TITLE_PX = 70;

/** Renders the panels of one scenario and lays them out two to a row under a title. */
async function renderCdfGrid(c: Comparison, folders: readonly LoadedFolder[], s: ScenarioComparison): Promise<Buffer> {
  const panels = s.rows.map((row) => renderChartPng(cdfPanelConfig(c, folders, s, row.strategy), CDF_PANEL_SIZE));
  const columns = panels.length === 1 ? 1 : 2;
  const rows = Math.ceil(panels.length / columns);
  const { widthPx, heightPx } = CDF_PANEL_SIZE;
  const canvas = createCanvas(columns * widthPx, CDF_TITLE_PX + rows * heightPx);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillStyle = '#222';
  ctx.font = canvasFont(20, 'bold');
  ctx.fillText(`${s.scenario}: receivers done over time, ${s.runs.join(' vs ')}`, canvas.width / 2, 10);
  ctx.fillStyle = '#555';
  ctx.font = canvasFont(14);
  ctx.fillText(
    `one panel per strategy; a curve per run (its median-makespan repeat): reference ${s.reference} solid, others dashed; red dashed = lower bound`,
    canvas.width / 2,
    40,
  );
  for (let i = 0; i < panels.length; i++) {
    const image = await loadImage(panels[i]!);
    ctx.drawImage(image, (i % columns) * widthPx, CDF_TITLE_PX + Math.floor(i / columns) * heightPx);
  }
  return canvas.toBuffer('image/png');
}

/**
 * Renders both charts of every scenario. `warnings` gets a line when the canvas has no font
 * (the charts then have no text).
 */
export async function renderCompareCharts(c: Comparison, folders: readonly LoadedFolder[], warnings: string[] = []): Promise<CompareChart[]> {
  if (chartFontFamily() === null) warnings.push('charts: the canvas found no font, so the PNGs have no text');
  const charts: CompareChart[] = [];
  const used = new Set<string>();
  for (const s of c.scenarios) {
    let base = fileSafe(s.scenario);
    for (let n = 2; used.has(base); n++) base = `${fileSafe(s.scenario)}-${n}`;
    used.add(base);
    charts.push({
      scenario: s.scenario,
      kind: 'makespan',
      fileName: `makespan-${base}.png`,
      caption: `${s.scenario}: median makespan per strategy for ${s.runs.join(', ')} (dots: each repeat; dashed red: lower bound; labels: difference from ${s.reference})`,
      png: renderChartPng(makespanCompareConfig(c, folders, s), makespanChartSize(s)),
    });
    charts.push({
      scenario: s.scenario,
      kind: 'cdf',
      fileName: `cdf-${base}.png`,
      caption: `${s.scenario}: completion CDF per strategy, the runs overlaid (reference ${s.reference} solid)`,
      png: await renderCdfGrid(c, folders, s),
    });
  }
  return charts;
}
