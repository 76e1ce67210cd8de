/** `fanout lab`, `fanout doctor`, `fanout clean`. */
import { labConsole } from './progress.js';
import { parseArgs } from 'node:util';
import { runClean, formatCleanReport } from '../lab/clean.js';
import { DryRunCommander, RealCommander, shellQuote } from '../lab/commander.js';
import { NetnsNetwork } from '../lab/netns/backend.js';
import { execInNamespace } from '../lab/netns/commands.js';
import { makeRunPrefix, planNetwork } from '../lab/netns/plan.js';
import { BackendUnavailableError, detectCapabilities, formatDoctor } from '../lab/doctor.js';
import { formatSummaryTable } from '../lab/results/table.js';
import { runLab } from '../lab/run.js';
import { RunError } from '../lab/runner.js';
import { ScenarioError, loadScenario } from '../lab/scenario/index.js';
import type { BackendChoice } from '../lab/types.js';
import type { NodeRef, RunContext } from '../lab/protocols/types.js';
import { STRATEGY_NAMES } from '../sender/strategies/names.js';
import { contenderNames, resolveContender } from '../lab/protocols/index.js';
import { impairmentInvocations } from '../lab/netns/backend.js';
import { CliError, EXIT, fail } from './exit.js';
import { isSweepFile } from '../lab/sweep/expand.js';
import { sweepCommand } from './sweep.js';

export const LAB_HELP = `Usage: npm run lab -- SCENARIO.yaml [options]     (or: fanout lab SCENARIO.yaml [options])

Builds the scenario's emulated network (one network namespace per receiver, links shaped with
tc HTB, loss by netem or nftables), runs each contender the scenario lists (a fragment strategy
of fanout send, or a whole-file protocol such as bittorrent/aria2) on it, checks every node's
output byte for byte against the source, and writes summary.json, completions.csv, runs.csv and
PNG charts, each run against its lower bound.

Options:
  --strategies a,b     run only these contenders: fragment strategies (${STRATEGY_NAMES.join(', ')})
                       or protocol/variant names (${contenderNames('whole-file').join(', ')})
  --repeat N           repeats per strategy (default: the scenario's)
  --out DIR            results folder (default results/<scenario>/<UTC timestamp>)
  --backend B          auto | netns | docker | sim (default: the scenario's; auto = netns when root)
  --keep               keep the work folder (source file, received fragments) for inspection
  --dry-run            check the scenario and print every ip/tc command and process the run would
                       start, without touching the kernel (assumes no netem, as on this kernel)
  -h, --help           this text

Exit status: 0 done; 1 a run failed (a receiver failed or its output did not verify);
2 invalid input (a bad scenario, flag or backend, a missing tool); 3 a \`check\` in the scenario failed.
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
  let strategies: string[] | undefined;
  if (values.strategies !== undefined) {
    strategies = values.strategies.split(',').map((s) => s.trim());
    const known = [...STRATEGY_NAMES, ...contenderNames('fragments'), ...contenderNames('whole-file')];
    for (const s of strategies) if (!known.includes(s)) fail(`--strategies: unknown contender "${s}" (choose from ${known.join(', ')})`);
  }
  const repeat = repeatFlag(values.repeat);
  const backend = backendFlag(values.backend);
  if (isSweepFile(positionals[0]!)) return sweepCommand(positionals[0]!, { strategies, repeat, out: values.out, backend, keep: values.keep, dryRun: values['dry-run'] });
  if (values['dry-run']) {
    try {
      process.stdout.write(await dryRunText(positionals[0]!, strategies));
    } catch (err) {
      if (err instanceof ScenarioError) fail(err.message, EXIT.usage);
      throw err;
    }
    return EXIT.ok;
  }
  const { log, status } = labConsole();
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
    process.stdout.write('Usage: fanout doctor [--json]\n\nProbes root, network namespaces, veth, bridge, htb, netem, nftables (random loss) and a Docker\nengine (by trying them in a throwaway lab namespace), says which lab backends can run here and\nwhy, and whether the programs the protocols run (aria2c, opentracker, mktorrent) are installed.\n');
    return EXIT.ok;
  }
  const caps = await detectCapabilities(new RealCommander());
  process.stdout.write(values.json ? `${JSON.stringify(caps, null, 2)}\n` : `${formatDoctor(caps)}\n`);
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
      'Usage: fanout clean [--dry-run] [--force]\n\nRemoves what killed lab runs left behind: the objects in their ledgers (/run/fanout-lab), that is\nthe processes and namespaces they made, and processes still running inside those namespaces; the\nwork folders (<tmp>/fanout-lab-<scenario>-XXXXXX) of labs that are gone; and, when a Docker engine\nanswers, containers and networks carrying the lab\'s run label. A namespace named like the lab\'s\n(fl<4 hex>-...) that no ledger names, and a work folder kept with --keep, are reported, not\nremoved. Never touches anything else. A run whose owner is still alive is skipped unless --force\n(a live lab\'s work folder always is).\n',
    );
    return EXIT.ok;
  }
  const report = await runClean(new RealCommander(), { dryRun: values['dry-run'], force: values.force, docker: true });
  process.stdout.write(`${formatCleanReport(report)}\n`);
  return report.errors.length > 0 || report.remaining.length > 0 ? EXIT.failed : EXIT.ok;
}

/** What `--dry-run` prints: the commands, in order, as a shell would run them. */
async function dryRunText(scenarioPath: string, strategies: string[] | undefined): Promise<string> {
  const t = loadScenario(scenarioPath, { netem: false, nftables: true });
  const lines: string[] = [];
  const sink = { write: (text: string): boolean => (lines.push(text.replace(/\n$/, '')), true) };
  const prefix = makeRunPrefix();
  const contenders = (strategies ?? t.strategies).map((name) => {
    const c = resolveContender(name, t.transfer.job);
    if ('error' in c) fail(`--strategies: ${c.error}`);
    return c;
  });
  const services = [...new Set(contenders.flatMap((c) => c.protocol.services))];
  const plan = planNetwork(t, prefix, services);
  lines.push(`# scenario ${t.name}: ${t.receivers.length} receivers, run prefix ${prefix} (dry run: nothing is changed)`);
  lines.push('# bring-up and shaping (ip -batch / tc -batch input shown as here-documents), then teardown:');
  await NetnsNetwork.dryRun(t, { commander: new DryRunCommander(sink), prefix, services });
  for (const inv of impairmentInvocations(plan, t.receivers, 'nftables')) lines.push(`${shellQuote(inv.argv)} <<'EOF'\n${inv.input ?? ''}EOF`);
  const nsOf = (n: NodeRef): string => (n.role === 'source' ? plan.sender.ns : n.role === 'receiver' ? plan.receivers[n.index]!.ns : plan.services.find((v) => v.service === n.name)!.ns);
  const addrOf = (n: NodeRef): string => (n.role === 'source' ? plan.sender.address : n.role === 'receiver' ? plan.receivers[n.index]!.address : plan.services.find((v) => v.service === n.name)!.address);
  for (const c of contenders) {
    const runDir = `<work>/${c.name.replace(/[^a-zA-Z0-9.-]/g, '_')}-<repeat>`;
    const ctx: RunContext = {
      topology: t, variant: c.variant, contender: c.name, options: t.transfer.options[c.protocol.name], repeat: 1,
      srcFile: '<work>/src.bin', fileBytes: 0, runDir, nodeDir: (i) => `${runDir}/rx${i}`, poolDir: (i) => `<work>/pool-${c.protocol.name}/rx${i}`, address: addrOf, runId: '<run id>',
    };
    lines.push(`# per run of ${c.name}: each phase's programs, every one ready before the next phase (the lab verifies every node's output after):`);
    for (const phase of c.protocol.phases(ctx)) {
      lines.push(`#   phase ${phase.name}`);
      for (const spec of phase.procs) lines.push(shellQuote(execInNamespace(nsOf(spec.node), spec.argv)) + (spec.reuse ? '   # started by the first run, kept for the next ones' : ''));
    }
  }
  for (const ev of t.events) lines.push(`# at ${ev.atMs} ms: tc class change for receivers ${ev.receivers.join(',')}${ev.downBps ? ` down ${ev.downBps} bit/s` : ''}${ev.upBps ? ` up ${ev.upBps} bit/s` : ''}`);
  return `${lines.join('\n')}\n`;
}
