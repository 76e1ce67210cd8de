/**
 * Runs a sweep: every point in order, each a whole lab run of the point's scenario (runLab: its own
 * network, built from the point's topology, torn down after), every contender `repeat` times. Each
 * point's results go in `<out>/point-NN-<value>/` as any lab run's; the sweep's own files go in
 * `<out>`: sweep.csv (one row per run with the value), sweep.json (the stats per point and
 * contender) and sweep-makespan.png, rewritten after every point (so a sweep cut short, by a
 * failed run or a signal, keeps the points it finished).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasTool } from '../doctor.js';
import { renderChartPng } from '../results/chart-canvas.js';
import { defaultResultsDir } from '../results/write.js';
import { runLab, type LabOptions } from '../run.js';
import type { ScenarioCaps } from '../scenario/schema.js';
import type { Topology } from '../types.js';
import { loadSweep, pointName, type Sweep } from './expand.js';
import { sweepChartConfig, sweepCsv, sweepStats, sweepTable, type SweepRow, type SweepStat } from './results.js';
import { axisValue } from './schema.js';

export interface SweepOutcome {
  sweep: Sweep;
  outDir: string;
  files: string[];
  stats: SweepStat[];
  table: string;
  brokenRuns: number;
  checkFailures: string[];
}

/** Folder name of a point: `point-03-0.05`. */
export function pointDirName(index: number, value: unknown): string {
  return `point-${String(index + 1).padStart(2, '0')}-${String(value).replace(/[^A-Za-z0-9.%-]/g, '_')}`;
}

export async function runSweep(o: Omit<LabOptions, 'load'>): Promise<SweepOutcome> {
  const log = o.log ?? (() => {});
  // Every point is checked before anything runs (with what the machine may lack assumed present;
  // runLab checks each point again against what this machine can do).
  const sweep = loadSweep(o.scenarioPath, { netem: true, nftables: true, hasTool });
  if (!sweep) throw new Error(`${o.scenarioPath} has no sweep: run it as a plain scenario`);
  const first = sweep.points[0]!.topology;
  const startedAt = new Date();
  const outDir = o.out ?? defaultResultsDir(first.name, startedAt);
  const rows: SweepRow[] = [];
  let backend = '';
  let brokenRuns = 0;
  let files: string[] = [];
  const checkFailures: string[] = [];
  const n = sweep.points.length;
  log(`sweep ${first.name}: ${sweep.spec.param} over ${n} points (${sweep.spec.values.map(String).join(', ')})`);
  for (const p of sweep.points) {
    const dir = join(outDir, pointDirName(p.index, p.value));
    const tag = `[point ${p.index + 1}/${n}: ${pointName(sweep.spec, p.value)}]`;
    log(`${tag} starting`);
    const pointPath = o.scenarioPath;
    const load = (caps: ScenarioCaps) => {
      const again = loadSweep(pointPath, caps);
      return again!.points[p.index]!.topology;
    };
    const outcome = await runLab({
      ...o,
      out: dir,
      load,
      log: (line) => log(`${tag} ${line}`),
      status: o.status ? (line) => o.status!(`${tag} ${line}`) : null,
    });
    backend = outcome.results.backend;
    brokenRuns += outcome.brokenRuns;
    checkFailures.push(...outcome.checkFailures.map((f) => `${pointName(sweep.spec, p.value)}: ${f}`));
    for (const run of outcome.results.runs) rows.push({ value: p.value, x: axisValue(sweep.spec.kind, p.value), run, dir });
    const here = sweepStats(sweep.spec, rows).filter((s) => s.value === p.value);
    log(`${tag} done: ${here.map((s) => `${s.contender} median ${s.medianS.toFixed(2)} s (bound ${s.boundS.toFixed(2)} s)`).join('; ')}`);
    // Written after every point (the points so far), so a sweep cut short keeps what it measured.
    files = await writeSweep(outDir, first, backend, sweep, rows, startedAt, o.repeat ?? first.repeat, p.index + 1);
  }
  const stats = sweepStats(sweep.spec, rows);
  return { sweep, outDir, files, stats, table: sweepTable(sweep.spec, stats), brokenRuns, checkFailures };
}

/** sweep.csv, sweep.json and sweep-makespan.png for the rows so far (`done` of the sweep's points). */
async function writeSweep(outDir: string, first: Topology, backend: string, sweep: Sweep, rows: SweepRow[], startedAt: Date, repeats: number, done: number): Promise<string[]> {
  const stats = sweepStats(sweep.spec, rows);
  await mkdir(outDir, { recursive: true });
  const simulated = backend === 'sim';
  const partial = done < sweep.points.length ? `; ${done} of ${sweep.points.length} points so far` : '';
  const note = `${backend}${simulated ? ' (SIMULATED)' : ''}; line = median of ${repeats} run(s) per point, bar = min-max, dashed = lower bound${partial}`;
  const files: string[] = [];
  const put = async (name: string, data: string | Buffer): Promise<void> => {
    const path = join(outDir, name);
    await writeFile(path, data);
    files.push(path);
  };
  await put('sweep.csv', sweepCsv(first.name, backend, sweep.spec, rows));
  await put('sweep.json', `${JSON.stringify({ scenario: first.name, description: first.description, backend, param: sweep.spec.param, values: sweep.spec.values, pointsDone: done, startedAt: startedAt.toISOString(), stats }, null, 2)}\n`);
  await put('sweep-makespan.png', renderChartPng(sweepChartConfig(`${first.name}: makespan against ${sweep.spec.label}`, sweep.spec, stats, note)));
  return files;
}
