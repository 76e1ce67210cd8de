/** `fanout lab SWEEP.yaml`: a scenario with `sweep:` (lab/sweep). */
import { labConsole } from './progress.js';
import { BackendUnavailableError, hasTool } from '../lab/doctor.js';
import { RunError } from '../lab/runner.js';
import { ScenarioError } from '../lab/scenario/index.js';
import { loadSweep, pointName } from '../lab/sweep/expand.js';
import { runSweep } from '../lab/sweep/run.js';
import type { BackendChoice } from '../lab/types.js';
import { CliError, EXIT, fail } from './exit.js';

export interface SweepFlags {
  strategies: string[] | undefined;
  repeat: number | undefined;
  out: string | undefined;
  backend: BackendChoice | undefined;
  keep: boolean;
  dryRun: boolean;
}

export async function sweepCommand(scenarioPath: string, f: SweepFlags): Promise<number> {
  if (f.dryRun) {
    let sweep;
    try {
      sweep = loadSweep(scenarioPath, { netem: false, nftables: true, hasTool });
    } catch (err) {
      if (err instanceof ScenarioError) fail(err.message, EXIT.usage);
      throw err;
    }
    const lines = [`# sweep of ${sweep!.spec.param}: ${sweep!.points.length} points, each checked; each runs as this scenario (dry run: nothing is changed)`];
    for (const p of sweep!.points) {
      const t = p.topology;
      lines.push(`# point ${p.index + 1}: ${pointName(sweep!.spec, p.value)}: ${t.receivers.length} receivers, contenders ${t.strategies.join(', ')}, repeat ${t.repeat}`);
      lines.push(p.text.trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  }
  // As `fanout lab`: a live status line on a terminal, progress lines always.
  const { log, status } = labConsole();
  let outcome;
  try {
    outcome = await runSweep({ scenarioPath, strategies: f.strategies, repeat: f.repeat, out: f.out, backend: f.backend, keep: f.keep, log, status });
  } catch (err) {
    if (err instanceof ScenarioError) fail(err.message, EXIT.usage);
    if (err instanceof BackendUnavailableError) fail(err.message, EXIT.usage);
    if (err instanceof RunError) fail(`the lab run failed: ${err.message}`, EXIT.failed);
    throw err;
  }
  process.stdout.write(`\n${outcome.table}\n`);
  process.stdout.write(`results: ${outcome.outDir} (sweep.csv, sweep.json, sweep-makespan.png; one folder per point)\n`);
  if (outcome.brokenRuns > 0) throw new CliError(`${outcome.brokenRuns} run(s) had failed or unverified receivers (see the points' completions.csv)`, EXIT.failed);
  if (outcome.checkFailures.length > 0) throw new CliError(`check failed:\n  ${outcome.checkFailures.join('\n  ')}`, EXIT.check);
  return EXIT.ok;
}
