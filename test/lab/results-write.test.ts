import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdfTimeAxis } from '../../lab/results/chart-cdf.js';
import {
  cdfChartConfig,
  chartFontFamily,
  makespanChartConfig,
  renderCharts,
  timelineChartConfig,
  timelineChartSize,
  timelineOrder,
} from '../../lab/results/charts.js';
import { defaultResultsDir, resultsTimestamp, writeResults } from '../../lab/results/write.js';
import { STRATEGY_NAMES } from '../../sender/strategies/names.js';
import { sampleLowerBoundS, sampleScenarioResults, tinyResults } from './results-fixtures.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Decodes a PNG and counts dark pixels (text, axes) in a band of rows, plus the corner pixel's RGBA. */
async function inspect(png: Buffer, rowFrom: number, rowTo: number): Promise<{ dark: number; corner: number[] }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const band = ctx.getImageData(0, rowFrom, image.width, rowTo - rowFrom).data;
  let dark = 0;
  for (let i = 0; i < band.length; i += 4) if (band[i]! < 100 && band[i + 1]! < 100 && band[i + 2]! < 100) dark++;
  return { dark, corner: [...ctx.getImageData(0, 0, 1, 1).data] };
}

describe('writeResults', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fanout-results-'));
    ({ files } = await writeResults(tinyResults(), join(dir, 'nested', 'out')));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes exactly the expected files, in order, creating the folder', async () => {
    const out = join(dir, 'nested', 'out');
    const names = ['summary.json', 'completions.csv', 'runs.csv', 'makespan.png', 'cdf.png', 'timeline-round-robin.png', 'timeline-sequential.png'];
    expect(files).toEqual(names.map((n) => join(out, n)));
    expect((await readdir(out)).sort()).toEqual([...names].sort());
  });

  it('summary.json parses back to the whole results', async () => {
    const summary = JSON.parse(await readFile(files[0]!, 'utf8'));
    expect(summary).toEqual(tinyResults());
  });

  it('the CSVs are the csv module output', async () => {
    const completions = await readFile(files[1]!, 'utf8');
    expect(completions.split('\n')).toHaveLength(18);
    expect((await readFile(files[2]!, 'utf8')).split('\n')[0]).toMatch(/^scenario,backend,strategy,repeat,makespan_s,/);
  });

  it('PNGs are valid, of the chart sizes, with plausible byte counts', async () => {
    for (const file of files.filter((f) => f.endsWith('.png'))) {
      const png = await readFile(file);
      expect(pngSize(png)).toEqual({ width: 1000, height: 600 });
      const bytes = (await stat(file)).size;
      expect(bytes).toBeGreaterThan(10_000);
      expect(bytes).toBeLessThan(1_000_000);
    }
  });

  it('charts have a white background and visible title text', async () => {
    expect(chartFontFamily()).not.toBeNull();
    for (const file of files.filter((f) => f.endsWith('.png'))) {
      const { dark, corner } = await inspect(await readFile(file), 5, 32);
      expect(corner).toEqual([255, 255, 255, 255]);
      // The bold title line alone darkens hundreds of pixels; an empty band has none.
      expect(dark, file).toBeGreaterThan(300);
    }
  });

  it('writes only data files when there are no runs', async () => {
    const empty = await writeResults({ ...tinyResults(), runs: [], medians: {} }, join(dir, 'empty'));
    expect(empty.files.map((f) => f.slice(join(dir, 'empty').length + 1))).toEqual(['summary.json', 'completions.csv', 'runs.csv']);
  });
});

describe('defaultResultsDir', () => {
  it('is results/<scenario>/<UTC timestamp to the second, no colons>', () => {
    const date = new Date(Date.UTC(2026, 10, 21, 5, 40, 0, 987));
    expect(resultsTimestamp(date)).toBe('2026-11-21T05-40-00Z');
    expect(defaultResultsDir('two-slow', date)).toBe(join('results', 'two-slow', '2026-11-21T05-40-00Z'));
    expect(defaultResultsDir('two-slow', date, '/var/lab')).toBe('/var/lab/two-slow/2026-11-21T05-40-00Z');
  });
});

describe('chart configurations', () => {
  const results = tinyResults();

  it('makespan: a bar per strategy at its median, a dot per repeat', () => {
    const config = makespanChartConfig(results);
    expect(config.data.labels).toEqual(['round-robin', 'sequential']);
    expect(config.data.datasets[0]?.data).toEqual([4.5, 9]);
    expect(config.data.datasets[1]?.data).toEqual([
      { x: 'round-robin', y: 4 },
      { x: 'round-robin', y: 5 },
      { x: 'sequential', y: 8 },
      { x: 'sequential', y: 10 },
    ]);
  });

  it('cdf: a curve per strategy from its median run, and the lower bound', () => {
    const config = cdfChartConfig(results);
    const labels = config.data.datasets.map((d) => d.label);
    expect(labels).toEqual(['round-robin (4.00 s, repeat 1/2)', 'sequential (8.00 s, repeat 1/2)', 'lower bound (3.20 s)']);
    expect(config.data.datasets[2]?.data).toEqual([
      { x: 3.2, y: 0 },
      { x: 3.2, y: 1 },
    ]);
    expect((config.options?.scales?.['x'] as { type: string }).type).toBe('linear');
  });

  it('cdf time axis turns logarithmic when one curve ends far later than another', () => {
    expect(cdfTimeAxis([4.5, 9], [1, 2])).toEqual({ kind: 'linear' });
    expect(cdfTimeAxis([4.5, 44], [1.3, 1.7])).toEqual({ kind: 'log', minS: 1 });
    expect(cdfTimeAxis([4.5, 44], [0.17, 1.3])).toEqual({ kind: 'log', minS: 0.1 });
    expect(cdfTimeAxis([0.5, 44], [0.25])).toEqual({ kind: 'log', minS: 0.2 });
    expect(cdfTimeAxis([44], [1])).toEqual({ kind: 'linear' });
  });

  it('timeline: rows fastest first, failed receivers marked and drawn to the end of the run', () => {
    const failedRun = { ...results, runs: results.runs.filter((r) => r.strategy === 'sequential' && r.repeat === 2) };
    const config = timelineChartConfig(failedRun, 'sequential');
    expect(config.data.labels).toEqual(['#3  40 Mbit/s', '#1  20 Mbit/s', '#0  10 Mbit/s', '#2  5 Mbit/s  FAILED']);
    const [waiting, transferring, failed] = config.data.datasets.map((d) => d.data);
    expect(waiting?.[3]).toEqual([0.03, 0.05]);
    expect(transferring).toEqual([[0.06, 10], [0.04, 4], [0.03, 2], null]);
    expect(failed).toEqual([null, null, null, [0.05, 10]]);
    expect(() => timelineChartConfig(results, 'static-split')).toThrow('no runs of strategy static-split');
  });

  it('timeline: order ties by index, size grows with receivers', () => {
    const receivers = results.runs[0]!.receivers.map((r) => ({ ...r, downBps: 1e6 }));
    expect(timelineOrder(receivers).map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(timelineChartSize(4)).toEqual({ widthPx: 1000, heightPx: 600 });
    expect(timelineChartSize(64)).toEqual({ widthPx: 1000, heightPx: 1130 });
  });
});

describe('sampleScenarioResults (64 receivers, 5 strategies, one slow node)', () => {
  const sample = sampleScenarioResults();

  it('is deterministic and shaped as asked', () => {
    expect(sampleScenarioResults()).toEqual(sample);
    expect(sample.runs).toHaveLength(5 * 3);
    expect(sample.runs.every((r) => r.receivers.length === 64)).toBe(true);
    expect(Object.keys(sample.medians)).toEqual([...STRATEGY_NAMES]);
  });

  it('the slow node sets the lower bound, and no run beats it', () => {
    const slow = sample.scenario.receivers[41]!;
    expect(slow.downBps).toBe(2e6);
    expect(sampleLowerBoundS(sample.scenario, 1 << 20)).toBeCloseTo((8 * 2 ** 20) / (2e6 * (1448 / 1514)), 9);
    for (const run of sample.runs) expect(run.efficiency).toBeGreaterThanOrEqual(1);
    expect(sample.medians.sequential!.makespanS).toBeGreaterThan(5 * sample.medians.backpressure!.makespanS);
  });

  it('renders every chart; timelines are as tall as 64 rows need', () => {
    const charts = renderCharts(sample);
    expect(charts.map((c) => c.fileName)).toEqual(['makespan.png', 'cdf.png', ...STRATEGY_NAMES.map((s) => `timeline-${s}.png`)]);
    expect(pngSize(charts[0]!.png)).toEqual({ width: 1000, height: 600 });
    expect(pngSize(charts[2]!.png)).toEqual({ width: 1000, height: 1130 });
    expect((cdfChartConfig(sample).options?.scales?.['x'] as { type: string }).type).toBe('logarithmic');
  });
});

describe('timeline sampling (the simulator writes 10,000 receivers)', () => {
  it('draws at most TIMELINE_MAX_ROWS, evenly, always with the last receiver to finish', async () => {
    const { sampleRows, TIMELINE_MAX_ROWS } = await import('../../lab/results/chart-timeline.js');
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      index: i, address: `sim:${i}`, downBps: 1e6, upBps: 1e6, fragmentBytes: 1, bytes: 1,
      startS: 0, firstByteS: 0, doneS: i === 777 ? 99 : 1, verified: false,
    }));
    const s = sampleRows(rows);
    expect(s.length).toBe(TIMELINE_MAX_ROWS);
    expect(s.some((r) => r.index === 777)).toBe(true);
    expect(s.map((r) => r.index)).toEqual([...s.map((r) => r.index)].sort((a, b) => a - b));
    expect(timelineChartSize(10_000).heightPx).toBe(170 + 15 * TIMELINE_MAX_ROWS);
    expect(sampleRows(rows.slice(0, 50)).length).toBe(50);
  });
});
