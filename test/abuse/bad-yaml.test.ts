/** Abuse: hostile scenario YAML is bad input (exit 2), never an internal error or a hang. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScenarioError, parseScenario } from '../../lab/scenario/index.js';
import { FANOUT } from '../helpers/procs.js';

/** The billion-laughs shape: each level ten aliases of the one before. */
function aliasBomb(levels = 9): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  lines.push(`name: bomb`, `receivers: *a${levels}`);
  return `${lines.join('\n')}\n`;
}

describe('abuse: bad YAML', () => {
  it('an alias bomb is a ScenarioError, at once', () => {
    const t0 = performance.now();
    expect(() => parseScenario(aliasBomb(), { netem: false }, 'bomb.yaml')).toThrow(ScenarioError);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('fanout lab with an alias bomb, a YAML syntax error, or binary junk exits 2 naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-yaml-'));
    try {
      const files: [string, string | Buffer][] = [
        ['bomb.yaml', aliasBomb()],
        ['syntax.yaml', 'name: [unclosed\n  receivers: {\n'],
        ['junk.yaml', Buffer.from([0xff, 0xfe, 0, 1, 2, 0x7b, 0x7b, 0x7b])],
        ['deep.yaml', `${'['.repeat(5000)}${']'.repeat(5000)}\n`],
      ];
      for (const [name, text] of files) {
        const p = join(dir, name);
        writeFileSync(p, text);
        const r = spawnSync(process.execPath, [FANOUT, 'lab', p, '--backend', 'sim', '--out', join(dir, 'out')], { encoding: 'utf8', timeout: 30_000 });
        expect(r.status, `${name}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(name);
        expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/i);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
