/**
 * Nothing left behind after a crash (root only): a child process brings a lab network up and is
 * killed with SIGKILL (no handler can run), then runClean removes every namespace with that
 * prefix, the process the child left running inside a lab namespace, and the ledger.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runClean } from '../../lab/clean.js';
import { RealCommander } from '../../lab/commander.js';
import { parseNetnsList } from '../../lab/netns/commands.js';
import { makeRunPrefix } from '../../lab/netns/plan.js';

const isRoot = process.getuid?.() === 0;
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const viteNode = join(repo, 'node_modules/.bin/vite-node');
const cmd = new RealCommander();
const work = mkdtempSync(join(tmpdir(), 'fanout-crash-'));
const prefixes: string[] = [];

/**
 * The child: brings up 8 receivers with PREFIX/LEDGER_DIR. MODE=halfway stops (forever) right
 * after the bridge batch, MODE=up finishes, starts a long-lived process in receiver 0's namespace
 * and records it. Either way it prints a line to say where it is, then waits to be killed.
 */
const childSource = `
import { spawn } from 'node:child_process';
import { NetnsNetwork } from ${JSON.stringify(join(repo, 'lab/netns/backend.ts'))};
import { RealCommander } from ${JSON.stringify(join(repo, 'lab/commander.ts'))};
import { execInNamespace } from ${JSON.stringify(join(repo, 'lab/netns/commands.ts'))};
const { PREFIX, LEDGER_DIR, MODE } = process.env;
const real = new RealCommander();
const commander = {
  async run(argv, opts) {
    const out = await real.run(argv, opts);
    if (MODE === 'halfway' && argv.includes('-n') && argv.includes('-batch') && argv[0] === 'ip' && argv[2] === PREFIX + '-br') {
      console.log('halfway');
      await new Promise(() => {});
    }
    return out;
  },
};
const receivers = Array.from({ length: 8 }, (_, i) => ({ index: i, downBps: 20e6, upBps: 10e6 }));
const net = await NetnsNetwork.up({ receivers, sender: { upBps: 1e9 } }, { commander, ledgerDir: LEDGER_DIR, prefix: PREFIX });
const [file, ...args] = execInNamespace(net.receivers[0].ns, [process.execPath, '-e', 'setInterval(() => {}, 1000)', 'fanout-crash-test']);
const p = spawn(file, args, { stdio: 'ignore', detached: true });
await net.recordProcess(p.pid, { ns: net.receivers[0].ns });
console.log('up ' + p.pid);
await new Promise(() => {});
`;
const childFile = join(work, 'child.ts');
writeFileSync(childFile, childSource);

async function withPrefix(prefix: string): Promise<string[]> {
  return parseNetnsList((await cmd.run(['ip', '-j', 'netns', 'list'])).stdout).filter((n) => n.startsWith(`${prefix}-`));
}

async function rootLinksWithPrefix(prefix: string): Promise<string[]> {
  const links = JSON.parse((await cmd.run(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

/** Start the child; resolve with its first stdout line, then SIGKILL it and wait for it to die. */
async function runAndKill(mode: 'halfway' | 'up', prefix: string, ledgerDir: string): Promise<string> {
  const child = spawn(viteNode, [childFile], {
    cwd: repo,
    env: { ...process.env, PREFIX: prefix, LEDGER_DIR: ledgerDir, MODE: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) res(out.slice(0, nl));
    });
    child.on('exit', (code) => rej(new Error(`child exited (${code}) before reporting: ${err}`)));
  });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return line;
}

function processState(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] ?? null;
  } catch {
    return null;
  }
}

afterAll(async () => {
  if (isRoot && prefixes.length > 0) await runClean(cmd, { ledgerDir: join(work, 'ledger'), prefixes, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('fanout clean after a SIGKILL', () => {
  it.skipIf(!isRoot)('removes a network killed half way through bring-up (needs root)', async () => {
    const prefix = makeRunPrefix();
    prefixes.push(prefix);
    const ledgerDir = join(work, 'ledger');
    expect(await runAndKill('halfway', prefix, ledgerDir)).toBe('halfway');
    // the crash really left things behind: 10 namespaces with veths, and the ledger
    expect((await withPrefix(prefix)).length).toBe(10);
    expect(existsSync(join(ledgerDir, `${prefix}.jsonl`))).toBe(true);

    const report = await runClean(cmd, { ledgerDir, prefixes: [prefix] });
    expect(report.deletedNamespaces.length).toBe(10);
    expect(report.remaining).toEqual([]);
    expect(await withPrefix(prefix)).toEqual([]);
    expect(await rootLinksWithPrefix(prefix)).toEqual([]);
    expect(existsSync(join(ledgerDir, `${prefix}.jsonl`))).toBe(false);
  });

  it.skipIf(!isRoot)('removes a network killed after bring-up, killing the process it left in a lab namespace (needs root)', async () => {
    const prefix = makeRunPrefix();
    prefixes.push(prefix);
    const ledgerDir = join(work, 'ledger');
    const line = await runAndKill('up', prefix, ledgerDir);
    const pid = Number(/^up (\d+)$/.exec(line)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(processState(pid)).not.toBeNull(); // orphaned, still running in ${prefix}-r0
    expect((await withPrefix(prefix)).length).toBe(10);

    const report = await runClean(cmd, { ledgerDir, prefixes: [prefix] });
    expect(report.killed).toContain(pid);
    expect(report.remaining).toEqual([]);
    expect(await withPrefix(prefix)).toEqual([]);
    expect(await rootLinksWithPrefix(prefix)).toEqual([]);
    expect(existsSync(join(ledgerDir, `${prefix}.jsonl`))).toBe(false);
    for (let i = 0; i < 50 && processState(pid) !== null && processState(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
    expect([null, 'Z']).toContain(processState(pid));
  });
});
