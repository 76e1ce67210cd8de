/**
 * The runner's process pool, on this machine's own loopback with a tiny protocol of plain Node
 * scripts (no namespaces, no root): a receiver with a `reuse` key is started by the first run and
 * taken over by the next (same pid, charged only the CPU it used meanwhile, its folder emptied),
 * a fresh one is started when the pooled one has died, and stopAll ends every pooled process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmulatedNetwork } from '../../lab/hosts.js';
import type { NodeEvent, Protocol } from '../../lab/protocols/types.js';
import { ProcessPool, runOnce } from '../../lab/runner.js';
import type { Topology } from '../../lab/types.js';

const dir = mkdtempSync(join(tmpdir(), 'fanout-pool-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const topology: Topology = {
  name: 't', description: '', backend: 'auto', seed: 1, file: { kind: 'size', sizeBytes: 4 },
  transfer: { job: 'whole-file', rateKbps: 0, width: 2, options: {} },
  strategies: [], repeat: 1,
  receivers: [0, 1].map((index) => ({ index, downBps: 20e6, upBps: 10e6 })),
  sender: { upBps: 40e6, downBps: 40e6 }, events: [],
} as unknown as Topology;

const spawned: ChildProcess[] = [];
const localNet: EmulatedNetwork = {
  backend: 'netns',
  prefix: 'fl0000',
  address: () => '127.0.0.1',
  spawn: (_node, argv, env) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    spawned.push(p);
    return p;
  },
  adopt: async () => {},
  startReceivers: async () => {
    throw new Error('not used');
  },
  spawnSender: () => {
    throw new Error('not used');
  },
  applyEvent: async () => {},
  down: async () => {},
};

// A "receiver" that says it is ready and then prints its pid whenever its folder gets a file; the
// "sender" (the driver) writes each receiver's copy and exits.
const RECEIVER = `console.log('ready ' + process.pid); setInterval(() => {}, 1000);`;
const proto: Protocol<Record<string, never>> = {
  name: 'pooltest', job: 'whole-file', variants: ['v'], tools: [], services: [], backends: ['netns'], summary: 'test',
  parseOptions: () => ({}),
  phases: (ctx) => [
    { name: 'receivers', procs: [0, 1].map((i) => ({ node: { role: 'receiver' as const, index: i }, label: `r${i}`, argv: [process.execPath, '-e', RECEIVER, ctx.poolDir(i)], ready: /^ready/, stop: 'SIGTERM' as const, reuse: 'r' })) },
    {
      name: 'sender',
      procs: [{
        node: { role: 'source' as const }, label: 'sender', driver: true, ready: null, stop: 'SIGTERM' as const,
        argv: [process.execPath, '-e', `const fs=require('fs');for (const [i,d] of ${JSON.stringify([0, 1].map((i) => [i, ctx.poolDir(i)]))}) { fs.copyFileSync(${JSON.stringify(ctx.srcFile)}, d + '/' + ${JSON.stringify(ctx.runId)}); console.log('done ' + i); }`],
      }],
    },
  ],
  parseLine: (spec, line) => {
    const m = /^done (\d)/.exec(line);
    return spec.driver && m ? [{ kind: 'done', node: Number(m[1]) } as NodeEvent] : [];
  },
  verify: async (ctx, i) => (readdirSync(ctx.poolDir(i)).includes(ctx.runId) ? null : 'missing'),
  lowerBound: () => ({ seconds: 1, binding: 'test' }),
};

describe('the runner keeps `reuse` programs across runs on one network', () => {
  it('starts them once, hands them to the next run, restarts a dead one, and stopAll ends them', async () => {
    const src = join(dir, 'src.bin');
    writeFileSync(src, 'abcd');
    const pool = new ProcessPool();
    const opts = { topology, protocol: proto as Protocol<unknown>, options: {}, contender: 'pooltest/v', variant: 'v', srcFile: src, workDir: dir, pool, waitQuiet: false };
    const first = await runOnce(localNet, { ...opts, repeat: 1 });
    expect(first.receivers.every((r) => r.verified)).toBe(true);
    expect(pool.size).toBe(2);
    const receiversAfterFirst = spawned.filter((p) => p.exitCode === null && p.signalCode === null).length;
    expect(receiversAfterFirst).toBe(2); // the driver exited, the two receivers are still up
    // The pooled folders were emptied once verified.
    expect(readdirSync(join(dir, 'pool-pooltest', 'rx0'))).toEqual([]);

    const before = spawned.length;
    const second = await runOnce(localNet, { ...opts, repeat: 2 });
    expect(second.receivers.every((r) => r.verified)).toBe(true);
    expect(spawned.length - before).toBe(1); // only the driver is new
    expect(second.fidelity?.quietWaitS).toBe(0);

    // A pooled receiver that died is started afresh by the next run.
    const r0 = spawned[0]!;
    r0.kill('SIGKILL');
    await new Promise((r) => r0.once('close', r));
    const third = await runOnce(localNet, { ...opts, repeat: 3 });
    expect(third.receivers.every((r) => r.verified)).toBe(true);
    expect(spawned.length - before).toBe(3); // a driver each run, and one receiver

    await pool.stopAll();
    expect(pool.size).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(spawned.filter((p) => p.exitCode === null && p.signalCode === null)).toEqual([]);
  }, 30_000);
});
