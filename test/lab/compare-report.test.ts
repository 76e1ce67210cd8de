/**
 * `fanout compare --out`: the report folder (CSV, JSON, PNG charts, one self-contained HTML
 * page), written whole or not at all; and the page as a person sees it, rendered by a real
 * browser (Debian's chromium, headless) and checked in its screenshot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CDF_PANEL_SIZE, renderCompareCharts } from '../../lab/compare/charts.js';
import { TABLE_HEADER_BG } from '../../lab/compare/html.js';
import { loadFolders, type LoadedFolder } from '../../lab/compare/load.js';
import { buildComparison, type Comparison } from '../../lab/compare/model.js';
import { CompareOutputError, writeComparisonReport } from '../../lab/compare/write.js';
import { paletteColor } from '../../lab/results/chart-style.js';
import { fixtureDir, samplePair, type FixtureDir } from './compare-fixtures.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const OPTS = { generatedAt: '2026-11-21T08:00:00.000Z', command: 'fanout compare A B --out report' };

let fx: FixtureDir;
let folders: LoadedFolder[];
let comparison: Comparison;
let out: string;
let files: string[];

beforeAll(async () => {
  fx = await fixtureDir('fanout-compare-report-');
  const [a, b] = samplePair();
  folders = await loadFolders([await fx.write('one-slow/A', a), await fx.write('one-slow/B', b)]);
  comparison = buildComparison(folders);
  out = join(fx.root, 'report');
  ({ files } = await writeComparisonReport(comparison, folders, out, OPTS));
});
afterAll(async () => {
  await fx.remove();
});

/** Decoded pixels of a PNG. */
async function pixels(png: Buffer): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  return { width: image.width, height: image.height, data: ctx.getImageData(0, 0, image.width, image.height).data };
}

/** `#rrggbb` drawn at `alpha` over white, as the charts' translucent bars appear. */
function overWhite(hex: string, alpha: number): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => Math.round(255 - alpha * (255 - c))) as [number, number, number];
}

/** Pixels within `tol` of `rgb` in each channel, in rows [fromY, toY). */
function countNear(img: { width: number; data: Uint8ClampedArray }, rgb: readonly number[], tol: number, fromY = 0, toY = Infinity): number {
  let n = 0;
  const start = fromY * img.width * 4;
  const end = Math.min(img.data.length, toY * img.width * 4);
  for (let i = start; i < end; i += 4) {
    if (Math.abs(img.data[i]! - rgb[0]!) <= tol && Math.abs(img.data[i + 1]! - rgb[1]!) <= tol && Math.abs(img.data[i + 2]! - rgb[2]!) <= tol) n++;
  }
  return n;
}

describe('writeComparisonReport', () => {
  it('writes the CSV, the JSON, two charts per scenario and the page, the page last, and no temporary file', async () => {
    const names = ['comparison.csv', 'comparison.json', 'makespan-sample-64-one-slow.png', 'cdf-sample-64-one-slow.png', 'report.html'];
    expect(files).toEqual(names.map((n) => join(out, n)));
    expect((await readdir(out)).sort()).toEqual([...names].sort());
  });

  it('charts are real PNGs: the makespan chart shows both runs\u2019 bars, the CDF has a panel per strategy', async () => {
    const makespan = await pixels(await readFile(join(out, 'makespan-sample-64-one-slow.png')));
    expect([makespan.width, makespan.height]).toEqual([1000, 620]);
    // The bars are the runs' colours at 75 % over white; both runs appear.
    expect(countNear(makespan, overWhite(paletteColor(0), 0.75), 3)).toBeGreaterThan(2000);
    expect(countNear(makespan, overWhite(paletteColor(1), 0.75), 3)).toBeGreaterThan(2000);
    const cdfPng = await readFile(join(out, 'cdf-sample-64-one-slow.png'));
    expect(cdfPng.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    const cdf = await pixels(cdfPng);
    // 5 strategies: two panels to a row, three rows, under a 70 px title band.
    expect([cdf.width, cdf.height]).toEqual([2 * CDF_PANEL_SIZE.widthPx, 70 + 3 * CDF_PANEL_SIZE.heightPx]);
    // Every row of panels has curves of both runs (full colour).
    for (let row = 0; row < 3; row++) {
      const y0 = 70 + row * CDF_PANEL_SIZE.heightPx;
      for (const i of [0, 1]) {
        const rgb = overWhite(paletteColor(i), 1);
        expect(countNear(cdf, rgb, 10, y0, y0 + CDF_PANEL_SIZE.heightPx), `panel row ${row}, run ${i}`).toBeGreaterThan(80);
      }
    }
  });

  it('the page is self-contained: no script, no external reference, every image an embedded PNG of the charts', async () => {
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|<iframe|url\(|@import|https?:\/\//i);
    const srcs = [...html.matchAll(/<img src="([^"]*)"/g)].map((m) => m[1]!);
    expect(srcs).toHaveLength(2);
    for (const [i, src] of srcs.entries()) {
      expect(src.startsWith('data:image/png;base64,')).toBe(true);
      const png = Buffer.from(src.slice('data:image/png;base64,'.length), 'base64');
      expect(png.equals(await readFile(files[2 + i]!))).toBe(true);
    }
    expect(html).toContain('<td class="strategy" rowspan="2">probe-prioritise</td>');
    expect(html).toContain('<b>A</b> (reference)');
    expect(html).toContain('fanout compare A B --out report');
    // B's probe-prioritise is 3 % faster: shown green, B's sequential 4 % slower: red.
    expect(html).toMatch(/<td class="num better">-0\.\d+ \(-3\.0%\)<\/td>/);
    expect(html).toMatch(/<td class="num worse">\+\d\.\d+ \(\+4\.0%\)<\/td>/);
  });

  it('escapes what it shows', async () => {
    const [a] = samplePair();
    a.warnings = ['<b>loud</b> & "quoted"'];
    const dir = await fx.write('weird/<A>', a);
    const f = await loadFolders([dir, folders[1]!.dir]);
    const o = join(fx.root, 'weird-report');
    await writeComparisonReport(buildComparison(f), f, o, OPTS);
    const html = await readFile(join(o, 'report.html'), 'utf8');
    expect(html).toContain('&lt;b&gt;loud&lt;/b&gt; &amp; &quot;quoted&quot;');
    expect(html).toContain('<b>&lt;A&gt;</b> (reference)');
    expect(html).not.toContain('<A>');
  });

  it('an --out that cannot be written is an error, and leaves neither a page nor temporary files', async () => {
    const blocker = join(fx.root, 'a-file');
    await writeFile(blocker, 'not a folder');
    await expect(writeComparisonReport(comparison, folders, join(blocker, 'report'), OPTS)).rejects.toThrow(CompareOutputError);
    await expect(writeComparisonReport(comparison, folders, blocker, OPTS)).rejects.toThrow(/--out .*a-file: cannot create the folder/);
    // Under /proc mkdir answers ENOENT though the parent exists (Node 20's recursive mkdir spins on that forever).
    if (existsSync('/proc/self')) {
      await expect(writeComparisonReport(comparison, folders, `/proc/fanout-compare-${process.pid}/x`, OPTS)).rejects.toThrow(/cannot create the folder \(ENOENT/);
    }
    // A folder whose report.html name is taken by a folder: the rename of the page fails after the others.
    const taken = join(fx.root, 'taken');
    await mkdir(join(taken, 'report.html', 'inside'), { recursive: true });
    await expect(writeComparisonReport(comparison, folders, taken, OPTS)).rejects.toThrow(/cannot write the report/);
    const left = await readdir(taken);
    expect(left.filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(taken, 'report.html', 'inside'))).toBe(true);
  });
});

/** The chromium binary on PATH (Debian: package chromium), or null. */
function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
      const path = join(dir, name);
      if (dir !== '' && existsSync(path)) return path;
    }
  }
  return null;
}

const CHROMIUM = findChromium();
const SHOT = { width: 1400, height: 2000 };

describe('report.html in a real browser', () => {
  it.skipIf(CHROMIUM === null)(
    'chromium renders the tables and the embedded charts (skipped without chromium: apt-get install chromium)',
    async () => {
      const shot = join(fx.root, 'shot.png');
      const r = spawnSync(
        CHROMIUM!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--hide-scrollbars',
          '--no-first-run',
          `--user-data-dir=${join(fx.root, 'chromium-profile')}`,
          `--screenshot=${shot}`,
          `--window-size=${SHOT.width},${SHOT.height}`,
          pathToFileURL(join(out, 'report.html')).href,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, `chromium exited ${r.status} (${r.signal ?? 'no signal'}): ${r.stderr.slice(-2000)}`).toBe(0);
      const img = await pixels(await readFile(shot));
      expect([img.width, img.height]).toEqual([SHOT.width, SHOT.height]);
      // Not blank: plenty of non-white pixels, and dark text.
      const white = countNear(img, [255, 255, 255], 2);
      expect(white).toBeLessThan(img.width * img.height * 0.95);
      expect(countNear(img, [34, 34, 34], 40)).toBeGreaterThan(5000);
      // The tables: their header background, in the top part of the page.
      const headerRgb = [1, 3, 5].map((i) => Number.parseInt(TABLE_HEADER_BG.slice(i, i + 2), 16));
      expect(countNear(img, headerRgb, 2, 0, 700)).toBeGreaterThan(10_000);
      // The embedded makespan chart was decoded and drawn: both runs' bar colours, which the HTML itself never uses.
      expect(countNear(img, overWhite(paletteColor(0), 0.75), 4)).toBeGreaterThan(1500);
      expect(countNear(img, overWhite(paletteColor(1), 0.75), 4)).toBeGreaterThan(1500);
    },
  );
});

describe('renderCompareCharts', () => {
  it('names charts per scenario, file-name safe', async () => {
    const charts = await renderCompareCharts(comparison, folders);
    expect(charts.map((c) => [c.kind, c.fileName])).toEqual([
      ['makespan', 'makespan-sample-64-one-slow.png'],
      ['cdf', 'cdf-sample-64-one-slow.png'],
    ]);
  });
});
