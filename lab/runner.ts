/**
 * One run: one strategy, one repeat, on a network that is up. Fresh receiver folders, receivers
 * started, the real `fanout send --json` on the sender host, timed link events applied, then every
 * fragment compared byte for byte with its slice of the source, and the figures computed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readSync, closeSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { planFragments } from '../core/fragments.js';
import type { SenderEvent, SenderSummary } from '../sender/report.js';
import type { StrategyName } from '../sender/strategies/names.js';
import { LAB_CHUNK_BYTES, topologyLowerBound } from './bound.js';
import { FANOUT_JS, RunError, type EmulatedNetwork } from './hosts.js';
import type { ReceiverResult, RunResult, Topology } from './types.js';


export { RunError } from './hosts.js';

export interface RunContext {
  topology: Topology;
  strategy: StrategyName;
  repeat: number;
  srcFile: string;
  workDir: string;
  keep?: boolean;
  onEvent?: (ev: SenderEvent) => void;
}

/** Compares a stored fragment with its slice of the source, in blocks. */
export function sameBytes(srcFd: number, offset: number, size: number, path: string): boolean {
  if (!existsSync(path) || statSync(path).size !== size) return false;
  const fd = openSync(path, 'r');
  const a = Buffer.allocUnsafe(1 << 20);
  const b = Buffer.allocUnsafe(1 << 20);
  try {
    for (let at = 0; at < size; ) {
      const n = Math.min(a.length, size - at);
      if (readSync(srcFd, a, 0, n, offset + at) !== n || readSync(fd, b, 0, n, at) !== n) return false;
      if (!a.subarray(0, n).equals(b.subarray(0, n))) return false;
      at += n;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

export async function runOnce(net: EmulatedNetwork, ctx: RunContext): Promise<RunResult> {
  const t = ctx.topology;
  const runDir = join(ctx.workDir, `${ctx.strategy}-${ctx.repeat}`);
  rmSync(runDir, { recursive: true, force: true });
  const outDirs = t.receivers.map((r) => join(runDir, `rx${r.index}`));
  for (const d of outDirs) mkdirSync(d, { recursive: true });
  const receivers = await net.startReceivers(outDirs);
  const timers: NodeJS.Timeout[] = [];
  let summary: SenderSummary | undefined;
  let stderr = '';
  const eventErrors: string[] = [];
  const tid = randomBytes(16).toString('hex');
  try {
    const nodesFile = join(runDir, 'nodes.txt');
    writeFileSync(nodesFile, receivers.endpoints.map((e) => e.address).join('\n') + '\n');
    const sender = net.spawnSender([
      FANOUT_JS, 'send', '--json', '--file', ctx.srcFile, '--nodes', nodesFile,
      '--rate-kbps', String(t.transfer.rateKbps), '--strategy', ctx.strategy, '--width', String(t.transfer.width),
      '--transfer-id', tid, '--chunk-bytes', String(LAB_CHUNK_BYTES),
    ]);
    sender.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    createInterface({ input: sender.stdout! }).on('line', (line) => {
      let ev: SenderEvent | SenderSummary;
      try {
        ev = JSON.parse(line) as SenderEvent | SenderSummary;
      } catch {
        return;
      }
      if (ev.event === 'summary') {
        summary = ev;
        return;
      }
      if (ev.event === 'start') {
        // Timed link events count from the sender's start.
        for (const le of t.events) {
          timers.push(setTimeout(() => net.applyEvent(le).catch((err) => eventErrors.push(String(err))), le.atMs));
        }
      }
      ctx.onEvent?.(ev);
    });
    const code = await new Promise<number | null>((resolve) => sender.once('close', (c) => resolve(c)));
    if (!summary) throw new RunError(`the sender exited with ${code} and no summary: ${stderr.trim().slice(-2000)}`);
    if (eventErrors.length > 0) throw new RunError(`a link event failed: ${eventErrors.join('; ')}`);
  } finally {
    for (const tm of timers) clearTimeout(tm);
    await receivers.stop();
  }
  const s = summary;
  const fileBytes = statSync(ctx.srcFile).size;
  const plan = planFragments(fileBytes, t.receivers.length);
  const srcFd = openSync(ctx.srcFile, 'r');
  let results: ReceiverResult[];
  try {
    results = t.receivers.map((r) => {
      const node = s.nodes[r.index]!;
      const frag = plan[r.index]!;
      const verified = node.error === null && sameBytes(srcFd, frag.offsetBytes, frag.sizeBytes, join(outDirs[r.index]!, `${tid}.${r.index}.frag`));
      const error = node.error ?? (verified ? undefined : 'stored fragment differs from the source');
      return {
        index: r.index,
        address: receivers.endpoints[r.index]!.address,
        downBps: r.downBps,
        upBps: r.upBps,
        fragmentBytes: frag.sizeBytes,
        bytes: node.bytes,
        startS: node.startS,
        firstByteS: node.firstByteS,
        doneS: node.doneS,
        verified,
        ...(error ? { error } : {}),
      };
    });
  } finally {
    closeSync(srcFd);
  }
  if (!ctx.keep) rmSync(runDir, { recursive: true, force: true });
  const bound = topologyLowerBound(t, plan.map((p) => p.sizeBytes));
  return {
    strategy: ctx.strategy,
    repeat: ctx.repeat,
    makespanS: s.makespanS,
    lowerBoundS: bound.seconds,
    efficiency: s.makespanS / bound.seconds,
    rateOvershoot: s.rateOvershoot ?? 0,
    wireOverhead: s.wireBytes / Math.max(1, s.payloadBytes) - 1,
    payloadBytes: s.payloadBytes,
    wireBytes: s.wireBytes,
    cpuUserS: s.cpuUserS,
    cpuSysS: s.cpuSysS,
    maxRssBytes: s.maxRssBytes,
    failedReceivers: results.filter((r) => r.error !== undefined).length,
    receivers: results,
  };
}
