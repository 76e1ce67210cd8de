/**
 * Writes a comparison report folder:
 *
 *   comparison.csv                one row per scenario, strategy and run (lab/compare/csv.ts)
 *   comparison.json               the comparison as data (as `fanout compare --json` prints it)
 *   makespan-<scenario>.png       per scenario (lab/compare/charts.ts)
 *   cdf-<scenario>.png
 *   report.html                   all of the above in one self-contained page, written last
 *
 * Everything is rendered in memory first, then each file is written under a temporary name in
 * the folder and renamed into place, report.html last: a failure part-way leaves no new file
 * under its final name that was not written whole, and never a report.html for a half-written
 * set. Files of the same names from an earlier report are replaced; other files are left alone.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { renderCompareCharts } from './charts.js';
import { comparisonCsv } from './csv.js';
import { comparisonHtml, type HtmlOptions } from './html.js';
import type { LoadedFolder } from './load.js';
import { comparisonJson, type Comparison } from './model.js';

/** The report folder could not be created or written. The message is for the user. */
export class CompareOutputError extends Error {
  override readonly name = 'CompareOutputError';
}

export const REPORT_HTML = 'report.html';

export interface WrittenReport {
  /** Paths written, in the order above (report.html last). */
  files: string[];
  warnings: string[];
}

/** Renders and writes the report for `c` (built from `folders`) into `outDir`. */
export async function writeComparisonReport(
  c: Comparison,
  folders: readonly LoadedFolder[],
  outDir: string,
  opts: Omit<HtmlOptions, 'warnings'>,
): Promise<WrittenReport> {
  const warnings: string[] = [];
  const charts = await renderCompareCharts(c, folders, warnings);
  const contents: [string, string | Buffer][] = [
    ['comparison.csv', comparisonCsv(c)],
    ['comparison.json', `${JSON.stringify(comparisonJson(c), null, 2)}\n`],
    ...charts.map((ch): [string, Buffer] => [ch.fileName, ch.png]),
    [REPORT_HTML, comparisonHtml(c, charts, { ...opts, warnings })],
  ];

  try {
    await ensureDir(outDir);
  } catch (err) {
    throw new CompareOutputError(`--out ${outDir}: cannot create the folder (${(err as Error).message})`);
  }
  const suffix = `.tmp-${process.pid}-${Date.now().toString(36)}`;
  const temps: string[] = [];
  try {
    for (const [name] of contents) temps.push(join(outDir, `.${name}${suffix}`));
    for (let i = 0; i < contents.length; i++) await writeFile(temps[i]!, contents[i]![1]);
    const files: string[] = [];
    for (let i = 0; i < contents.length; i++) {
      const path = join(outDir, contents[i]![0]);
      await rename(temps[i]!, path);
      files.push(path);
    }
    return { files, warnings };
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true }).catch(() => undefined)));
    throw new CompareOutputError(`--out ${outDir}: cannot write the report (${(err as Error).message})`);
  }
}

/**
 * `mkdir -p` that always ends. Node 20's `mkdir(path, { recursive: true })` spins forever when
 * the kernel answers ENOENT for a folder whose parent exists (under /proc, say); here each
 * level is tried once, so that answer becomes an error.
 */
async function ensureDir(dir: string): Promise<void> {
  const path = resolve(dir);
  try {
    await mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!(await stat(path)).isDirectory()) throw new Error(`${path} exists and is not a folder`);
      return;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw err;
    await ensureDir(parent);
    await mkdir(path);
  }
}
