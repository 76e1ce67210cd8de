/**
 * `fanout compare` as a command: flags, bad input (exit 2, one clear message, nothing written),
 * --json, --out. The command function is run in this process (its output captured); the end-to-end
 * part spawns the built CLI (dist/, which `npm test` builds first; FANOUT_CLI overrides the path)
 * and is skipped when that build predates `compare`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { COMPARE_HELP, compareCommand } from '../../cli/compare.js';
import { CliError, EXIT } from '../../cli/exit.js';
import { FANOUT } from '../helpers/procs.js';
import { tinyResults } from './results-fixtures.js';
import { fasterTiny, fixtureDir, type FixtureDir } from './compare-fixtures.js';

let fx: FixtureDir;
let dirA: string;
let dirB: string;

beforeAll(async () => {
  fx = await fixtureDir('fanout-compare-cli-');
  dirA = await fx.write('one/A', tinyResults());
  dirB = await fx.write('one/B', fasterTiny(0.8));
});
afterAll(async () => {
  await fx.remove();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs compareCommand in-process: its exit code (a CliError's for errors), stdout and stderr. */
async function compare(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; error?: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = await compareCommand(args);
    return { code, stdout, stderr };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { code: err.exitCode, stdout, stderr, error: err.message };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('fanout compare (in process)', () => {
  it('--help tells what it reads, writes and exits with', async () => {
    const r = await compare('--help');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toBe(COMPARE_HELP);
    for (const word of ['Usage: fanout compare', '--out DIR', '--json', 'report.html', 'reference', 'Exit status: 0', '2 bad input']) {
      expect(r.stdout).toContain(word);
    }
  });

  it('prints the table for two folders and exits 0', async () => {
    const r = await compare(dirA, dirB);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain('the reference is the first given, A');
    expect(r.stdout).toMatch(/round-robin\s+A \(ref\)/);
    expect(r.stdout).toContain('-0.900 (-20.0%)');
    expect(r.stderr).toBe('');
  });

  it('--json prints the comparison as JSON', async () => {
    const r = await compare('--json', dirA, dirB);
    expect(r.code).toBe(EXIT.ok);
    const json = JSON.parse(r.stdout);
    expect(json.format).toBe('fanout-compare/1');
    expect(json.runs.map((x: { name: string }) => x.name)).toEqual(['A', 'B']);
    expect(json.scenarios[0].rows[0].cells[1].delta.makespanS.abs).toBeCloseTo(-0.9, 12);
  });

  it('fewer than two folders: exit 2', async () => {
    for (const args of [[], [dirA]]) {
      const r = await compare(...args);
      expect(r.code).toBe(EXIT.usage);
      expect(r.error).toMatch(/expected at least two results folders to compare, got [01]/);
      expect(r.stdout).toBe('');
    }
  });

  it('a folder without summary.json or with an invalid one: exit 2 naming it, nothing written', async () => {
    const empty = join(fx.root, 'empty');
    const bad = join(fx.root, 'bad');
    await mkdir(empty, { recursive: true });
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'summary.json'), JSON.stringify({ ...tinyResults(), runs: 'none' }));
    const out = join(fx.root, 'never');
    const r = await compare(dirA, empty, bad, '--out', out);
    expect(r.code).toBe(EXIT.usage);
    expect(r.error).toContain(`${empty}: no summary.json here`);
    expect(r.error).toContain(`${join(bad, 'summary.json')}: invalid results summary:\n  runs: expected an array, got "none"`);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('an --out that cannot be written: exit 2, no table presented', async () => {
    const file = join(fx.root, 'plain-file');
    await writeFile(file, 'x');
    const r = await compare(dirA, dirB, '--out', join(file, 'report'));
    expect(r.code).toBe(EXIT.usage);
    expect(r.error).toMatch(/^--out .*plain-file\/report: cannot create the folder/);
    expect(r.stdout).toBe('');
  });

  it('--out writes the report and says where the page is', async () => {
    const out = join(fx.root, 'report');
    const r = await compare(dirA, dirB, '--out', out);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toContain(`wrote 5 files; open ${join(out, 'report.html')}`);
    expect((await readdir(out)).sort()).toEqual(['cdf-tiny.png', 'comparison.csv', 'comparison.json', 'makespan-tiny.png', 'report.html']);
  });

  it('unknown flags are refused (exit 2 through the CLI entry point)', async () => {
    await expect(compareCommand([dirA, dirB, '--fast'])).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });
});

const CLI = process.env['FANOUT_CLI'] ?? FANOUT;
const BUILT = existsSync(join(dirname(CLI), 'compare.js'));

describe('fanout compare (the built CLI)', () => {
  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, 'compare', ...args], { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
      });
    });
  }

  it.skipIf(!BUILT)(`exit codes and output end to end (skipped when ${CLI} has no compare: npm run build)`, async () => {
    const ok = await run([dirA, dirB, '--out', join(fx.root, 'cli-report')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('tiny (4 receivers): reference A, compared: B');
    expect(existsSync(join(fx.root, 'cli-report', 'report.html'))).toBe(true);
    const one = await run([dirA]);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe('fanout: expected at least two results folders to compare, got 1 (fanout compare --help)\n');
    const missing = await run([dirA, join(fx.root, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nowhere: no such file or folder');
    const flag = await run([dirA, dirB, '--fast']);
    expect(flag.code).toBe(2);
  });
});
