/**
 * The makespan regression gate (`npm run lab:check`): every scenario in scenarios/ci/ that has a
 * `check` block runs on the best available backend; each strategy's median efficiency (makespan /
 * lower bound, which holds still on a noisy machine far better than seconds do) must stay within
 * the scenario's own threshold and within the committed baseline for that backend
 * (results/baselines/<scenario>.json) plus its margin. Any strategy worse than that fails the gate
 * (exit 3) with a table naming it; `--update-baseline` rewrites the baselines on purpose and
 * prints the change.
 *
 * Baselines are per backend: the simulator is deterministic (its margin only absorbs float
 * noise), the emulated network is not (its margin is set above the spread measured over ten
 * runs of the CI set on this machine; see README, "The regression gate").
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabOutcome, LabOptions } from './run.js';
import { loadScenario } from './scenario/index.js';
import type { BackendName, Topology, ContenderName } from './types.js';

/** Margins (fraction of the baseline efficiency) used when a baseline is first written. */
export const DEFAULT_MARGIN: Record<BackendName, number> = { netns: 0.05, docker: 0.08, sim: 0.005 };
/** Repeats per strategy in the gate (medians of this many runs). */
export const DEFAULT_GATE_REPEAT: Record<BackendName, number> = { netns: 3, docker: 3, sim: 1 };

export interface BaselineEntry {
  updatedAt: string;
  gitCommit: string | null;
  repeat: number;
  /** Allowed worsening, as a fraction of the baseline efficiency. */
  margin: number;
  efficiency: Partial<Record<ContenderName, number>>;
}

export interface BaselineFile {
  scenario: string;
  backends: Partial<Record<BackendName, BaselineEntry>>;
}

export interface GateRow {
  scenario: string;
  strategy: ContenderName;
  backend: BackendName;
  measured: number;
  baseline: number | null;
  /** baseline x (1 + margin), or null without a baseline. */
  allowed: number | null;
  margin: number | null;
  threshold: number | null;
  verdict: 'ok' | 'REGRESSION' | 'OVER THRESHOLD' | 'no baseline';
}

export class GateInputError extends Error {
  override readonly name = 'GateInputError';
}

/** The CI scenarios with a `check` block, sorted, each loaded once. */
export function gateScenarios(dir: string): { path: string; topology: Topology }[] {
  if (!existsSync(dir)) throw new GateInputError(`no scenario folder ${dir}`);
  const out = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    // Read to find the check blocks only (the run validates again against what this machine can do).
    .map((f) => ({ path: join(dir, f), topology: loadScenario(join(dir, f), { netem: true, nftables: true }) }))
    .filter((s) => s.topology.check !== undefined);
  if (out.length === 0) throw new GateInputError(`no scenario in ${dir} has a check block`);
  return out;
}

export function baselinePath(dir: string, scenario: string): string {
  return join(dir, `${scenario}.json`);
}

export function readBaseline(dir: string, scenario: string): BaselineFile | null {
  const p = baselinePath(dir, scenario);
  if (!existsSync(p)) return null;
  try {
    const b = JSON.parse(readFileSync(p, 'utf8')) as BaselineFile;
    if (b.scenario !== scenario || typeof b.backends !== 'object' || b.backends === null) throw new Error('not a baseline file');
    return b;
  } catch (err) {
    throw new GateInputError(`${p}: unreadable baseline (${(err as Error).message}); fix it or rewrite it with --update-baseline`);
  }
}

export function writeBaseline(dir: string, b: BaselineFile): string {
  mkdirSync(dir, { recursive: true });
  const p = baselinePath(dir, b.scenario);
  writeFileSync(`${p}.tmp`, JSON.stringify(b, null, 2) + '\n');
  renameSync(`${p}.tmp`, p);
  return p;
}

/** Judges one scenario's medians against its threshold and baseline. Pure. */
export function judge(
  scenario: string,
  backend: BackendName,
  medians: Partial<Record<ContenderName, { efficiency: number }>>,
  thresholds: Partial<Record<ContenderName, number>>,
  baseline: BaselineEntry | undefined,
): GateRow[] {
  const rows: GateRow[] = [];
  for (const [strategy, m] of Object.entries(medians) as [ContenderName, { efficiency: number }][]) {
    const base = baseline?.efficiency[strategy];
    const margin = base === undefined ? null : baseline!.margin;
    const allowed = base === undefined ? null : base * (1 + margin!);
    const threshold = thresholds[strategy] ?? null;
    let verdict: GateRow['verdict'] = base === undefined ? 'no baseline' : 'ok';
    if (threshold !== null && m.efficiency > threshold) verdict = 'OVER THRESHOLD';
    if (allowed !== null && m.efficiency > allowed) verdict = 'REGRESSION';
    rows.push({ scenario, strategy, backend, measured: m.efficiency, baseline: base ?? null, allowed, margin, threshold, verdict });
  }
  return rows;
}

export function formatGate(rows: readonly GateRow[]): string {
  const f = (x: number | null): string => (x === null ? '-' : x.toFixed(3));
  const lines = [
    'median efficiency (makespan / lower bound; lower is better)',
    '',
    'scenario        strategy           backend  baseline  measured  allowed (margin)  threshold  verdict',
    '---------------------------------------------------------------------------------------------------',
  ];
  for (const r of rows) {
    const allowed = r.allowed === null ? '-' : `${r.allowed.toFixed(3)} (+${((r.margin ?? 0) * 100).toFixed(1)} %)`;
    lines.push(
      `${r.scenario.padEnd(15)} ${r.strategy.padEnd(18)} ${r.backend.padEnd(8)} ${f(r.baseline).padStart(8)}  ${f(r.measured).padStart(8)}  ${allowed.padEnd(16)}  ${f(r.threshold).padStart(9)}  ${r.verdict}`,
    );
  }
  return lines.join('\n');
}

export interface GateOptions {
  scenarioDir: string;
  baselineDir: string;
  /** Where each scenario's results folder goes (one sub-folder per scenario). */
  outDir: string;
  backend?: LabOptions['backend'];
  repeat?: number;
  updateBaseline?: boolean;
  log?: (line: string) => void;
  status?: LabOptions['status'];
  /** The lab (tests pass the real one; injectable so the pure parts can be tested alone). */
  runLab: (o: LabOptions) => Promise<LabOutcome>;
}

export interface GateOutcome {
  rows: GateRow[];
  regressions: GateRow[];
  /** Runs in which a receiver failed or did not verify. */
  brokenRuns: number;
  /** Baseline changes written (with --update-baseline): "scenario strategy old -> new". */
  changes: string[];
  resultDirs: string[];
}

export async function runGate(o: GateOptions): Promise<GateOutcome> {
  const log = o.log ?? (() => {});
  const rows: GateRow[] = [];
  const changes: string[] = [];
  const resultDirs: string[] = [];
  let brokenRuns = 0;
  for (const { path, topology: t } of gateScenarios(o.scenarioDir)) {
    const existing = readBaseline(o.baselineDir, t.name);
    const outcome = await o.runLab({
      scenarioPath: path,
      backend: o.backend ?? 'auto',
      out: join(o.outDir, t.name),
      log,
      status: o.status ?? null,
      repeatFor: (backend) => o.repeat ?? existing?.backends[backend]?.repeat ?? DEFAULT_GATE_REPEAT[backend],
    });
    resultDirs.push(outcome.outDir);
    brokenRuns += outcome.brokenRuns;
    const backend = outcome.results.backend;
    const medians = outcome.results.medians;
    if (o.updateBaseline) {
      const prev = existing?.backends[backend];
      const entry: BaselineEntry = {
        updatedAt: outcome.results.startedAt,
        gitCommit: outcome.results.environment.gitCommit,
        repeat: outcome.results.runs.length / Math.max(1, Object.keys(medians).length),
        margin: prev?.margin ?? DEFAULT_MARGIN[backend],
        efficiency: Object.fromEntries(Object.entries(medians).flatMap(([s, m]) => (m ? [[s, Number(m.efficiency.toFixed(4))]] : []))),
      };
      for (const [s, v] of Object.entries(entry.efficiency)) {
        const old = prev?.efficiency[s as ContenderName];
        changes.push(`${t.name} ${backend} ${s}: ${old === undefined ? 'none' : old.toFixed(3)} -> ${v!.toFixed(3)}`);
      }
      writeBaseline(o.baselineDir, { scenario: t.name, backends: { ...(existing?.backends ?? {}), [backend]: entry } });
      rows.push(...judge(t.name, backend, medians, t.check?.efficiency ?? {}, entry));
    } else {
      rows.push(...judge(t.name, backend, medians, t.check?.efficiency ?? {}, existing?.backends[backend]));
    }
  }
  const regressions = rows.filter((r) => r.verdict === 'REGRESSION' || r.verdict === 'OVER THRESHOLD');
  return { rows, regressions, brokenRuns, changes, resultDirs };
}
