/**
 * Chart (a): makespan per strategy. A bar per strategy at the median makespan over repeats,
 * a dot per repeat, the lower bound as a dashed red line over each strategy's band (one
 * line across the chart when every strategy shares the bound), and the median and its
 * efficiency written above each bar.
 */
import type { ChartConfiguration, LegendItem, Plugin } from 'chart.js';
import type { ScenarioResults } from '../types.js';
import { formatSeconds } from './format.js';
import { computeMedians, runsOf, strategiesOf } from './stats.js';
import {
  canvasFont,
  LOWER_BOUND_COLOR,
  LOWER_BOUND_DASH,
  lowerBoundLegendItem,
  repeatLegendItem,
  strategyColor,
  subtitleOptions,
  titleOptions,
  titlePrefix,
  withAlpha,
} from './chart-style.js';

/** The chart.js configuration of the makespan chart. */
export function makespanChartConfig(results: ScenarioResults): ChartConfiguration {
  const strategies = strategiesOf(results.runs);
  const medians = computeMedians(results.runs);
  const medianOf = (s: (typeof strategies)[number]) => medians[s]!;
  const repeatPoints = strategies.flatMap((s) => runsOf(results.runs, s).map((r) => ({ x: s, y: r.makespanS })));
  const highest = Math.max(0, ...repeatPoints.map((p) => p.y), ...strategies.map((s) => medianOf(s).lowerBoundS));
  const repeats = Math.max(0, ...strategies.map((s) => runsOf(results.runs, s).length));

  const legendItems: LegendItem[] = [
    { text: `median makespan (of ${repeats} repeat${repeats === 1 ? '' : 's'})`, fillStyle: withAlpha('#777777', 0.6), strokeStyle: '#555', lineWidth: 1, pointStyle: 'rect', hidden: false },
    repeatLegendItem(),
    lowerBoundLegendItem(),
  ];

  return {
    type: 'bar',
    data: {
      labels: strategies,
      datasets: [
        {
          type: 'bar',
          label: 'median makespan',
          data: strategies.map((s) => medianOf(s).makespanS),
          backgroundColor: strategies.map((s) => withAlpha(strategyColor(s), 0.75)),
          borderColor: strategies.map((s) => strategyColor(s)),
          borderWidth: 1,
          barPercentage: 0.7,
          order: 2,
        },
        {
          type: 'line',
          label: 'each repeat',
          data: repeatPoints as unknown as number[],
          showLine: false,
          pointRadius: 4,
          pointBackgroundColor: '#222',
          pointBorderColor: '#fff',
          pointBorderWidth: 1,
          order: 1,
        },
      ],
    },
    options: {
      layout: { padding: { left: 8, right: 16, top: 4, bottom: 8 } },
      plugins: {
        title: titleOptions(`${titlePrefix(results)}: makespan per strategy`),
        subtitle: subtitleOptions('bar = median over repeats, dots = each repeat; label = median makespan and its ratio to the lower bound'),
        legend: {
          position: 'top',
          labels: { usePointStyle: true, boxHeight: 8, generateLabels: () => legendItems, padding: 18 },
        },
      },
      scales: {
        x: { title: { display: true, text: 'strategy' }, grid: { display: false }, ticks: { font: { size: 14 } } },
        y: {
          beginAtZero: true,
          suggestedMax: highest * 1.18,
          title: { display: true, text: 'makespan (s)' },
        },
      },
    },
    plugins: [lowerBoundBandsPlugin(strategies.map((s) => medianOf(s).lowerBoundS)), barLabelsPlugin(results)],
  };
}

/** Dashed red segment at each category's lower bound, spanning the category's band. */
function lowerBoundBandsPlugin(boundsS: number[]): Plugin {
  return {
    id: 'lowerBoundBands',
    afterDatasetsDraw(chart) {
      const xScale = chart.scales['x'];
      const yScale = chart.scales['y'];
      if (xScale === undefined || yScale === undefined || boundsS.length === 0) return;
      const band = chart.chartArea.width / boundsS.length;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = LOWER_BOUND_COLOR;
      ctx.lineWidth = 2.5;
      ctx.setLineDash(LOWER_BOUND_DASH);
      ctx.beginPath();
      boundsS.forEach((bound, i) => {
        if (!Number.isFinite(bound)) return;
        const centre = xScale.getPixelForValue(i);
        const y = yScale.getPixelForValue(bound);
        const sameAsPrevious = i > 0 && boundsS[i - 1] === bound;
        if (!sameAsPrevious) ctx.moveTo(centre - band / 2, y);
        ctx.lineTo(centre + band / 2, y);
      });
      ctx.stroke();
      ctx.restore();
    },
  };
}

/** "9.12 s" and "1.04x bound" above each bar (above its highest repeat dot). */
function barLabelsPlugin(results: ScenarioResults): Plugin {
  return {
    id: 'barLabels',
    afterDatasetsDraw(chart) {
      const xScale = chart.scales['x'];
      const yScale = chart.scales['y'];
      if (xScale === undefined || yScale === undefined) return;
      const strategies = strategiesOf(results.runs);
      const medians = computeMedians(results.runs);
      const ctx = chart.ctx;
      ctx.save();
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      strategies.forEach((s, i) => {
        const m = medians[s]!;
        const top = Math.max(m.makespanS, ...runsOf(results.runs, s).map((r) => r.makespanS));
        const x = xScale.getPixelForValue(i);
        const y = yScale.getPixelForValue(top) - 8;
        ctx.fillStyle = '#222';
        ctx.font = canvasFont(14, 'bold');
        ctx.fillText(`${formatSeconds(m.makespanS)} s`, x, y - 16);
        ctx.fillStyle = '#555';
        ctx.font = canvasFont(12);
        ctx.fillText(`${m.efficiency.toFixed(2)}\u00d7 bound`, x, y);
      });
      ctx.restore();
    },
  };
}
