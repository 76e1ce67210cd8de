/**
 * The netns implementation of EmulatedNetwork: receivers are `fanout receive` processes started
 * with `ip netns exec <host> node dist/cli/fanout.js receive ...` (ip execs node, so the pid we
 * get is the receiver's own), recorded in the ledger, stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { FANOUT_JS, RECEIVER_PORT, RunError, type EmulatedNetwork, type NodeRef, type RunningReceivers } from '../hosts.js';
import type { LinkEvent } from '../types.js';
import { mapLimit, type NetnsNetwork } from './backend.js';
import { execInNamespace } from './commands.js';


/** Receivers started at once: node's start-up is CPU-bound, two cores gain nothing from more. */
const START_CONCURRENCY = 16;
const READY_TIMEOUT_MS = 20_000;

export class NetnsHosts implements EmulatedNetwork {
  readonly backend = 'netns' as const;
  constructor(readonly net: NetnsNetwork) {}

  get prefix(): string {
    return this.net.prefix;
  }

  async startReceivers(outDirs: string[]): Promise<RunningReceivers> {
    const started: ChildProcess[] = [];
    const stop = async (): Promise<void> => {
      await Promise.all(
        started.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGTERM');
              setTimeout(() => p.kill('SIGKILL'), 3000).unref();
            }),
        ),
      );
    };
    try {
      const endpoints = await mapLimit(this.net.receivers, START_CONCURRENCY, async (r) => {
        const argv = execInNamespace(r.ns, [
          process.execPath, FANOUT_JS, 'receive', '--json',
          '--listen', `${r.address}:${RECEIVER_PORT}`, '--out', outDirs[r.index]!,
        ]);
        const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        started.push(p);
        if (p.pid !== undefined) await this.net.recordProcess(p.pid, { ns: r.ns, cmdline: argv });
        await waitReady(p, `receiver ${r.index} (${r.ns})`);
        return { index: r.index, address: `${r.address}:${RECEIVER_PORT}` };
      });
      return { endpoints, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  }

  spawnSender(argv: string[]): ChildProcess {
    return this.spawn({ role: 'source' }, [process.execPath, ...argv]);
  }

  address(node: NodeRef): string {
    return this.net.host(node).address;
  }

  async adopt(node: NodeRef, pid: number, argv: string[]): Promise<void> {
    await this.net.recordProcess(pid, { ns: this.net.host(node).ns, cmdline: argv });
  }

  spawn(node: NodeRef, argv: string[], env?: Record<string, string>): ChildProcess {
    const ns = this.net.host(node).ns;
    const full = execInNamespace(ns, argv);
    const p = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    if (p.pid !== undefined) void this.net.recordProcess(p.pid, { ns, cmdline: full });
    return p;
  }

  applyEvent(ev: LinkEvent): Promise<void> {
    return this.net.applyEvent(ev);
  }

  async down(): Promise<void> {
    await this.net.down();
  }
}

function waitReady(p: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => reject(new RunError(`${what} did not report listening within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    const lines = createInterface({ input: p.stdout! });
    lines.on('line', (line) => {
      if (line.includes('"event":"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new RunError(`${what} exited with ${code} before listening: ${stderr.trim().slice(0, 2000)}`));
    });
  });
}
