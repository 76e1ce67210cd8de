/**
 * What the result charts share: one colour per strategy (the same in every chart), the
 * lower-bound colour, title text, and plugins that draw reference lines with chart.js scales.
 */
import { Chart, type LegendItem, type Plugin } from 'chart.js';
import { STRATEGY_NAMES } from '../../sender/strategies/names.js';
import type { ContenderName } from '../types.js';
import type { ScenarioResults } from '../types.js';

/** Tableau 10, readable for most colour-blind viewers and in print. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7'];

/** Colour of the lower bound wherever it is drawn. */
export const LOWER_BOUND_COLOR = '#d62728';
/** Colour of a failed receiver's bar. */
export const FAILED_COLOR = '#d62728';
/** Dash pattern of the lower bound line, px. */
export const LOWER_BOUND_DASH = [8, 5];

/** The colour of a strategy, fixed by its place in STRATEGY_NAMES. */
/** A vertical dashed line at the lower bound, as a line-chart dataset from y 0 to 1. */
export function lowerBoundLineDataset(label: string, boundS: number) {
  return {
    label,
    data: [
      { x: boundS, y: 0 },
      { x: boundS, y: 1 },
    ],
    borderColor: LOWER_BOUND_COLOR,
    backgroundColor: LOWER_BOUND_COLOR,
    borderDash: LOWER_BOUND_DASH,
    borderWidth: 2,
    pointRadius: 0,
  };
}

/** Legend entries shared by the makespan charts: the repeat dots and the lower-bound line. */
export function repeatLegendItem(): LegendItem {
  return { text: 'each repeat', fillStyle: '#222', strokeStyle: '#222', lineWidth: 1, pointStyle: 'circle', hidden: false };
}

export function lowerBoundLegendItem(): LegendItem {
  return { text: 'lower bound', fillStyle: LOWER_BOUND_COLOR, strokeStyle: LOWER_BOUND_COLOR, lineWidth: 3, lineDash: [...LOWER_BOUND_DASH], pointStyle: 'line', hidden: false };
}

/** A contender's colour: fragment strategies in their fixed order, `protocol/variant` names after them by a stable hash. */
export function strategyColor(strategy: ContenderName): string {
  const bare = strategy.startsWith('fragments/') ? strategy.slice('fragments/'.length) : strategy;
  const i = (STRATEGY_NAMES as readonly string[]).indexOf(bare);
  if (i >= 0) return PALETTE[i % PALETTE.length]!;
  let h = 0;
  for (const ch of strategy) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[(STRATEGY_NAMES.length + (h % Math.max(1, PALETTE.length - STRATEGY_NAMES.length))) % PALETTE.length]!;
}

/** The i-th palette colour (wrapping), for series that are not strategies, such as compared runs. */
export function paletteColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** `#rrggbb` with an alpha, as rgba(). */
export function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** "scenario-name on netns": the words every chart title starts with. */
export function titlePrefix(results: ScenarioResults): string {
  return `${results.scenario.name} on ${results.backend}`;
}

/** Title options shared by all charts: bold main line. */
export function titleOptions(text: string): { display: true; text: string; font: { size: number; weight: 'bold' }; padding: { top: number; bottom: number } } {
  return { display: true, text, font: { size: 18, weight: 'bold' }, padding: { top: 6, bottom: 4 } };
}

/** Subtitle options: the smaller explanatory line under the title. */
export function subtitleOptions(text: string): { display: true; text: string; font: { size: number }; color: string; padding: { bottom: number } } {
  return { display: true, text, font: { size: 13 }, color: '#555', padding: { bottom: 8 } };
}

/**
 * A vertical dashed line at x = `xValue` (in the x scale's units) across the chart area,
 * with `label` written beside its top end. Nothing is drawn when xValue is not finite.
 */
export function verticalMarkerPlugin(id: string, xValue: number, label: string): Plugin {
  return {
    id,
    afterDatasetsDraw(chart) {
      const xScale = chart.scales['x'];
      if (xScale === undefined || !Number.isFinite(xValue)) return;
      const { top, bottom, right } = chart.chartArea;
      const x = xScale.getPixelForValue(xValue);
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = LOWER_BOUND_COLOR;
      ctx.lineWidth = 2;
      ctx.setLineDash(LOWER_BOUND_DASH);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = LOWER_BOUND_COLOR;
      ctx.font = canvasFont(12, 'bold');
      ctx.textBaseline = 'top';
      const width = ctx.measureText(label).width;
      const leftOfLine = x + 6 + width > right;
      ctx.textAlign = leftOfLine ? 'right' : 'left';
      ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
      ctx.fillRect(leftOfLine ? x - 8 - width : x + 4, top + 2, width + 4, 16);
      ctx.fillStyle = LOWER_BOUND_COLOR;
      ctx.fillText(label, leftOfLine ? x - 6 : x + 6, top + 4);
      ctx.restore();
    },
  };
}

/** A canvas `font` string in the family chart.js uses, for text drawn by plugins. */
export function canvasFont(sizePx: number, weight: 'normal' | 'bold' = 'normal'): string {
  return `${weight} ${sizePx}px ${Chart.defaults.font.family ?? 'sans-serif'}`;
}
