/**
 * Fixtures for `fanout compare` tests: results folders written with the lab's own writeResults
 * from hand-made ScenarioResults (test/lab/results-fixtures.ts), never by running the lab.
 *
 * `fasterTiny(f)` is tinyResults() with every time (makespan, efficiency, completions) scaled
 * by f, so each difference from tinyResults() is known: (f - 1) x the reference figure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeMedians } from '../../lab/results/stats.js';
import { writeResults } from '../../lab/results/write.js';
import type { ScenarioResults } from '../../lab/types.js';
import { sampleScenarioResults, tinyResults } from './results-fixtures.js';

/** tinyResults() with all times scaled by `factor` and the given commit. */
export function fasterTiny(factor: number, gitCommit = 'def4567890abcdef'): ScenarioResults {
  const r = tinyResults();
  for (const run of r.runs) {
    run.makespanS *= factor;
    run.efficiency = run.makespanS / run.lowerBoundS;
    for (const rx of run.receivers) if (rx.doneS !== null) rx.doneS *= factor;
  }
  r.medians = computeMedians(r.runs);
  r.environment = { ...r.environment, gitCommit };
  return r;
}

/** A pair of plausible 64-receiver results of one scenario: B's probe-prioritise 3 % faster, B's sequential 4 % slower. */
export function samplePair(): [ScenarioResults, ScenarioResults] {
  const a = sampleScenarioResults({ seed: 7, repeats: 3 });
  a.environment = { ...a.environment, gitCommit: 'ac3cf24' + '0'.repeat(33) };
  const b = structuredClone(a);
  b.environment = { ...b.environment, gitCommit: 'b7e19d2' + '0'.repeat(33) };
  b.startedAt = '2026-11-21T07:10:00.000Z';
  for (const run of b.runs) {
    const f = run.strategy === 'probe-prioritise' ? 0.97 : run.strategy === 'sequential' ? 1.04 : 1 + 0.003 * run.repeat;
    run.makespanS *= f;
    run.efficiency = run.makespanS / run.lowerBoundS;
    for (const rx of run.receivers) if (rx.doneS !== null) rx.doneS *= f;
  }
  b.medians = computeMedians(b.runs);
  return [a, b];
}

/** A temporary folder and a way to write results folders into it. */
export interface FixtureDir {
  root: string;
  /** Writes `results` as a results folder at root/rel and returns its path. */
  write(rel: string, results: ScenarioResults): Promise<string>;
  remove(): Promise<void>;
}

export async function fixtureDir(prefix: string): Promise<FixtureDir> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  return {
    root,
    async write(rel, results) {
      const dir = join(root, rel);
      await writeResults(results, dir);
      return dir;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
