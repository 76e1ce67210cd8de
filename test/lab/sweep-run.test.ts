/**
 * runSweep end to end on the flow simulator (no root needed): every point runs as its own lab run,
 * the sweep's CSV, JSON and chart hold every run with its value, progress names each point.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSweep } from '../../lab/sweep/run.js';

const dir = mkdtempSync(join(tmpdir(), 'fanout-sweep-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runSweep on the simulator', () => {
  it('runs every contender at every point, repeat times, and writes the sweep files', async () => {
    const scenario = join(dir, 'sim.yaml');
    writeFileSync(
      scenario,
      `name: sim-sweep
description: fragments on the simulator, a sweep of the receivers' down rate
backend: sim
file: { size: 4MiB }
transfer: { rateKbps: 100000 }
strategies: [backpressure, round-robin]
repeat: 2
receivers: { count: 4, down: 20mbit }
sweep: { param: receivers.down, from: 10mbit, to: 30mbit, step: 10mbit, label: down rate }
`,
    );
    const lines: string[] = [];
    const out = join(dir, 'out');
    const r = await runSweep({ scenarioPath: scenario, out, log: (l) => lines.push(l) });
    expect(lines[0]).toBe('sweep sim-sweep: receivers.down over 3 points (10mbit, 20mbit, 30mbit)');
    expect(lines.filter((l) => / starting$/.test(l))).toEqual([
      '[point 1/3: receivers.down = 10mbit] starting',
      '[point 2/3: receivers.down = 20mbit] starting',
      '[point 3/3: receivers.down = 30mbit] starting',
    ]);
    expect(r.stats.map((s) => `${String(s.value)} ${s.contender} ${s.runs}`)).toEqual([
      '10mbit backpressure 2', '10mbit round-robin 2', '20mbit backpressure 2', '20mbit round-robin 2', '30mbit backpressure 2', '30mbit round-robin 2',
    ]);
    // A slower link, a longer bound: 10 Mbit/s binds (the sender's 100 Mbit/s does not).
    const bound = (v: string): number => r.stats.find((s) => s.value === v)!.boundS;
    expect(bound('10mbit')).toBeGreaterThan(bound('20mbit') * 1.9);
    const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(1 + 3 * 2 * 2);
    expect(csv[1]).toMatch(/^sim-sweep,sim,receivers\.down,10mbit,10,backpressure,fragments,backpressure,1,/);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    expect(json.pointsDone).toBe(3);
    expect(existsSync(join(out, 'sweep-makespan.png'))).toBe(true);
    expect(existsSync(join(out, 'point-02-20mbit', 'summary.json'))).toBe(true);
    expect(r.table.split('\n')[0]).toMatch(/^receivers\.down\s+contender\s+median s/);
  }, 60_000);
});
