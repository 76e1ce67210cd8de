/** The regression gate: its judgement (pure), and the real CLI on the simulator failing for a slowed strategy. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judge, readBaseline, type BaselineEntry } from '../../lab/check.js';
import { createStrategy } from '../../sender/strategies/index.js';
import { parseHandicap } from '../../sender/strategies/handicap.js';
import { FANOUT } from '../helpers/procs.js';
import { runVirtual } from '../helpers/virtual-net.js';

const entry = (efficiency: BaselineEntry['efficiency'], margin = 0.1): BaselineEntry => ({ updatedAt: '', gitCommit: null, repeat: 3, margin, efficiency });

describe('judge', () => {
  it('ok within baseline + margin; REGRESSION beyond it; OVER THRESHOLD past the scenario limit; no baseline', () => {
    const rows = judge(
      'x',
      'netns',
      { backpressure: { efficiency: 1.1 }, 'round-robin': { efficiency: 1.25 }, sequential: { efficiency: 1.5 }, 'static-split': { efficiency: 1.2 } },
      { sequential: 1.4 },
      entry({ backpressure: 1.05, 'round-robin': 1.1, sequential: 1.45 }),
    );
    const v = Object.fromEntries(rows.map((r) => [r.strategy, r.verdict]));
    expect(v).toEqual({ backpressure: 'ok', 'round-robin': 'REGRESSION', sequential: 'OVER THRESHOLD', 'static-split': 'no baseline' });
    const rr = rows.find((r) => r.strategy === 'round-robin')!;
    expect(rr.allowed).toBeCloseTo(1.21, 9);
  });

  it('the margin is the boundary: exactly baseline x (1 + margin) passes, a hair above fails', () => {
    expect(judge('x', 'sim', { backpressure: { efficiency: 1.1 } }, {}, entry({ backpressure: 1.0 }, 0.1))[0]!.verdict).toBe('ok');
    expect(judge('x', 'sim', { backpressure: { efficiency: 1.1001 } }, {}, entry({ backpressure: 1.0 }, 0.1))[0]!.verdict).toBe('REGRESSION');
  });
});

describe('FANOUT_HANDICAP (the deliberately slowed strategy)', () => {
  it('parses strategy:node:ms and refuses anything else', () => {
    expect(parseHandicap('round-robin:last:1500')).toEqual({ strategy: 'round-robin', node: 'last', untilMs: 1500 });
    expect(parseHandicap('backpressure:3:20')).toEqual({ strategy: 'backpressure', node: 3, untilMs: 20 });
    expect(parseHandicap(undefined)).toBeNull();
    expect(() => parseHandicap('round-robin:last')).toThrow(/expected <strategy>/);
    expect(() => parseHandicap('warp-speed:1:1')).toThrow(/expected <strategy>/);
  });

  it('keeps the node waiting: the transfer ends at least that much later', () => {
    const base = { fragmentBytes: [256 * 1024, 256 * 1024], capacityBytesPerS: [1 << 20, 1 << 20] };
    const plain = runVirtual({ ...base, strategy: 'round-robin' });
    const slowed = runVirtual({ ...base, strategy: (ctx) => createStrategy('round-robin', ctx, { FANOUT_HANDICAP: 'round-robin:last:800' }) });
    expect(slowed.makespanMs).toBeGreaterThan(Math.max(plain.makespanMs, 800));
    expect(slowed.doneMs[1]!).toBeGreaterThan(800);
  });
});

describe('fanout lab-check on the simulator (no root needed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-gate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const gate = (env: NodeJS.ProcessEnv, ...args: string[]) =>
    spawnSync(process.execPath, [FANOUT, 'lab-check', '--backend', 'sim', '--baselines', join(dir, 'baselines'), '--out', join(dir, 'out'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  it('--update-baseline writes the baselines and prints each change; then the same code passes', () => {
    const w = gate({}, '--update-baseline');
    expect(w.status, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/baselines rewritten:\n {2}gate-late-slow sim round-robin: none -> \d\.\d{3}/);
    const b = readBaseline(join(dir, 'baselines'), 'gate-one-slow')!;
    expect(Object.keys(b.backends.sim!.efficiency).sort()).toEqual(['backpressure', 'probe-prioritise', 'round-robin', 'sequential', 'static-split']);
    const again = gate({});
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/REGRESSION/);
  });

  it('a deliberately slowed round-robin fails the gate: exit 3, and the table names it', () => {
    const r = gate({ FANOUT_HANDICAP: 'round-robin:last:1500' });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/gate-one-slow\s+round-robin\s+sim\s+\d\.\d{3}\s+\d\.\d{3}\s+\d\.\d{3} \(\+0\.5 %\)\s+1\.600\s+REGRESSION/);
    expect(r.stdout).toMatch(/gate-one-slow\s+backpressure\s+.*\bok$/m);
    expect(r.stderr).toMatch(/makespan regression: .*gate-one-slow\/round-robin/);
    // The results folder records that the run was handicapped.
    const summary = JSON.parse(readFileSync(join(dir, 'out', 'gate-one-slow', 'summary.json'), 'utf8')) as { warnings: string[] };
    expect(summary.warnings.join('\n')).toMatch(/FANOUT_HANDICAP/);
  });

  it('a corrupt baseline file is bad input (exit 2), not a pass', () => {
    writeFileSync(join(dir, 'baselines', 'gate-one-slow.json'), '{ not json');
    const r = gate({});
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/gate-one-slow\.json: unreadable baseline/);
  });
});
