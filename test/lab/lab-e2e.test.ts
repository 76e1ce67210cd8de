/**
 * The lab end to end, for real: network namespaces, tc, receiver processes, the sender.
 * Needs root (CI runs as root); skipped with the reason otherwise.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FANOUT } from '../helpers/procs.js';
import { findWorkDirs } from '../../lab/workdir.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const why = isRoot ? '' : ' (SKIPPED: needs root for network namespaces and tc)';

function labNamespaces(prefix?: string): string[] {
  const out = execFileSync('ip', ['netns', 'list']).toString();
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => (prefix ? n.startsWith(`${prefix}-`) : /^fl[0-9a-f]{4}-/.test(n)));
}

describe.skipIf(!isRoot)(`lab on network namespaces${why}`, () => {
  it('runs the small scenario: every fragment verified, honest bound, results written, nothing left behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-lab-e2e-'));
    try {
      const r = spawn(process.execPath, [FANOUT, 'lab', 'scenarios/ci/small.yaml', '--strategies', 'backpressure,round-robin', '--out', out], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      r.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      r.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const code = await new Promise<number | null>((res) => r.once('close', res));
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(/backpressure\s+\d/);
      expect(stdout).toContain(`results: ${out}`);
      const prefix = /network (fl[0-9a-f]{4}) up/.exec(stderr)?.[1];
      expect(prefix).toBeDefined();
      expect(labNamespaces(prefix)).toEqual([]);

      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.backend).toBe('netns');
      expect(summary.runs).toHaveLength(2);
      for (const run of summary.runs) {
        expect(run.receivers).toHaveLength(8);
        expect(run.receivers.every((x: { verified: boolean }) => x.verified)).toBe(true);
        expect(run.failedReceivers).toBe(0);
        // The bound is a bound: no run beats it, and a sane strategy is within 2x of it here.
        expect(run.efficiency).toBeGreaterThanOrEqual(1);
        expect(run.efficiency).toBeLessThan(2);
        expect(run.lowerBoundS).toBeGreaterThan(0.9);
      }
      const csv = readFileSync(join(out, 'completions.csv'), 'utf8').trim().split('\n');
      expect(csv).toHaveLength(1 + 2 * 8);
      for (const f of ['makespan.png', 'cdf.png', 'timeline-backpressure.png', 'timeline-round-robin.png', 'runs.csv']) {
        expect(existsSync(join(out, f)), f).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('a lab run killed halfway (SIGKILL) is cleaned up by `fanout clean`: no namespace, interface or receiver left', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-lab-kill-'));
    try {
      const r = spawn(process.execPath, [FANOUT, 'lab', 'scenarios/ci/small.yaml', '--strategies', 'sequential', '--repeat', '5', '--out', out], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const prefix = await new Promise<string>((resolve, reject) => {
        r.stderr.on('data', (b: Buffer) => {
          stderr += b.toString();
          // Once the first run has finished, the second is starting its receivers: kill then.
          const m = /network (fl[0-9a-f]{4}) up/.exec(stderr);
          if (m && stderr.includes('[1/5]')) resolve(m[1]!);
        });
        r.once('exit', () => reject(new Error(`lab exited before its network was up: ${stderr}`)));
      });
      // Let the next run's receivers start, then kill the lab with no chance to clean up.
      await new Promise((res) => setTimeout(res, 700));
      const exited = new Promise((res) => r.once('exit', res));
      r.kill('SIGKILL');
      await exited;
      expect(labNamespaces(prefix).length).toBeGreaterThan(0); // it really left things behind
      // ... and its work folder (the source file and the receivers' output), found by its owner marker.
      const workDirs = (await findWorkDirs()).filter((d) => d.owner?.pid === r.pid).map((d) => d.path);
      expect(workDirs).toHaveLength(1);

      const clean = execFileSync(process.execPath, [FANOUT, 'clean']).toString();
      expect(clean).toContain(prefix);
      expect(clean).toContain(workDirs[0]);
      expect(existsSync(workDirs[0]!)).toBe(false);
      expect(labNamespaces(prefix)).toEqual([]);
      // No interface with the prefix in the root namespace (the lab never makes one there), and no
      // receiver of that run still running.
      expect(execFileSync('ip', ['-o', 'link', 'show']).toString()).not.toContain(prefix);
      const procs = execFileSync('ps', ['-eo', 'args']).toString();
      expect(procs).not.toContain(`${out}`);
      expect(existsSync(`/run/fanout-lab/${prefix}.jsonl`)).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe.skipIf(isRoot)('lab without root', () => {
  it('is skipped here: the lab end-to-end tests need root for network namespaces and tc', () => {
    expect(isRoot).toBe(false);
  });
});
