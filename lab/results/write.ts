/**
 * Writes a results folder:
 *
 *   summary.json             the whole ScenarioResults, pretty-printed
 *   completions.csv          one row per strategy, repeat and receiver
 *   runs.csv                 one row per run
 *   makespan.png, cdf.png    charts over all strategies
 *   timeline-<strategy>.png  one per strategy
 *
 * The folder is created if missing; files already in it with these names are replaced.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScenarioResults } from '../types.js';
import { renderCharts } from './charts.js';
import { completionsCsv, runsCsv } from './csv.js';

/** What `writeResults` wrote, and anything a reader should know about it. */
export interface WrittenResults {
  /** Paths of the files written (outDir joined with the name), in the order above. */
  files: string[];
  /** Problems that did not stop the writing (e.g. no font for chart text). */
  warnings: string[];
}

/** Writes summary.json, the CSVs and the PNG charts for `results` into `outDir`. */
export async function writeResults(results: ScenarioResults, outDir: string): Promise<WrittenResults> {
  await mkdir(outDir, { recursive: true });
  const warnings: string[] = [];
  const contents: [string, string | Buffer][] = [
    ['summary.json', `${JSON.stringify(results, null, 2)}\n`],
    ['completions.csv', completionsCsv(results)],
    ['runs.csv', runsCsv(results)],
    ...renderCharts(results, warnings).map((c): [string, Buffer] => [c.fileName, c.png]),
  ];
  const files: string[] = [];
  for (const [name, data] of contents) {
    const path = join(outDir, name);
    await writeFile(path, data);
    files.push(path);
  }
  return { files, warnings };
}

/** "2026-11-21T05-40-00Z": a UTC timestamp to the second, safe in file names on every OS. */
export function resultsTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

/** `<root>/<scenario>/<UTC timestamp>`, e.g. results/two-slow/2026-11-21T05-40-00Z (root defaults to "results"). */
export function defaultResultsDir(scenarioName: string, date: Date = new Date(), root = 'results'): string {
  return join(root, scenarioName, resultsTimestamp(date));
}
