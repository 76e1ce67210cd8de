/** Shared by the abuse suite: a real `fanout receive` on 127.0.0.1, a legitimate sender, checks. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { randomBasePort, runSend, startReceiver, type Receiver } from '../helpers/procs.js';

export interface Target {
  rx: Receiver;
  port: number;
  out: string;
  work: string;
  stop(): Promise<void>;
}

/** `fanout receive` on two ports of 127.0.0.1 storing into a fresh folder (or `out`). */
export async function startTarget(args: string[] = [], out?: string): Promise<Target> {
  const work = mkdtempSync(join(tmpdir(), 'fanout-abuse-'));
  const dir = out ?? join(work, 'out');
  for (let attempt = 0; ; attempt++) {
    const port = randomBasePort(2);
    try {
      const rx = await startReceiver(['--listen', `127.0.0.1:${port}-${port + 1}`, '--out', dir, ...args]);
      return {
        rx,
        port,
        out: dir,
        work,
        stop: async () => {
          await rx.stop();
          rmSync(work, { recursive: true, force: true });
        },
      };
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

/** Peak resident memory of a process (VmHWM), MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Receiver memory stays bounded: prints the peak and checks it against `limitMiB`. */
export function checkMemory(t: Target, what: string, limitMiB = 200): number {
  const mib = peakRssMiB(t.rx.proc.pid!);
  process.stdout.write(`abuse: ${what}: receiver peak RSS ${mib.toFixed(1)} MiB\n`);
  expect(mib).toBeLessThan(limitMiB);
  return mib;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The complete fragments in the folder, by name, as SHA-256. */
export function fragments(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync(dir)) if (n.endsWith('.frag')) out.set(n, sha(readFileSync(join(dir, n))));
  return out;
}

/** Every fragment in `before` is still there with the same content. */
export function checkUnchanged(dir: string, before: Map<string, string>): void {
  const now = fragments(dir);
  for (const [n, h] of before) expect(now.get(n), `${n} replaced or corrupted`).toBe(h);
}

/**
 * A legitimate `fanout send` of a random file to both ports: exits 0 and every fragment is stored
 * byte for byte. Returns the fragments as stored.
 */
export async function legitSend(t: Target, extra: string[] = [], sizeBytes = 2 << 20): Promise<void> {
  const file = join(t.work, `legit-${Date.now()}.bin`);
  const bytes = randomBytes(sizeBytes);
  writeFileSync(file, bytes);
  const r = await runSend(['--file', file, '--nodes', `127.0.0.1:${t.port},127.0.0.1:${t.port + 1}`, '--rate-kbps', 'unlimited', '--retries', '3', ...extra]);
  expect(r.code, r.stderr + JSON.stringify(r.summary?.failed)).toBe(0);
  const id = r.summary!.transferId as string;
  const half = Math.ceil(bytes.length / 2);
  expect(readFileSync(join(t.out, `${id}.0.frag`)).equals(bytes.subarray(0, half))).toBe(true);
  expect(readFileSync(join(t.out, `${id}.1.frag`)).equals(bytes.subarray(half))).toBe(true);
}

/** A key file in the target's work folder. */
export function keyFile(t: Target, name = 'key', bytes: Buffer = randomBytes(32)): string {
  const p = join(t.work, name);
  writeFileSync(p, bytes.toString('base64'), { mode: 0o600 });
  return p;
}
