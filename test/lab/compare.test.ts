/**
 * `fanout compare`'s model and text: reading and checking results folders, naming runs, the
 * figures and differences (against hand-computed values from tinyResults()), the terminal
 * table, the CSV and the JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparisonCsv } from '../../lab/compare/csv.js';
import { CompareInputError, checkSummary, folderNames, loadFolders } from '../../lab/compare/load.js';
import { buildComparison, comparisonJson, delta, runLabel, shortCommit, type Comparison } from '../../lab/compare/model.js';
import { formatComparison, formatDelta } from '../../lab/compare/text.js';
import { tinyResults } from './results-fixtures.js';
import { fasterTiny, fixtureDir, type FixtureDir } from './compare-fixtures.js';

let fx: FixtureDir;
let dirA: string;
let dirB: string;
let comparison: Comparison;

beforeAll(async () => {
  fx = await fixtureDir('fanout-compare-');
  dirA = await fx.write('one/A', tinyResults());
  dirB = await fx.write('one/B', fasterTiny(0.8));
  comparison = buildComparison(await loadFolders([dirA, dirB]));
});
afterAll(async () => {
  await fx.remove();
});

describe('folderNames', () => {
  it('uses basenames when they differ', () => {
    expect(folderNames(['/r/one-slow/2026-11-21T05-40-00Z', '/r/one-slow/2026-11-22T05-40-00Z'])).toEqual([
      '2026-11-21T05-40-00Z',
      '2026-11-22T05-40-00Z',
    ]);
  });
  it('lengthens equal basenames until they differ, and numbers the same folder given twice', () => {
    expect(folderNames(['/r/one-slow/A', '/r/two/A', '/r/x/B'])).toEqual(['one-slow/A', 'two/A', 'B']);
    expect(folderNames(['/a/x', '/b/a/x'])).toEqual(['/a/x'.slice(1), 'b/a/x']);
    expect(folderNames(['/r/A', '/r/A/', '/r/B'])).toEqual(['A', 'A #2', 'B']);
  });
});

describe('checkSummary', () => {
  it('accepts what the lab writes', () => {
    expect(checkSummary(JSON.parse(JSON.stringify(tinyResults())), 'x')).toEqual(tinyResults());
  });
  it('reports every problem with its path', () => {
    const bad = JSON.parse(JSON.stringify(tinyResults()));
    bad.runs[1].makespanS = 'fast';
    delete bad.runs[2].efficiency;
    bad.runs[3].receivers[0].doneS = -1;
    bad.backend = 7;
    let message = '';
    try {
      checkSummary(bad, 'B/summary.json');
    } catch (err) {
      expect(err).toBeInstanceOf(CompareInputError);
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'B/summary.json: invalid results summary:',
      '  backend: expected a non-empty string, got 7',
      '  runs[1].makespanS: expected a number, got "fast"',
      '  runs[2].efficiency: expected a number, got nothing (missing)',
      '  runs[3].receivers[0].doneS: expected at least 0, got -1',
    ]);
  });
  it('refuses a summary without runs or that is not an object', () => {
    expect(() => checkSummary({ ...tinyResults(), runs: [] }, 's')).toThrow(/runs: no runs: nothing to compare/);
    expect(() => checkSummary([1, 2], 's')).toThrow(/\(top level\): expected an object, got an array/);
  });
});

describe('loadFolders', () => {
  it('says which folder has no summary, which is not JSON and which does not exist, all at once', async () => {
    const empty = join(fx.root, 'empty');
    const broken = join(fx.root, 'broken');
    await mkdir(empty, { recursive: true });
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'summary.json'), '{"scenario": ');
    const err = await loadFolders([dirA, empty, broken, join(fx.root, 'nowhere')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompareInputError);
    const lines = (err as Error).message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(`${empty}: no summary.json here (is it a results folder that \`npm run lab\` wrote?)`);
    expect(lines[1]).toMatch(new RegExp(`^${join(broken, 'summary.json')}: not valid JSON`));
    expect(lines[2]).toBe(`${join(fx.root, 'nowhere')}: no such file or folder`);
  });
  it('refuses a file where a folder should be', async () => {
    const err = await loadFolders([dirA, join(dirA, 'runs.csv')]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/runs\.csv: not a folder/);
  });
});

describe('buildComparison', () => {
  it('names the runs from their folders, with backend and commit; the first is the reference', () => {
    expect(comparison.reference).toBe('A');
    expect(comparison.runs.map((r) => runLabel(r))).toEqual(['A (sim, abc123)', 'B (sim, def4567)']);
    expect(shortCommit(null)).toBe('commit unknown');
    expect(comparison.scenarios).toHaveLength(1);
    expect(comparison.scenarios[0]!.runs).toEqual(['A', 'B']);
    expect(comparison.scenarios[0]!.notes).toEqual([]);
  });

  it('computes the figures by hand-checked values and the differences from the reference', () => {
    const [rr, seq] = comparison.scenarios[0]!.rows;
    expect(rr!.strategy).toBe('round-robin');
    // round-robin: makespans 4, 5; p50 per repeat 2 and 2.5; p95 4 and 5; bound 3.2.
    expect(rr!.cells[0]!.figures).toEqual({
      repeats: 2,
      makespanS: 4.5,
      efficiency: 4.5 / 3.2,
      p50S: 2.25,
      p95S: 4.5,
      lowerBoundS: 3.2,
      failedReceivers: 0,
      receivers: 8,
    });
    expect(rr!.cells[0]!.delta).toBeNull();
    const d = rr!.cells[1]!.delta!;
    expect(d.makespanS.abs).toBeCloseTo(-0.9, 12);
    expect(d.makespanS.pct).toBeCloseTo(-20, 10);
    expect(d.p50S.abs).toBeCloseTo(-0.45, 12);
    expect(d.efficiency.pct).toBeCloseTo(-20, 10);
    // sequential: repeat 2 has a failed receiver, so its p95 is infinite in both runs: no difference.
    expect(seq!.cells[0]!.figures!.p95S).toBe(Infinity);
    expect(seq!.cells[0]!.figures!.failedReceivers).toBe(1);
    expect(seq!.cells[1]!.delta!.p95S).toEqual({ abs: null, pct: null });
    expect(seq!.cells[1]!.delta!.makespanS.abs).toBeCloseTo(-1.8, 12);
  });

  it('delta is null where undefined', () => {
    expect(delta(2, 0)).toEqual({ abs: 2, pct: null });
    expect(delta(Infinity, 2)).toEqual({ abs: null, pct: null });
    expect(formatDelta({ abs: 0.25, pct: 12.5 }, 'seconds')).toBe('+0.250 (+12.5%)');
    expect(formatDelta({ abs: -1.5, pct: -3 }, 'seconds')).toBe('-1.50 (-3.0%)');
    expect(formatDelta({ abs: -0.05, pct: -4 }, 'ratio')).toBe('-0.050 (-4.0%)');
    expect(formatDelta({ abs: null, pct: null }, 'seconds')).toBe('-');
  });

  it('groups several scenarios, says which reference each has, and notes what differs or is missing', async () => {
    const other = tinyResults();
    other.scenario.name = 'other';
    const dirC = await fx.write('two/C', other);
    const noSeq = fasterTiny(1.1);
    noSeq.runs = noSeq.runs.filter((r) => r.strategy !== 'sequential');
    noSeq.scenario.receivers = noSeq.scenario.receivers.map((r) => ({ ...r, downBps: r.downBps * 2 }));
    const dirD = await fx.write('one/D', noSeq);
    const c = buildComparison(await loadFolders([dirC, dirA, dirD]));
    expect(c.reference).toBe('C');
    expect(c.scenarios.map((s) => [s.scenario, s.reference, s.runs])).toEqual([
      ['other', 'C', ['C']],
      ['tiny', 'A', ['A', 'D']],
    ]);
    expect(c.scenarios[0]!.notes).toEqual(['only C ran other: nothing to compare it with']);
    expect(c.scenarios[1]!.notes).toEqual([
      'C has no run of tiny, so A (the first folder that has) is the reference',
      "D's scenario tiny differs from A's in: receivers; its figures measure something else",
      'sequential: not run in D',
    ]);
    const seqD = c.scenarios[1]!.rows[1]!.cells[1]!;
    expect(seqD).toEqual({ run: 'D', figures: null, delta: null });
    const text = formatComparison(c);
    expect(text).toMatch(/sequential\s+A \(ref\)\s+2\s+9\.00/);
    expect(text).toMatch(/\n\s+D\s+0\s+not run\s+not run/);
    expect(text).toContain("note: D's scenario tiny differs from A's in: receivers");
  });
});

describe('terminal output', () => {
  it('lists the folders, marks the reference and shows each difference', () => {
    const text = formatComparison(comparison);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Comparing 2 results folders; the reference is the first given, A:');
    expect(lines[1]).toMatch(/^ {2}A {2}\S+one\/A {2}sim, abc123, started 2026-11-21T05:40:00.000Z {2}\(reference\)$/);
    expect(lines[2]).toMatch(/^ {2}B {2}\S+one\/B {2}sim, def4567, started/);
    expect(text).toContain('tiny (4 receivers): reference A, compared: B');
    const header = lines.find((l) => l.startsWith('strategy'))!;
    expect(header).toMatch(/strategy\s+run\s+repeats\s+makespan \(s\)\s+vs ref\s+efficiency\s+vs ref\s+p50 done \(s\)\s+vs ref\s+p95 done \(s\)\s+vs ref\s+failed/);
    const rrB = lines[lines.indexOf(lines.find((l) => l.startsWith('round-robin'))!) + 1]!;
    expect(rrB.trim().split(/\s{2,}/)).toEqual(['B', '2', '3.60', '-0.900 (-20.0%)', '1.13x', '-0.281 (-20.0%)', '1.80', '-0.450 (-20.0%)', '3.60', '-0.900 (-20.0%)', '0/8']);
    const seqB = lines[lines.indexOf(lines.find((l) => l.startsWith('sequential'))!) + 1]!;
    expect(seqB.trim().split(/\s{2,}/)).toEqual(['B', '2', '7.20', '-1.80 (-20.0%)', '2.25x', '-0.563 (-20.0%)', '3.20', '-0.800 (-20.0%)', 'inf', '-', '1/8']);
    expect(text).toContain('warning (A): fidelity: example warning');
  });
});

describe('CSV and JSON', () => {
  it('comparison.csv has a row per scenario, strategy and run with figures and differences', () => {
    // No cell of this fixture holds a comma or a quote, so a plain split reads it.
    const [head, ...lines] = comparisonCsv(comparison).trimEnd().split('\n');
    const columns = head!.split(',');
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [columns[i]!, v])));
    expect(columns.slice(0, 9)).toEqual(['scenario', 'strategy', 'run', 'folder', 'backend', 'git_commit', 'reference', 'repeats', 'makespan_s']);
    expect(rows).toHaveLength(4);
    expect(rows.map((r) => [r['strategy'], r['run'], r['reference']])).toEqual([
      ['round-robin', 'A', 'true'],
      ['round-robin', 'B', 'false'],
      ['sequential', 'A', 'true'],
      ['sequential', 'B', 'false'],
    ]);
    const b = rows[1]!;
    expect(Number(b['makespan_s'])).toBeCloseTo(3.6, 12);
    expect(Number(b['makespan_s_diff'])).toBeCloseTo(-0.9, 12);
    expect(Number(b['makespan_s_diff_pct'])).toBeCloseTo(-20, 10);
    expect(b['git_commit']).toBe('def4567890abcdef');
    expect(rows[0]!['makespan_s_diff']).toBe('');
    expect(rows[3]!['p95_done_s']).toBe('inf');
    expect(rows[3]!['p95_done_s_diff']).toBe('');
    expect(rows[3]!['failed_receivers']).toBe('1');
  });

  it('the JSON form round-trips, with null for an infinite percentile', () => {
    const json = JSON.parse(JSON.stringify(comparisonJson(comparison)));
    expect(json.format).toBe('fanout-compare/1');
    expect(json.reference).toBe('A');
    expect(json.scenarios[0].rows[1].cells[0].figures.p95S).toBeNull();
    expect(json.scenarios[0].rows[0].cells[1].delta.makespanS.pct).toBeCloseTo(-20, 10);
  });
});
