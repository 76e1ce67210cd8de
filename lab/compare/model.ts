/**
 * The comparison itself, as plain data: results folders grouped by scenario, and per scenario a
 * row per strategy with one cell per folder (run) holding its figures and its difference from
 * the scenario's reference run.
 *
 * Figures of one strategy in one run, each over the run's repeats (the lab's own methods,
 * lab/results/stats.ts):
 *   makespanS    median makespan, s
 *   efficiency   median of makespan / lower bound
 *   p50S, p95S   median over repeats of each repeat's nearest-rank p50 / p95 receiver
 *                completion, s (Infinity when more than 50 % / 5 % of a repeat's receivers failed)
 *   lowerBoundS  median lower bound, s
 * Medians are recomputed from the runs, not read from the summary's `medians`.
 *
 * The reference of a scenario is the first folder given that holds it (for a comparison of one
 * scenario: the first folder). A difference is `run - reference` (absolute, in the figure's
 * unit) and that over the reference in percent; it is null when either side is missing or
 * not finite (a percentage also when the reference is 0).
 */
import type { ContenderName } from '../types.js';
import type { BackendName, ScenarioResults } from '../types.js';
import { completionPercentileS, computeMedians, median, runsOf, strategiesOf } from '../results/stats.js';
import type { LoadedFolder } from './load.js';

/** One results folder as the comparison names it. */
export interface RunInfo {
  /** Short unique name (from the folder). */
  name: string;
  /** The folder as given. */
  dir: string;
  scenario: string;
  backend: BackendName;
  gitCommit: string | null;
  startedAt: string | null;
  /** The warnings the lab recorded in the summary. */
  warnings: string[];
}

/** One strategy's figures in one run (over its repeats). */
export interface Figures {
  repeats: number;
  makespanS: number;
  efficiency: number;
  p50S: number;
  p95S: number;
  lowerBoundS: number;
  /** Failed receivers summed over repeats. */
  failedReceivers: number;
  /** Receivers summed over repeats. */
  receivers: number;
}

/** A difference from the reference: absolute (in the figure's unit) and percent of the reference. */
export interface Delta {
  abs: number | null;
  pct: number | null;
}

/** The figures compared with the reference. */
export type FigureKey = 'makespanS' | 'efficiency' | 'p50S' | 'p95S';
export const FIGURE_KEYS: readonly FigureKey[] = ['makespanS', 'efficiency', 'p50S', 'p95S'];

export interface Cell {
  /** The run's name. */
  run: string;
  /** Null when this run has no repeat of the strategy. */
  figures: Figures | null;
  /** Null for the reference itself, or when either side lacks the strategy. */
  delta: Record<FigureKey, Delta> | null;
}

export interface StrategyRow {
  strategy: ContenderName;
  /** One per run of the scenario, reference first, then in the order given. */
  cells: Cell[];
}

export interface ScenarioComparison {
  scenario: string;
  /** Name of the reference run. */
  reference: string;
  /** Names of the runs of this scenario, reference first. */
  runs: string[];
  /** Receivers in the reference's scenario. */
  receivers: number;
  rows: StrategyRow[];
  /** Things a reader should know (different scenario definitions, only one run, ...). */
  notes: string[];
}

export interface Comparison {
  /** Name of the first folder given. */
  reference: string;
  runs: RunInfo[];
  scenarios: ScenarioComparison[];
}

/** The figures of one strategy over its repeats; undefined when the run has none. */
export function strategyFigures(results: ScenarioResults, strategy: ContenderName): Figures | undefined {
  const runs = runsOf(results.runs, strategy);
  if (runs.length === 0) return undefined;
  const m = computeMedians(runs)[strategy]!;
  return {
    repeats: runs.length,
    makespanS: m.makespanS,
    efficiency: m.efficiency,
    p50S: median(runs.map((r) => completionPercentileS(r, 50))),
    p95S: median(runs.map((r) => completionPercentileS(r, 95))),
    lowerBoundS: m.lowerBoundS,
    failedReceivers: runs.reduce((sum, r) => sum + r.failedReceivers, 0),
    receivers: runs.reduce((sum, r) => sum + r.receivers.length, 0),
  };
}

/** `value - reference` and its percentage of the reference; nulls where not defined. */
export function delta(value: number, reference: number): Delta {
  if (!Number.isFinite(value) || !Number.isFinite(reference)) return { abs: null, pct: null };
  const abs = value - reference;
  return { abs, pct: reference === 0 ? null : (abs / reference) * 100 };
}

/** Top-level scenario fields whose difference changes what a run measures. */
const SCENARIO_FIELDS = ['file', 'transfer', 'receivers', 'sender', 'events', 'seed'] as const;

/** The scenario fields (of SCENARIO_FIELDS) in which two runs' scenarios differ. */
export function scenarioDifferences(a: ScenarioResults, b: ScenarioResults): string[] {
  return SCENARIO_FIELDS.filter((k) => JSON.stringify(a.scenario[k]) !== JSON.stringify(b.scenario[k]));
}

function runInfo(folder: LoadedFolder): RunInfo {
  const r = folder.results;
  return {
    name: folder.name,
    dir: folder.dir,
    scenario: r.scenario.name,
    backend: r.backend,
    gitCommit: r.environment?.gitCommit ?? null,
    startedAt: r.startedAt ?? null,
    warnings: r.warnings ?? [],
  };
}

/** Compares the folders (at least one; the caller insists on two). Scenarios in order of first appearance. */
export function buildComparison(folders: readonly LoadedFolder[]): Comparison {
  if (folders.length === 0) throw new RangeError('buildComparison needs at least one folder');
  const byScenario = new Map<string, LoadedFolder[]>();
  for (const f of folders) {
    const name = f.results.scenario.name;
    byScenario.set(name, [...(byScenario.get(name) ?? []), f]);
  }
  const scenarios = [...byScenario.entries()].map(([scenario, group]) => compareScenario(scenario, group, folders[0]!.name));
  return { reference: folders[0]!.name, runs: folders.map(runInfo), scenarios };
}

function compareScenario(scenario: string, group: LoadedFolder[], firstName: string): ScenarioComparison {
  const ref = group[0]!;
  const notes: string[] = [];
  if (ref.name !== firstName) notes.push(`${firstName} has no run of ${scenario}, so ${ref.name} (the first folder that has) is the reference`);
  if (group.length === 1) notes.push(`only ${ref.name} ran ${scenario}: nothing to compare it with`);
  for (const other of group.slice(1)) {
    const diff = scenarioDifferences(ref.results, other.results);
    if (diff.length > 0) notes.push(`${other.name}'s scenario ${scenario} differs from ${ref.name}'s in: ${diff.join(', ')}; its figures measure something else`);
  }
  const strategies: ContenderName[] = [];
  for (const f of group) for (const s of strategiesOf(f.results.runs)) if (!strategies.includes(s)) strategies.push(s);
  const rows = strategies.map((strategy): StrategyRow => {
    const refFigures = strategyFigures(ref.results, strategy);
    const cells = group.map((f, i): Cell => {
      const figures = strategyFigures(f.results, strategy) ?? null;
      const d =
        i === 0 || figures === null || refFigures === undefined
          ? null
          : (Object.fromEntries(FIGURE_KEYS.map((k) => [k, delta(figures[k], refFigures[k])])) as Record<FigureKey, Delta>);
      return { run: f.name, figures, delta: d };
    });
    const missing = cells.filter((c) => c.figures === null).map((c) => c.run);
    if (missing.length > 0) notes.push(`${strategy}: not run in ${missing.join(', ')}`);
    return { strategy, cells };
  });
  return {
    scenario,
    reference: ref.name,
    runs: group.map((f) => f.name),
    receivers: Array.isArray(ref.results.scenario.receivers) ? ref.results.scenario.receivers.length : 0,
    rows,
    notes,
  };
}

/** Folders grouped by scenario, as `buildComparison` groups them (for the charts). */
export function foldersOfScenario(folders: readonly LoadedFolder[], scenario: string): LoadedFolder[] {
  return folders.filter((f) => f.results.scenario.name === scenario);
}

/** "A (netns, abc1234)": a run's name with its backend and short commit. */
export function runLabel(run: Pick<RunInfo, 'name' | 'backend' | 'gitCommit'>): string {
  return `${run.name} (${run.backend}, ${shortCommit(run.gitCommit)})`;
}

/** The first 7 hex digits of a commit, or "commit unknown". */
export function shortCommit(commit: string | null): string {
  if (commit === null || commit === '') return 'commit unknown';
  return /^[0-9a-f]{8,}$/i.test(commit) ? commit.slice(0, 7) : commit;
}

/**
 * The comparison as `--json` prints it and comparison.json holds it: `{ format, reference, runs,
 * scenarios }`. In JSON a percentile that never happened (Infinity) and an undefined
 * difference are both null.
 */
export function comparisonJson(c: Comparison): { format: 'fanout-compare/1' } & Comparison {
  return { format: 'fanout-compare/1', ...c };
}
