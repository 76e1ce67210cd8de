/** `fanout lab` input handling and --dry-run; none of these touch the kernel. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FANOUT } from '../helpers/procs.js';

const lab = (...args: string[]) => spawnSync(process.execPath, [FANOUT, 'lab', ...args], { encoding: 'utf8' });

describe('fanout lab', () => {
  it('--dry-run prints the bring-up, shaping, process and teardown commands and changes nothing', () => {
    const r = lab('scenarios/ci/small.yaml', '--dry-run', '--strategies', 'backpressure');
    expect(r.status, r.stderr).toBe(0);
    const prefix = /run prefix (fl[0-9a-f]{4})/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`netns add ${prefix}-r7`);
    expect(r.stdout).toContain(`tc -n ${prefix}-br -batch -`);
    expect(r.stdout).toMatch(/class replace dev fl[0-9a-f]{4}-r7 parent 1: classid 1:1 htb rate 8000000bit ceil 8000000bit/);
    expect(r.stdout).toContain(`ip netns exec ${prefix}-s ${process.execPath}`);
    expect(r.stdout).toContain('#   phase receivers');
    expect(r.stdout).toContain('--strategy backpressure');
    expect(r.stdout).toContain(`netns del ${prefix}-br`);
    const present = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    expect(present).not.toContain(prefix);
  });

  it('a bad scenario exits 2 with every problem and its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-badscen-'));
    try {
      const f = join(dir, 'bad.yaml');
      writeFileSync(f, 'name: Bad Name\nfile: { size: 1MiB }\ntransfer: { protocol: fragments, rateKbps: 0 }\nreceivers:\n  count: 4\n  down: fast\n  grups: []\n');
      const r = lab(f, '--dry-run');
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('receivers.down: expected a rate such as "20mbit"');
      expect(r.stderr).toContain('receivers.grups: unknown key');
      expect(r.stderr).toMatch(/transfer\.rateKbps/);
      expect(r.stderr).toMatch(/name:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flags are checked: unknown strategy, bad repeat, bad backend, no scenario', () => {
    expect(lab('scenarios/ci/small.yaml', '--strategies', 'fastest').stderr).toContain('unknown contender "fastest"');
    expect(lab('scenarios/ci/small.yaml', '--repeat', '0').status).toBe(2);
    expect(lab('scenarios/ci/small.yaml', '--backend', 'kvm').stderr).toContain('--backend: expected auto, netns, docker or sim');
    expect(lab().status).toBe(2);
    expect(lab('--help').stdout).toContain('Exit status');
  });
});
