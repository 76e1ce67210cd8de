/**
 * Measures the loss a lab link really has: datagrams from one node to another over the lab
 * network (the sink on the far node, the sender paced below the link rate so no queue drops),
 * counted at the far end. Used by the loss test and `npm run bench:loss`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { RunError, type EmulatedNetwork, type NodeRef } from '../hosts.js';

/** The compiled probe (from the TypeScript sources under vitest: the one in dist/). */
export const UDP_PROBE_JS = ((): string => {
  const here = fileURLToPath(new URL('./udp.js', import.meta.url));
  return existsSync(here) ? here : fileURLToPath(new URL('../../dist/lab/probe/udp.js', import.meta.url));
})();

function nextLine(p: ChildProcess, event: string, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    createInterface({ input: p.stdout! }).on('line', (line) => {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (o['event'] === event) resolve(o);
      } catch {
        // not ours
      }
    });
    p.once('exit', (code) => reject(new RunError(`${what} exited with ${code} before "${event}": ${stderr.trim()}`)));
  });
}

export interface LossMeasurement {
  sent: number;
  received: number;
  lossPct: number;
}

/** Sends `count` datagrams from `from` to `to` at `pps`, and counts what arrives. */
export async function measureLoss(net: EmulatedNetwork, from: NodeRef, to: NodeRef, count: number, pps: number, port = 47000): Promise<LossMeasurement> {
  const sink = net.spawn(to, [process.execPath, UDP_PROBE_JS, 'sink', net.address(to), String(port), '700']);
  try {
    await nextLine(sink, 'ready', 'the UDP sink');
    const received = nextLine(sink, 'received', 'the UDP sink');
    const sender = net.spawn(from, [process.execPath, UDP_PROBE_JS, 'send', net.address(to), String(port), String(count), String(pps)]);
    const sent = Number((await nextLine(sender, 'sent', 'the UDP sender'))['count']);
    const got = Number((await received)['count']);
    return { sent, received: got, lossPct: (100 * (sent - got)) / sent };
  } finally {
    sink.kill('SIGKILL');
  }
}
