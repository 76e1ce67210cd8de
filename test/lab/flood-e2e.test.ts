/**
 * FloodClone end to end on network namespaces: `fanout flood serve` and four `fanout flood join`
 * through the lab, every node's file compared byte for byte, control bytes and duplicates in the
 * summary, nothing left running. Needs root; skipped with the reason otherwise.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FANOUT } from '../helpers/procs.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe.skipIf(!isRoot)(`floodclone on network namespaces${isRoot ? '' : ' (SKIPPED: needs root)'}`, () => {
  it('every node holds the file, no duplicate chunk, control under 1 % of payload, nothing left running', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-flood-e2e-'));
    try {
      const name = `ci-flood-e2e-${process.pid}`;
      const scenario = join(out, 'flood.yaml');
      writeFileSync(scenario, readFileSync('scenarios/ci/flood-small.yaml', 'utf8').replace('name: ci-flood-small', `name: ${name}`));
      const r = spawn(process.execPath, [FANOUT, 'lab', scenario, '--out', join(out, 'results')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      r.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      r.stdout.resume();
      const code = await new Promise<number | null>((res) => r.once('close', res));
      expect(code, stderr).toBe(0);
      const summary = JSON.parse(readFileSync(join(out, 'results', 'summary.json'), 'utf8'));
      const run = summary.runs[0];
      expect(run.protocol).toBe('floodclone');
      expect(run.receivers.every((x: { verified: boolean }) => x.verified)).toBe(true);
      expect(run.duplicateChunks).toBe(0);
      expect(run.controlBytes).toBeGreaterThan(0);
      expect(run.controlBytes / run.payloadBytes).toBeLessThan(0.01);
      expect(run.peerUpBytes).toBeGreaterThan(0);
      expect(run.efficiency).toBeGreaterThanOrEqual(1);
      const left = execFileSync('ps', ['-eo', 'args=', '-ww']).toString().split('\n').filter((l) => l.includes('flood') && l.includes(name));
      expect(left).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
