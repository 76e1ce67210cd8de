import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findSummaries, formatValidation, misses, referenceFromResults, validate, type Reference } from '../../lab/sim/validate.js';

const SCENARIO = fileURLToPath(new URL('../../scenarios/flood-chain.yaml', import.meta.url));
const FLOOD = 'floodclone/mutualcast';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A results folder holding one netns summary.json with these runs (makespan s, starved or not). */
function resultsFolder(name: string, runs: { s: number; starved: boolean }[]): string {
  const root = mkdtempSync(join(tmpdir(), 'validate-sim-'));
  dirs.push(root);
  const dir = join(root, name);
  mkdirSync(dir);
  const summary = {
    scenario: { name },
    backend: 'netns',
    environment: { kernel: 'k', gitCommit: 'c', cpus: 2 },
    startedAt: '2026-12-03T00:00:00.000Z',
    runs: runs.map((r) => ({ strategy: FLOOD, failedReceivers: 0, makespanS: r.s, lowerBoundS: 10, fidelity: { starved: r.starved } })),
  };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary));
  return root;
}

describe('validate:sim against emulated runs', () => {
  it('leaves starved runs out of the median and keeps them on record', () => {
    const ref = referenceFromResults(findSummaries(resultsFolder('x', [{ s: 11, starved: false }, { s: 30, starved: true }, { s: 13, starved: false }])));
    expect(ref.scenarios['x']![FLOOD]).toEqual({ makespanS: 12, runsS: [11, 30, 13], starvedS: [30], lowerBoundS: 10 });
  });

  it('makes a row void when every emulated run was starved: printed, neither ok nor a miss', () => {
    const ref = referenceFromResults(findSummaries(resultsFolder('flood-chain', [{ s: 20, starved: true }, { s: 21, starved: true }])));
    expect(ref.scenarios['flood-chain']![FLOOD]!.makespanS).toBeNull();
    const rows = validate([SCENARIO], ref);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ratio: null, ok: false, starved: 2, runs: 2 });
    expect(misses(rows)).toEqual([]);
    const text = formatValidation(rows);
    expect(text).toContain('2 of 2 emulated runs starved: void');
    expect(text).toContain('0 rows compared, 0 miss(es)');
    expect(text).not.toContain('MISS');
  });

  it('compares a row with fair runs, and misses beyond the tolerance', () => {
    const probe: Reference = { source: [], scenarios: { 'flood-chain': { [FLOOD]: { makespanS: 1, runsS: [1], lowerBoundS: 1 } } } };
    const sim = validate([SCENARIO], probe)[0]!.simulatedS;
    const near = validate([SCENARIO], { source: [], scenarios: { 'flood-chain': { [FLOOD]: { makespanS: sim * 1.05, runsS: [sim * 1.05], lowerBoundS: 1 } } } });
    expect(near[0]!.ok).toBe(true);
    expect(misses(near)).toEqual([]);
    const far = validate([SCENARIO], { source: [], scenarios: { 'flood-chain': { [FLOOD]: { makespanS: sim * 1.3, runsS: [sim * 1.3], lowerBoundS: 1 } } } });
    expect(misses(far)).toHaveLength(1);
    expect(formatValidation(far)).toContain('MISS');
  });
});
