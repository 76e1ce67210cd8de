/**
 * Renders a chart.js configuration to PNG bytes in Node, on @napi-rs/canvas (prebuilt, no
 * cairo): no DOM, so chart.js picks its BasicPlatform; animation and responsiveness are off,
 * devicePixelRatio is 1, and a small plugin paints the background white (a PNG is otherwise
 * transparent, black in some viewers).
 *
 * Fonts: the canvas sees the system's fonts, and chart.js asks for Helvetica/Arial, which a
 * server rarely has. We pick a family the canvas really holds (`chartFontFamily`); with none
 * at all, charts still render, without text.
 */
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  LineController,
  LineElement,
  PointElement,
  SubTitle,
  Title,
  type ChartConfiguration,
  type ChartItem,
  type Plugin,
} from 'chart.js';

let registered = false;

/** Families tried in order; the first one the canvas knows wins. */
const PREFERRED_FAMILIES = ['DejaVu Sans', 'Liberation Sans', 'Arial', 'Helvetica', 'Noto Sans', 'Roboto'];

/** The font family charts use, or null when the canvas knows no font at all (text will not show). */
export function chartFontFamily(): string | null {
  const families = GlobalFonts.families.map((f) => f.family);
  for (const wanted of PREFERRED_FAMILIES) if (families.includes(wanted)) return wanted;
  return families.find((f) => !/math|emoji|symbol/i.test(f)) ?? families[0] ?? null;
}

/** A monospaced family the canvas holds (row labels line up in it), or null. */
export function chartMonoFontFamily(): string | null {
  const families = GlobalFonts.families.map((f) => f.family);
  return ['DejaVu Sans Mono', 'Liberation Mono', 'Noto Sans Mono', 'Courier New'].find((f) => families.includes(f)) ?? null;
}

function ensureRegistered(): void {
  if (registered) return;
  Chart.register(
    BarController,
    BarElement,
    LineController,
    LineElement,
    PointElement,
    CategoryScale,
    LinearScale,
    LogarithmicScale,
    Title,
    SubTitle,
    Legend,
  );
  const family = chartFontFamily();
  if (family !== null) Chart.defaults.font.family = family;
  Chart.defaults.font.size = 13;
  Chart.defaults.color = '#222';
  registered = true;
}

/** Paints the whole canvas white before anything else is drawn. */
const whiteBackground: Plugin = {
  id: 'whiteBackground',
  beforeDraw(chart) {
    const ctx = chart.ctx;
    ctx.save();
    ctx.globalCompositeOperation = 'destination-over';
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};

/** A chart's size in pixels. */
export interface ChartSizePx {
  widthPx: number;
  heightPx: number;
}

/** Default size of every chart but tall timelines. */
export const DEFAULT_CHART_SIZE: ChartSizePx = { widthPx: 1000, heightPx: 600 };

/** Renders `config` at `size` and returns the PNG bytes. The chart is destroyed afterwards. */
export function renderChartPng(config: ChartConfiguration, size: ChartSizePx = DEFAULT_CHART_SIZE): Buffer {
  ensureRegistered();
  const canvas = createCanvas(size.widthPx, size.heightPx);
  const ctx = canvas.getContext('2d');
  const chart = new Chart(ctx as unknown as ChartItem, {
    ...config,
    options: {
      ...config.options,
      animation: false,
      responsive: false,
      maintainAspectRatio: false,
      devicePixelRatio: 1,
    },
    plugins: [whiteBackground, ...(config.plugins ?? [])],
  } as ChartConfiguration);
  try {
    chart.draw();
    return canvas.toBuffer('image/png');
  } finally {
    chart.destroy();
  }
}
