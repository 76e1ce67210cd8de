/** `fanout lab SWEEP.yaml` as a user meets it: --dry-run lists checked points; a bad sweep exits 2 before anything runs. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FANOUT } from '../helpers/procs.js';

const lab = (...args: string[]) => spawnSync(process.execPath, [FANOUT, 'lab', ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'fanout-sweep-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = `name: s
description: a sweep for the CLI test
file: { size: 1MiB }
transfer: { job: whole-file }
strategies: [uftp/fixed]
receivers: { count: 2, down: 20mbit }
`;

describe('fanout lab with a sweep', () => {
  it('--dry-run lists every point, checked, with its scenario', () => {
    const f = join(dir, 'ok.yaml');
    writeFileSync(f, `${BASE}sweep: { param: receivers.down, from: 10mbit, to: 30mbit, step: 10mbit }\n`);
    const r = lab(f, '--dry-run');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# sweep of receivers.down: 3 points/);
    expect(r.stdout).toMatch(/# point 3: receivers.down = 30mbit: 2 receivers, contenders uftp\/fixed, repeat 1/);
    expect(r.stdout).toContain('down: 30mbit');
  });

  it('exits 2 naming the sweep key or the point that is wrong', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${BASE}sweep: { param: receivers.count, from: 1, to: 3 }\n`);
    const r = lab(bad, '--dry-run');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml: sweep: a range needs from, to and step \(missing: step\)/);
    const point = join(dir, 'point.yaml');
    writeFileSync(point, `${BASE}sweep: { param: transfer.uftp.blockSize, values: [1400, 9000] }\n`);
    const p = lab(point);
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/transfer\.uftp\.blockSize: \[transfer\.uftp\.blockSize = 9000\] 9000 is out of range/);
    expect(p.stderr).not.toMatch(/= 1400\]/);
  });
});
