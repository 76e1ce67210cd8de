/**
 * SIGTERM in the middle of a lab run (root only): the lab tears down and exits 143, and none of
 * the receiver processes it started survives (they were started through `ip netns exec`, so once
 * running they show a different command line from the one recorded; teardown must still know them).
 * The same for a BitTorrent swarm: the agents, the aria2c each started (recorded when it came up),
 * the tracker on its service host; and an interrupted lab writes no results.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hasTool } from '../../lab/doctor.js';
import { FANOUT } from '../helpers/procs.js';

const isRoot = process.getuid?.() === 0;
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'fanout-sigterm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NAME = `sigterm-${process.pid}`;

/** The run prefix, once the lab says its network is up (rejects if the lab exits first). */
function networkUp(child: ChildProcess): Promise<string> {
  let err = '';
  return new Promise<string>((res, rej) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /network (fl[0-9a-f]{4}) up/.exec(err);
      if (m) res(m[1]!);
    });
    child.on('exit', (code) => rej(new Error(`lab exited ${code} early: ${err}`)));
  });
}

/** `list()` once it is empty, or after 3 s whatever it still holds (a killed process takes a moment to be reaped). */
async function settle(list: () => string[]): Promise<string[]> {
  for (let i = 0; i < 30 && list().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return list();
}

function survivors(): string[] {
  const out = spawnSync('pgrep', ['-af', `fanout-lab-${NAME}-`], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter((l) => l.trim() !== '' && !l.includes('pgrep'));
}

describe.skipIf(!isRoot)('SIGTERM during a lab run (root)', () => {
  it('exits 143 and leaves no receiver process and no namespace behind', async () => {
    const scenario = join(work, 'small.yaml');
    const text = readFileSync(join(repo, 'scenarios/ci/small.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${NAME}`).replace(/^file: .*$/m, 'file: { size: 64MiB }');
    writeFileSync(scenario, text);
    const child = spawn(process.execPath, [FANOUT, 'lab', scenario, '--backend', 'netns', '--strategies', 'sequential', '--out', join(work, 'out')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = await networkUp(child);
    // Let the receivers start and the transfer begin (8 MiB per receiver: several seconds).
    await new Promise((r) => setTimeout(r, 2500));
    expect(survivors().length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(await settle(survivors)).toEqual([]);
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    expect(ns).not.toContain(prefix);
  }, 60_000);
});

const SWARM = `sigterm-swarm-${process.pid}`;
const swarmTools = ['aria2c', 'opentracker', 'mktorrent'].every(hasTool);

describe.skipIf(!isRoot || !swarmTools)('SIGTERM during a swarm (root, aria2 and opentracker installed)', () => {
  it('exits 143, writes no results, and leaves no agent, aria2c, opentracker or namespace behind', async () => {
    const scenario = join(work, 'swarm.yaml');
    writeFileSync(scenario, readFileSync(join(repo, 'scenarios/ci/swarm-small.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${SWARM}`).replace(/^file: .*$/m, 'file: { size: 16MiB }'));
    const out = join(work, 'swarm-out');
    const child = spawn(process.execPath, [FANOUT, 'lab', scenario, '--backend', 'netns', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = await networkUp(child);
    // Every program of the run names the lab's work folder (fanout-lab-<name>-...) in its argv.
    const programs = (): string[] =>
      (spawnSync('pgrep', ['-af', `fanout-lab-${SWARM}-`], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.trim() !== '' && !l.includes('pgrep'));
    for (let i = 0; i < 100 && !programs().some((l) => l.includes('aria2c --no-conf') && l.includes('/rx')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(programs().some((l) => l.includes('/usr/bin/opentracker'))).toBe(true);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(await settle(programs)).toEqual([]);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').not.toContain(prefix);
    expect(spawnSync('ls', [out]).status).not.toBe(0);
  }, 60_000);
});
