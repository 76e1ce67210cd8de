/**
 * The PNG charts of a results folder: makespan.png, cdf.png and one timeline-<strategy>.png
 * per strategy. Each chart's configuration is built by its own module; this one renders them.
 */
import { contenderDir } from '../types.js';
import type { ScenarioResults } from '../types.js';
import { chartFontFamily, DEFAULT_CHART_SIZE, renderChartPng } from './chart-canvas.js';
import { cdfChartConfig } from './chart-cdf.js';
import { makespanChartConfig } from './chart-makespan.js';
import { timelineChartConfig, timelineChartSize } from './chart-timeline.js';
import { medianRun, strategiesOf } from './stats.js';

export { cdfChartConfig } from './chart-cdf.js';
export { makespanChartConfig } from './chart-makespan.js';
export { timelineChartConfig, timelineChartSize, timelineOrder } from './chart-timeline.js';
export { chartFontFamily } from './chart-canvas.js';

/** One rendered chart: its file name in the results folder and its PNG bytes. */
export interface RenderedChart {
  fileName: string;
  png: Buffer;
}

/** Renders the makespan chart (1000x600). */
export function renderMakespanPng(results: ScenarioResults): Buffer {
  return renderChartPng(makespanChartConfig(results), DEFAULT_CHART_SIZE);
}

/** Renders the completion CDF chart (1000x600). */
export function renderCdfPng(results: ScenarioResults): Buffer {
  return renderChartPng(cdfChartConfig(results), DEFAULT_CHART_SIZE);
}

/**
 * Renders every chart for `results`. With no runs there is nothing to draw and the list is
 * empty. `warnings` gets a line when the canvas has no font (the charts then have no text).
 */
export function renderCharts(results: ScenarioResults, warnings: string[] = []): RenderedChart[] {
  if (results.runs.length === 0) return [];
  if (chartFontFamily() === null) warnings.push('charts: the canvas found no font, so the PNGs have no text');
  const charts: RenderedChart[] = [
    { fileName: 'makespan.png', png: renderMakespanPng(results) },
    { fileName: 'cdf.png', png: renderCdfPng(results) },
  ];
  for (const strategy of strategiesOf(results.runs)) {
    const run = medianRun(results.runs, strategy)!;
    charts.push({
      fileName: `timeline-${contenderDir(strategy)}.png`,
      png: renderChartPng(timelineChartConfig(results, strategy), timelineChartSize(run.receivers.length)),
    });
  }
  return charts;
}
