/** `fanout lab`, `fanout doctor`, `fanout clean`. */
import { parseArgs } from 'node:util';
import { runClean, formatCleanReport } from '../lab/clean.js';
import { DryRunCommander, RealCommander, shellQuote } from '../lab/commander.js';
import { NetnsNetwork } from '../lab/netns/backend.js';
import { execInNamespace } from '../lab/netns/commands.js';
import { FANOUT_JS } from '../lab/hosts.js';
import { makeRunPrefix, planNetwork } from '../lab/netns/plan.js';
import { BackendUnavailableError, detectCapabilities, formatDoctor } from '../lab/doctor.js';
import { formatSummaryTable } from '../lab/results/table.js';
import { runLab } from '../lab/run.js';
import { RunError } from '../lab/runner.js';
import { ScenarioError, loadScenario } from '../lab/scenario/index.js';
import type { BackendChoice } from '../lab/types.js';
import { STRATEGY_NAMES, isStrategyName, type StrategyName } from '../sender/strategies/names.js';
import { CliError, EXIT, fail } from './exit.js';

export const LAB_HELP = `Usage: npm run lab -- SCENARIO.yaml [options]     (or: fanout lab SCENARIO.yaml [options])

Builds the scenario's emulated network (one network namespace per receiver, links shaped with
tc HTB), runs the real sender under each strategy the scenario lists, checks every fragment byte
for byte, and writes summary.json, completions.csv, runs.csv and PNG charts.

Options:
  --strategies a,b     run only these (${STRATEGY_NAMES.join(', ')})
  --repeat N           repeats per strategy (default: the scenario's)
  --out DIR            results folder (default results/<scenario>/<UTC timestamp>)
  --backend B          auto | netns | docker | sim (default: the scenario's; auto = netns when root)
  --keep               keep the work folder (source file, received fragments) for inspection
  --dry-run            check the scenario and print every ip/tc command and process the run would
                       start, without touching the kernel (assumes no netem, as on this kernel)
  -h, --help           this text

Exit status: 0 done; 1 a run failed (a receiver failed or a fragment did not verify);
2 invalid input (a bad scenario, flag or backend); 3 a \`check\` in the scenario failed.
Needs root for the netns backend. \`fanout doctor\` says what this machine can do;
\`fanout clean\` removes what a killed run left behind.
`;

/** `--repeat N`: a whole number of at least 1, or undefined when not given. */
export function repeatFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`--repeat: expected a whole number of at least 1, got "${value}"`);
  return Number(value);
}

/** `--backend B`: one of auto, netns, docker, sim, or undefined when not given. */
export function backendFlag(value: string | undefined): BackendChoice | undefined {
  if (value !== undefined && !['auto', 'netns', 'docker', 'sim'].includes(value)) {
    fail(`--backend: expected auto, netns, docker or sim, got "${value}"`);
  }
  return value as BackendChoice | undefined;
}

export async function labCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      strategies: { type: 'string' },
      repeat: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(LAB_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) fail('expected exactly one scenario file (npm run lab -- scenarios/one-slow.yaml)');
  let strategies: StrategyName[] | undefined;
  if (values.strategies !== undefined) {
    const names = values.strategies.split(',').map((s) => s.trim());
    strategies = names.map((s) => (isStrategyName(s) ? s : fail(`--strategies: unknown strategy "${s}" (choose from ${STRATEGY_NAMES.join(', ')})`)));
  }
  const repeat = repeatFlag(values.repeat);
  const backend = backendFlag(values.backend);
  if (values['dry-run']) {
    try {
      process.stdout.write(await dryRunText(positionals[0]!, strategies));
    } catch (err) {
      if (err instanceof ScenarioError) fail(err.message, EXIT.usage);
      throw err;
    }
    return EXIT.ok;
  }
  const tty = process.stderr.isTTY;
  let statusShown = false;
  const status = tty
    ? (line: string): void => {
        process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
        statusShown = true;
      }
    : null;
  const log = (line: string): void => {
    if (statusShown) process.stderr.write('\r\x1b[K');
    statusShown = false;
    process.stderr.write(`${line}\n`);
  };
  let outcome;
  try {
    outcome = await runLab({ scenarioPath: positionals[0]!, strategies, repeat, out: values.out, backend, keep: values.keep, log, status });
  } catch (err) {
    if (err instanceof ScenarioError) fail(err.message, EXIT.usage);
    if (err instanceof BackendUnavailableError) fail(err.message, EXIT.usage);
    if (err instanceof RunError) fail(`the lab run failed: ${err.message}`, EXIT.failed);
    throw err;
  }
  process.stdout.write(`\n${formatSummaryTable(outcome.results)}\n`);
  process.stdout.write(`results: ${outcome.outDir}\n`);
  if (outcome.brokenRuns > 0) throw new CliError(`${outcome.brokenRuns} run(s) had failed or unverified receivers (see completions.csv)`, EXIT.failed);
  if (outcome.checkFailures.length > 0) {
    throw new CliError(`check failed:\n  ${outcome.checkFailures.join('\n  ')}`, EXIT.check);
  }
  return EXIT.ok;
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, strict: true });
  if (values.help) {
    process.stdout.write('Usage: fanout doctor [--json]\n\nProbes root, network namespaces, veth, bridge, htb, netem and a Docker engine (by trying them\nin a throwaway lab namespace), and says which lab backends can run here and why.\n');
    return EXIT.ok;
  }
  const caps = await detectCapabilities(new RealCommander());
  process.stdout.write(values.json ? `${JSON.stringify(caps, null, 2)}\n` : formatDoctor(caps));
  return EXIT.ok;
}

export async function cleanCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'dry-run': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      'Usage: fanout clean [--dry-run] [--force]\n\nRemoves what killed lab runs left behind: the objects in their ledgers (/run/fanout-lab), any\nnamespace named like the lab\'s (fl<4 hex>-...), processes running inside those namespaces, and,\nwhen a Docker engine answers, containers and networks carrying the lab\'s run label. Never\ntouches anything else. A run whose owner is still alive is skipped unless --force.\n',
    );
    return EXIT.ok;
  }
  const report = await runClean(new RealCommander(), { dryRun: values['dry-run'], force: values.force, docker: true });
  process.stdout.write(`${formatCleanReport(report)}\n`);
  return report.errors.length > 0 || report.remaining.length > 0 ? EXIT.failed : EXIT.ok;
}

/** What `--dry-run` prints: the commands, in order, as a shell would run them. */
async function dryRunText(scenarioPath: string, strategies: StrategyName[] | undefined): Promise<string> {
  const t = loadScenario(scenarioPath, { netem: false });
  const lines: string[] = [];
  const sink = { write: (text: string): boolean => (lines.push(text.replace(/\n$/, '')), true) };
  const prefix = makeRunPrefix();
  const plan = planNetwork(t, prefix);
  lines.push(`# scenario ${t.name}: ${t.receivers.length} receivers, run prefix ${prefix} (dry run: nothing is changed)`);
  lines.push('# bring-up and shaping (ip -batch / tc -batch input shown as here-documents), then teardown:');
  await NetnsNetwork.dryRun(t, { commander: new DryRunCommander(sink), prefix });
  lines.push('# per run: one receiver per host, then the sender (the lab verifies every fragment after it):');
  for (const r of plan.receivers) {
    lines.push(shellQuote(execInNamespace(r.ns, ['node', FANOUT_JS, 'receive', '--json', '--listen', `${r.address}:9000`, '--out', `<work>/<strategy>-<repeat>/rx${r.index}`])));
  }
  for (const strategy of strategies ?? t.strategies) {
    lines.push(shellQuote(execInNamespace(plan.sender.ns, ['node', FANOUT_JS, 'send', '--json', '--file', '<work>/src.bin', '--nodes', '<work>/nodes.txt', '--rate-kbps', String(t.transfer.rateKbps), '--strategy', strategy, '--width', String(t.transfer.width)])));
  }
  for (const ev of t.events) lines.push(`# at ${ev.atMs} ms: tc class change for receivers ${ev.receivers.join(',')}${ev.downBps ? ` down ${ev.downBps} bit/s` : ''}${ev.upBps ? ` up ${ev.upBps} bit/s` : ''}`);
  return `${lines.join('\n')}\n`;
}
