/**
 * Is the simulator right? For each shipped scenario and strategy, the simulated makespan against
 * the median makespan measured on the emulated network (netns), as a ratio; a row misses when the
 * two differ by more than VALIDATION_TOLERANCE.
 *
 * The emulated figures come from a reference file (lab/sim/netns-reference.json, committed, made
 * from real `npm run lab -- ... --backend netns` results folders with --update-reference), so the
 * check runs anywhere in seconds; pass results folders to compare against fresh runs instead.
 *
 * An emulated run the lab's fidelity guard flagged (the programs starved of CPU) is void: its
 * makespan measures the machine, not the network the simulator models. The median is over the
 * other runs; with none left the row is printed as void and is neither a match nor a miss.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContenderName } from '../types.js';
import { resolveContender } from '../protocols/index.js';
import { median } from '../results/stats.js';
import { loadScenario } from '../scenario/index.js';
import { isSweepFile } from '../sweep/expand.js';
import type { ScenarioResults } from '../types.js';

export const VALIDATION_TOLERANCE = 0.1;

export interface ReferenceEntry {
  /** Median makespan over the emulated repeats the fidelity guard did not flag, s (null: all were flagged). */
  makespanS: number | null;
  /** Every repeat's makespan, s, flagged ones included. */
  runsS: number[];
  /** Of runsS, the ones flagged CPU-starved (absent in references made before this was recorded: none). */
  starvedS?: number[];
  lowerBoundS: number;
}

export interface Reference {
  /** Where the figures come from: backend, machine, commit, date. */
  source: { backend: string; gitCommit: string | null; kernel: string; cpus: number; startedAt: string }[];
  scenarios: Record<string, Partial<Record<ContenderName, ReferenceEntry>>>;
}

export class ValidationInputError extends Error {
  override readonly name = 'ValidationInputError';
}

/** Every summary.json at `dir` or one level below it (a results folder, or a folder of them). */
export function findSummaries(dir: string): string[] {
  if (!existsSync(dir)) throw new ValidationInputError(`${dir} does not exist`);
  const direct = join(dir, 'summary.json');
  if (existsSync(direct)) return [direct];
  const out = readdirSync(dir)
    .map((d) => join(dir, d, 'summary.json'))
    .filter((p) => existsSync(p) && statSync(p).isFile());
  if (out.length === 0) throw new ValidationInputError(`no summary.json in ${dir} or its sub-folders (a results folder from npm run lab)`);
  return out;
}

/** A reference from emulated results folders (simulated ones are refused). */
export function referenceFromResults(summaryPaths: readonly string[]): Reference {
  const ref: Reference = { source: [], scenarios: {} };
  for (const p of summaryPaths) {
    let r: ScenarioResults;
    try {
      r = JSON.parse(readFileSync(p, 'utf8')) as ScenarioResults;
    } catch (err) {
      throw new ValidationInputError(`${p}: not a readable summary.json (${(err as Error).message})`);
    }
    if (r.backend === 'sim' || r.simulated) throw new ValidationInputError(`${p} is a simulated run: the reference must come from an emulated network`);
    if (!r.scenario?.name || !Array.isArray(r.runs)) throw new ValidationInputError(`${p}: not a lab summary (no scenario name or runs)`);
    ref.source.push({ backend: r.backend, gitCommit: r.environment.gitCommit, kernel: r.environment.kernel, cpus: r.environment.cpus, startedAt: r.startedAt });
    const entries: Partial<Record<ContenderName, ReferenceEntry>> = {};
    for (const strategy of new Set(r.runs.map((x) => x.strategy))) {
      const runs = r.runs.filter((x) => x.strategy === strategy && x.failedReceivers === 0);
      if (runs.length === 0) continue;
      const fair = runs.filter((x) => !x.fidelity?.starved);
      entries[strategy] = {
        makespanS: fair.length > 0 ? median(fair.map((x) => x.makespanS)) : null,
        runsS: runs.map((x) => x.makespanS),
        starvedS: runs.filter((x) => x.fidelity?.starved).map((x) => x.makespanS),
        lowerBoundS: runs[0]!.lowerBoundS,
      };
    }
    ref.scenarios[r.scenario.name] = entries;
  }
  return ref;
}

export interface ValidationRow {
  scenario: string;
  strategy: ContenderName;
  simulatedS: number;
  /** Median of the emulated runs not flagged as starved; null when every one was (a void row). */
  emulatedS: number | null;
  /** simulated / emulated (null: void) */
  ratio: number | null;
  /** Within the tolerance (a void row is not ok and not a miss). */
  ok: boolean;
  /** Emulated runs flagged CPU-starved, and runs in all. */
  starved: number;
  runs: number;
}

/** Rows that compare and differ beyond the tolerance. */
export function misses(rows: readonly ValidationRow[]): ValidationRow[] {
  return rows.filter((r) => r.ratio !== null && !r.ok);
}

/** Simulates every scenario file and strategy that the reference has figures for. */
export function validate(scenarioPaths: readonly string[], ref: Reference, tolerance = VALIDATION_TOLERANCE): ValidationRow[] {
  const rows: ValidationRow[] = [];
  for (const path of scenarioPaths) {
    // A sweep is many scenarios, none of them in the reference by its file's name.
    if (isSweepFile(path)) continue;
    // Loss is simulated as capacity scaled by (1 - p) whatever the kernel would shape it with.
    const t = loadScenario(path, { netem: false, nftables: true });
    const emulated = ref.scenarios[t.name];
    if (!emulated) continue;
    for (const strategy of t.strategies) {
      const e = emulated[strategy];
      if (!e) continue;
      const c = resolveContender(strategy, t.transfer.job);
      if ('error' in c || !c.protocol.simulate) continue;
      const sim = c.protocol.simulate(t, c.variant, strategy, 1, t.sim ?? {});
      const ratio = e.makespanS === null ? null : sim.makespanS / e.makespanS;
      const base = { scenario: t.name, strategy, simulatedS: sim.makespanS, emulatedS: e.makespanS, starved: e.starvedS?.length ?? 0, runs: e.runsS.length };
      rows.push({ ...base, ratio, ok: ratio !== null && Math.abs(ratio - 1) <= tolerance });
    }
  }
  return rows;
}

export function formatValidation(rows: readonly ValidationRow[], tolerance = VALIDATION_TOLERANCE): string {
  const lines = [
    `simulated makespan against the median emulated (netns) makespan; a row misses beyond ±${(tolerance * 100).toFixed(0)} %`,
    '',
    'scenario         strategy               simulated s  emulated s   ratio',
    '-------------------------------------------------------------------------',
  ];
  for (const r of rows) {
    const flagged = r.starved > 0 ? `  (${r.starved} of ${r.runs} emulated runs starved${r.ratio === null ? ': void' : ', left out'})` : '';
    lines.push(
      `${r.scenario.padEnd(16)} ${r.strategy.padEnd(21)} ${r.simulatedS.toFixed(2).padStart(11)} ${(r.emulatedS === null ? '-' : r.emulatedS.toFixed(2)).padStart(11)} ${(r.ratio === null ? '-' : r.ratio.toFixed(3)).padStart(7)}${r.ratio !== null && !r.ok ? '  MISS' : ''}${flagged}`,
    );
  }
  const compared = rows.filter((r) => r.ratio !== null);
  const worst = compared.reduce((a, r) => Math.max(a, Math.abs(r.ratio! - 1)), 0);
  const voids = rows.length - compared.length;
  lines.push(
    '',
    `${compared.length} rows compared, ${misses(rows).length} miss(es); largest difference ${(worst * 100).toFixed(1)} %` +
      (voids > 0 ? `; ${voids} void (every emulated run starved of CPU: not comparable)` : ''),
  );
  return lines.join('\n');
}
