/** `fanout lab-check` (npm run lab:check): the makespan regression gate; see lab/check.ts. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GateInputError, formatGate, runGate } from '../lab/check.js';
import { BackendUnavailableError } from '../lab/doctor.js';
import { runLab } from '../lab/run.js';
import { RunError } from '../lab/runner.js';
import { ScenarioError } from '../lab/scenario/index.js';
import { CliError, EXIT, fail } from './exit.js';
import { backendFlag, repeatFlag } from './lab.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const CHECK_HELP = `Usage: npm run lab:check [-- options]     (or: fanout lab-check [options])

The makespan regression gate. Runs every scenario in scenarios/ci/ that has a \`check\` block on
the best available backend (netns as root, else docker, else the simulator), and compares each
strategy's median efficiency (makespan / lower bound) with the scenario's threshold and with the
committed baseline for that backend in results/baselines/<scenario>.json, plus its margin.

Options:
  --update-baseline    rewrite the baselines (for the backend used) from this run, on purpose,
                       and print each change; the margins already in the files are kept
  --backend B          auto | netns | docker | sim (default auto)
  --repeat N           repeats per strategy (default: the baseline's, else 3 emulated / 1 simulated)
  --scenarios DIR      default scenarios/ci
  --baselines DIR      default results/baselines
  --out DIR            results folders, one per scenario (default results/check/<UTC timestamp>)
  -h, --help           this text

Exit status: 0 no regression; 3 a strategy is worse than its baseline plus margin, or over the
scenario's threshold (the table names it); 1 a run failed; 2 invalid input.
`;

export async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'update-baseline': { type: 'boolean', default: false },
      backend: { type: 'string', default: 'auto' },
      repeat: { type: 'string' },
      scenarios: { type: 'string', default: join(ROOT, 'scenarios', 'ci') },
      baselines: { type: 'string', default: join(ROOT, 'results', 'baselines') },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CHECK_HELP);
    return EXIT.ok;
  }
  const backend = backendFlag(values.backend);
  const repeat = repeatFlag(values.repeat);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  let outcome;
  try {
    outcome = await runGate({
      scenarioDir: values.scenarios,
      baselineDir: values.baselines,
      outDir: values.out ?? join(ROOT, 'results', 'check', stamp),
      backend,
      repeat,
      updateBaseline: values['update-baseline'],
      log,
      runLab,
    });
  } catch (err) {
    if (err instanceof ScenarioError || err instanceof GateInputError || err instanceof BackendUnavailableError) fail(err.message, EXIT.usage);
    if (err instanceof RunError) fail(`a gate run failed: ${err.message}`, EXIT.failed);
    throw err;
  }
  process.stdout.write(`\n${formatGate(outcome.rows)}\n\nresults: ${outcome.resultDirs.join(', ')}\n`);
  if (outcome.changes.length > 0) process.stdout.write(`\nbaselines rewritten:\n  ${outcome.changes.join('\n  ')}\n`);
  if (outcome.brokenRuns > 0) throw new CliError(`${outcome.brokenRuns} run(s) had failed or unverified receivers`, EXIT.failed);
  if (outcome.regressions.length > 0) {
    const names = outcome.regressions.map((r) => `${r.scenario}/${r.strategy} ${r.measured.toFixed(3)} > ${Math.min(r.allowed ?? Infinity, r.threshold ?? Infinity).toFixed(3)}`);
    throw new CliError(`makespan regression: ${names.join('; ')}`, EXIT.check);
  }
  const missing = outcome.rows.filter((r) => r.verdict === 'no baseline');
  if (missing.length > 0) {
    process.stderr.write(`note: ${missing.length} strategy/scenario pair(s) have no baseline for this backend; write them with --update-baseline\n`);
  }
  return EXIT.ok;
}
