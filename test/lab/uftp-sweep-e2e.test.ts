/**
 * UFTP and a sweep end to end, for real (root, uftp installed): a two-point sweep of the receiver
 * count with uftp/fixed and uftp/tfmcc on network namespaces, 5 % loss on every receiver's link.
 * Every node's file is verified byte for byte, sweep.csv has one row per run with its value, the
 * chart is written, and no uftpd or uftp of this run is left running afterwards.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool } from '../../lab/doctor.js';
import { FANOUT } from '../helpers/procs.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tools = ['uftp', 'uftpd', 'nft'].filter((t) => !hasTool(t));
const why = !isRoot ? ' (SKIPPED: needs root)' : tools.length ? ` (SKIPPED: missing ${tools.join(', ')})` : '';

/** Programs named `names` whose command line mentions `marker` (this run's work folder). */
function running(names: string[], marker: string): string[] {
  const out = execFileSync('ps', ['-eo', 'comm=,args=', '-ww']).toString().split('\n').map((l) => l.trim());
  return out.filter((l) => names.includes(l.split(/\s+/)[0]!) && l.includes(marker));
}

describe.skipIf(why !== '')(`uftp sweep on network namespaces${why}`, () => {
  it('both variants at 1 and 2 receivers: verified, one CSV row per run, a chart, nothing left running', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-uftp-e2e-'));
    try {
      const name = `ci-uftp-e2e-${process.pid}`;
      const scenario = join(out, 'uftp.yaml');
      writeFileSync(
        scenario,
        `name: ${name}
file: { size: 1MiB }
transfer: { job: whole-file }
strategies: [uftp/fixed, uftp/tfmcc]
receivers: { count: 1, down: 20mbit, up: 20mbit, loss: { down: 5%, up: 0% } }
source: { up: 20mbit }
sweep: { param: receivers.count, values: [1, 2] }
`,
      );
      const r = spawn(process.execPath, [FANOUT, 'lab', scenario, '--backend', 'netns', '--out', join(out, 'results')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      r.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      r.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      const code = await new Promise<number | null>((res) => r.once('close', res));
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(/\[point 1\/2: receivers.count = 1\] starting/);
      expect(stdout).toMatch(/receivers.count\s+contender\s+median s/);
      const csv = readFileSync(join(out, 'results', 'sweep.csv'), 'utf8').trim().split('\n');
      expect(csv).toHaveLength(1 + 4);
      expect(csv.slice(1).map((l) => l.split(',').slice(3, 6).join(','))).toEqual(['1,1,uftp/fixed', '1,1,uftp/tfmcc', '2,2,uftp/fixed', '2,2,uftp/tfmcc']);
      expect(existsSync(join(out, 'results', 'sweep-makespan.png'))).toBe(true);
      for (const dir of ['point-01-1', 'point-02-2']) {
        const summary = JSON.parse(readFileSync(join(out, 'results', dir, 'summary.json'), 'utf8'));
        for (const run of summary.runs) {
          expect(run.failedReceivers).toBe(0);
          expect(run.receivers.every((x: { verified: boolean }) => x.verified)).toBe(true);
          expect(run.boundTerm).toMatch(/^multicast: /);
          expect(run.efficiency).toBeGreaterThan(1);
        }
      }
      expect(running(['uftpd', 'uftp', 'sh'], `fanout-lab-${name}-`)).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
