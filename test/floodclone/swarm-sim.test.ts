/**
 * The real picker and source scheduler in a small virtual-time swarm: each node's uplink sends one
 * chunk at a time at its rate (its requests served in arrival order), the source likewise; control
 * messages arrive after `latencyMs`. Downlinks are not limited here. It checks the promises that do
 * not depend on TCP: every node completes, no chunk arrives twice, the source sends each chunk once
 * while peers can forward, and the makespan is near the Kumar-Ross bound.
 */
import { describe, expect, it } from 'vitest';
import { Picker } from '../../protocols/floodclone/picker.js';
import { SourceScheduler } from '../../protocols/floodclone/source-policy.js';

interface SimResult {
  makespanMs: number;
  boundMs: number;
  duplicates: number;
  freshSent: number;
  directSent: number;
}

function simulate(o: { chunks: number; chunkBytes: number; sourceUp: number; up: number[]; latencyMs: number; changes?: { atMs: number; node: number; up: number }[] }): SimResult {
  const n = o.up.length;
  const up = [...o.up];
  const pickers = up.map((_, i) => new Picker({ chunks: o.chunks, chunkBytes: o.chunkBytes, seed: i + 1 }));
  const sched = new SourceScheduler(o.chunks);
  // Handles: node i sees the source as 0 and node j as j + 1.
  pickers.forEach((p, i) => {
    p.addPeer(0, true, 0);
    for (let j = 0; j < n; j++) if (j !== i) p.addPeer(j + 1, false, 0);
    sched.open(i);
  });
  type Ev = { t: number; run: () => void };
  const q: Ev[] = [];
  const at = (t: number, run: () => void): void => {
    q.push({ t, run });
  };
  // Uplink queues: requests (to, chunk); busy-until.
  const queues: { to: number; chunk: number }[][] = up.map(() => []);
  const busy: boolean[] = up.map(() => false);
  const sent: number[] = up.map(() => 0);
  let srcBusy = false;
  const done: number[] = up.map(() => -1);
  let now = 0;
  const deliver = (to: number, from: number, chunk: number): void => {
    const p = pickers[to]!;
    const v = p.onChunk(from, chunk, true, now);
    if (v === 'store') {
      for (let j = 0; j < n; j++) if (j !== to) at(now + o.latencyMs, () => pickers[j]!.onHave(to + 1, [chunk], now + o.latencyMs));
      if (p.complete && done[to]! < 0) done[to] = now;
    }
    kick(to);
  };
  const serveNode = (i: number): void => {
    if (busy[i] || queues[i]!.length === 0) return;
    const r = queues[i]!.shift()!;
    busy[i] = true;
    at(now + (o.chunkBytes * 1000) / up[i]!, () => {
      busy[i] = false;
      sent[i]! += o.chunkBytes;
      deliver(r.to, i + 1, r.chunk);
      serveNode(i);
    });
  };
  const serveSource = (): void => {
    if (srcBusy) return;
    for (let k = 0; k < n; k++) {
      const i = (rr + k) % n;
      const a = sched.next(i);
      if (!a) continue;
      rr = (i + 1) % n;
      if (a.kind === 'nofresh') {
        at(now + o.latencyMs, () => {
          pickers[i]!.onNoFresh();
          kick(i);
        });
        return serveSource();
      }
      if (a.kind === 'cancelled') {
        at(now + o.latencyMs, () => {
          pickers[i]!.onCancelled(0, a.chunk, now);
          kick(i);
        });
        return serveSource();
      }
      srcBusy = true;
      at(now + (o.chunkBytes * 1000) / o.sourceUp, () => {
        srcBusy = false;
        deliver(i, 0, a.chunk);
        serveSource();
      });
      return;
    }
  };
  let rr = 0;
  const kick = (i: number): void => {
    const p = pickers[i]!;
    const backlog = queues[i]!.length * o.chunkBytes;
    p.onUpload(now, backlog, sent[i]!);
    for (const a of p.pick(now)) {
      at(now + o.latencyMs, () => {
        if (a.kind === 'fresh') sched.onRequest(i, -1);
        else if (a.peer === 0) (a.kind === 'request' ? sched.onRequest(i, a.chunk) : sched.onCancel(i, a.chunk));
        else {
          const j = a.peer - 1;
          if (a.kind === 'request') {
            queues[j]!.push({ to: i, chunk: a.chunk });
            serveNode(j);
          } else {
            const k = queues[j]!.findIndex((r) => r.to === i && r.chunk === a.chunk);
            if (k >= 0) {
              queues[j]!.splice(k, 1);
              at(now + o.latencyMs, () => {
                pickers[i]!.onCancelled(j + 1, a.chunk, now);
                kick(i);
              });
            }
          }
        }
        serveSource();
      });
    }
  };
  for (const c of o.changes ?? []) at(c.atMs, () => (up[c.node] = c.up));
  for (let i = 0; i < n; i++) kick(i);
  // A tick every 50 ms, as the driver has (cancels, fresh requests as backlogs drain).
  for (let t = 50; t < 600_000; t += 50) at(t, () => pickers.forEach((_, i) => kick(i)));
  while (q.length > 0 && done.some((d) => d < 0)) {
    let best = 0;
    for (let k = 1; k < q.length; k++) if (q[k]!.t < q[best]!.t) best = k;
    const ev = q.splice(best, 1)[0]!;
    now = ev.t;
    ev.run();
    if (q.length > 200_000) throw new Error('runaway');
  }
  const F = o.chunks * o.chunkBytes;
  // Kumar-Ross with the uplink changes integrated: the earliest time all uplinks together moved n x F.
  let aggMs = 0;
  {
    const rates = [...o.up];
    let left = n * F;
    let t = 0;
    for (const c of [...(o.changes ?? [])].sort((x, y) => x.atMs - y.atMs)) {
      const cap = (o.sourceUp + rates.reduce((a, b) => a + b, 0)) / 1000;
      if (left <= cap * (c.atMs - t)) break;
      left -= cap * (c.atMs - t);
      t = c.atMs;
      rates[c.node] = c.up;
    }
    aggMs = t + left / ((o.sourceUp + rates.reduce((a, b) => a + b, 0)) / 1000);
  }
  const boundMs = Math.max((1000 * F) / o.sourceUp, aggMs);
  return { makespanMs: Math.max(...done), boundMs, duplicates: pickers.reduce((a, p) => a + p.duplicates, 0), freshSent: sched.freshSent, directSent: sched.directSent };
}

describe('floodclone policy in a virtual-time swarm', () => {
  it('the source slow, the peers fast: every chunk leaves the source once, makespan near F/u_s', () => {
    const r = simulate({ chunks: 64, chunkBytes: 64_000, sourceUp: 1_000_000, up: Array(8).fill(6_000_000), latencyMs: 2 });
    expect(r.duplicates).toBe(0);
    expect(r.freshSent).toBe(64);
    expect(r.makespanMs / r.boundMs).toBeLessThan(1.15);
  });

  it('thin uploads (aggregate binds): every uplink kept busy, makespan within 1.25x of the bound', () => {
    const r = simulate({ chunks: 48, chunkBytes: 64_000, sourceUp: 4_000_000, up: Array(12).fill(1_000_000), latencyMs: 2 });
    expect(r.duplicates).toBe(0);
    expect(r.makespanMs / r.boundMs).toBeLessThan(1.25);
  });

  it('one very slow uploader does not stall the end game', () => {
    const up = [...Array(7).fill(4_000_000), 100_000];
    const r = simulate({ chunks: 40, chunkBytes: 64_000, sourceUp: 4_000_000, up, latencyMs: 2 });
    expect(r.duplicates).toBe(0);
    expect(r.makespanMs / r.boundMs).toBeLessThan(1.4);
  });

  // A chunk the collapsed uplink had already started still finishes there, at 1/60 of the old rate
  // (1.28 s for 64 kB): the policy never puts a chunk in flight twice, so that one chunk is the
  // price (in the lab's scenarios, a 64 KiB chunk at 2 Mbit/s: 0.26 s). Requests it had not started
  // are cancelled and moved; without that the makespan here was 9.2x the bound.
  it('an uplink that collapses mid-run: its requests move elsewhere, nothing is received twice', () => {
    const r = simulate({ chunks: 40, chunkBytes: 64_000, sourceUp: 2_000_000, up: Array(6).fill(3_000_000), latencyMs: 2, changes: [{ atMs: 300, node: 2, up: 50_000 }] });
    expect(r.duplicates).toBe(0);
    expect(Number.isFinite(r.makespanMs)).toBe(true);
    expect(r.makespanMs / r.boundMs).toBeLessThan(2.5);
  });
});
