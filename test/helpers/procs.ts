/** Spawning the built CLI (dist/) in tests: receivers that announce readiness, senders with --json. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The built CLI (npm test builds first), the same file the lab runs on every host. */
export const FANOUT = fileURLToPath(new URL('../../dist/cli/fanout.js', import.meta.url));

export interface Receiver {
  proc: ChildProcess;
  events: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `fanout receive --json ...` and resolves once it prints its listening line. */
export function startReceiver(args: string[]): Promise<Receiver> {
  const proc = spawn(process.execPath, [FANOUT, 'receive', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as Record<string, unknown>;
      events.push(ev);
      if (ev.event === 'listening') resolve({ proc, events, stop });
    });
    proc.once('exit', (code) => reject(new Error(`receiver exited with ${code} before listening: ${stderr}`)));
  });
}

export interface SendResult {
  code: number | null;
  events: Record<string, any>[];
  summary: Record<string, any> | undefined;
  stderr: string;
}

/** Runs `fanout send --json ...` to completion. */
export function runSend(args: string[], onEvent?: (ev: Record<string, any>) => void): Promise<SendResult> {
  const proc = spawn(process.execPath, [FANOUT, 'send', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, any>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const ev = JSON.parse(line) as Record<string, any>;
    events.push(ev);
    onEvent?.(ev);
  });
  return new Promise((resolve) => {
    proc.once('close', (code) => resolve({ code, events, summary: events.find((e) => e.event === 'summary'), stderr }));
  });
}

/** A random base port with `count` ports above it, for tests that listen on 127.0.0.1. */
export function randomBasePort(count: number): number {
  // Below the ephemeral range (32768+), so outgoing connections never hold one of ours.
  return 10000 + Math.floor(Math.random() * (22000 - count));
}
