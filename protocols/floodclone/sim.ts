/**
 * FloodClone in the flow simulator: the very same Picker (per node) and SourceScheduler objects,
 * over peer-to-peer flows instead of sockets. Each connection (uploader -> downloader) carries its
 * requested chunks one after another, as a TCP stream does; every connection with a chunk in
 * progress is one flow limited by the uploader's up link and the downloader's down link, the flows
 * sharing links max-min fairly (lab/sim/fair-share.ts). Control messages (REQUEST, HAVE, CANCEL,
 * ...) take `latencyMs` and no capacity. Rates are payload bytes/s; link changes happen at their
 * times. The source writes on a connection only when it is idle, as the driver writes only on a
 * socket with room.
 *
 * Cost: a max-min solve per event over all active flows, so this is for tens of nodes, not
 * thousands (the 1,000-node target is not met by this model).
 */
import { maxMinRates, type FairFlow } from '../../lab/sim/fair-share.js';
import { Picker } from './picker.js';
import { SourceScheduler } from './source-policy.js';

export interface FloodSimInput {
  fileBytes: number;
  chunkBytes: number;
  /** Payload bytes/s (Infinity: unlimited). */
  sourceUp: number;
  nodes: { up: number; down: number }[];
  /** Link changes (payload bytes/s) at times from the start. */
  changes?: { atMs: number; node: number; up?: number; down?: number }[];
  latencyMs?: number;
  tickMs?: number;
  /** Give up at this simulated time. */
  limitMs?: number;
  /**
   * Shared links beyond each node's up and down (the trunks of sites): their capacities (payload
   * bytes/s; changes do not touch them) and, for a flow from `from` to `to` (-1: the source), the
   * indexes into `caps` of those it crosses. Without it, a flow crosses only the two node links.
   */
  extra?: { caps: number[]; route(from: number, to: number): number[] };
}

export interface FloodSimResult {
  doneMs: (number | null)[];
  firstByteMs: (number | null)[];
  upBytes: number[];
  sourceUpBytes: number;
  duplicates: number;
  freshSent: number;
  directSent: number;
  steps: number;
  /** Chunks delivered across each extra link (one per chunk copy that crossed it, duplicates included). */
  extraChunks: number[];
}

interface Conn {
  from: number; // -1: the source
  to: number;
  queue: number[];
  active: { chunk: number; left: number } | null;
  /** The links it crosses, as indexes into the solver's capacities. */
  links: number[];
  /** Its extra links (indexes into FloodSimInput.extra.caps). */
  extra: number[];
}

const EPS = 1e-6;

export function simulateFlood(i: FloodSimInput): FloodSimResult {
  const n = i.nodes.length;
  const chunks = Math.ceil(i.fileBytes / i.chunkBytes);
  const len = (k: number): number => Math.min(i.chunkBytes, i.fileBytes - k * i.chunkBytes);
  const latency = i.latencyMs ?? 1;
  const tickMs = i.tickMs ?? 50;
  const limitMs = i.limitMs ?? 3_600_000;
  const up = i.nodes.map((x) => x.up);
  const down = i.nodes.map((x) => x.down);
  const pickers = i.nodes.map((_, k) => new Picker({ chunks, chunkBytes: i.chunkBytes, seed: k + 1 }));
  const sched = new SourceScheduler(chunks);
  const conns = new Map<string, Conn>();
  const conn = (from: number, to: number): Conn => {
    const key = `${from}>${to}`;
    let c = conns.get(key);
    if (!c) {
      const extra = i.extra?.route(from, to) ?? [];
      conns.set(key, (c = { from, to, queue: [], active: null, extra, links: [from < 0 ? 0 : 1 + from, 1 + n + to, ...extra.map((x) => 1 + 2 * n + x)] }));
    }
    return c;
  };
  // Handles in node k's picker: 0 the source, j + 1 node j.
  pickers.forEach((p, k) => {
    p.addPeer(0, true, 0);
    for (let j = 0; j < n; j++) if (j !== k) p.addPeer(j + 1, false, 0);
    sched.open(k);
  });
  const doneMs: (number | null)[] = up.map(() => null);
  const firstByteMs: (number | null)[] = up.map(() => null);
  const upBytes = up.map(() => 0);
  const extraChunks = (i.extra?.caps ?? []).map(() => 0);
  let sourceUpBytes = 0;
  let now = 0;
  let steps = 0;
  const timed: { t: number; run: () => void }[] = [];
  const later = (dt: number, run: () => void): void => void timed.push({ t: now + dt, run });
  for (const ch of i.changes ?? []) timed.push({ t: ch.atMs, run: () => ((ch.up !== undefined && (up[ch.node] = ch.up)), ch.down !== undefined && (down[ch.node] = ch.down)) });

  const startNext = (c: Conn): void => {
    if (c.active || c.queue.length === 0) return;
    const k = c.queue.shift()!;
    c.active = { chunk: k, left: len(k) };
  };
  const feedSource = (): void => {
    for (let k = 0; k < n; k++) {
      const c = conn(-1, k);
      sched.setWritable(k, c.active === null);
    }
    for (let k = 0; k < n; k++) {
      const c = conn(-1, k);
      while (c.active === null) {
        const a = sched.next(k);
        if (!a) break;
        if (a.kind === 'chunk') {
          c.active = { chunk: a.chunk, left: len(a.chunk) };
          sched.setWritable(k, false);
        } else if (a.kind === 'nofresh') later(latency, () => (pickers[k]!.onNoFresh(), decide(k)));
        else later(latency, () => (pickers[k]!.onCancelled(0, a.chunk, now), decide(k)));
      }
    }
  };
  const decide = (k: number): void => {
    const p = pickers[k]!;
    let backlog = 0;
    for (const c of conns.values()) if (c.from === k) backlog += c.queue.reduce((a, x) => a + len(x), 0) + (c.active?.left ?? 0);
    p.onUpload(now, backlog, upBytes[k]!);
    for (const a of p.pick(now)) {
      later(latency, () => {
        if (a.kind === 'fresh') sched.onRequest(k, -1);
        else if (a.peer === 0) {
          if (a.kind === 'request') sched.onRequest(k, a.chunk);
          else sched.onCancel(k, a.chunk);
        } else {
          const c = conn(a.peer - 1, k);
          if (a.kind === 'request') {
            c.queue.push(a.chunk);
            startNext(c);
          } else {
            const at = c.queue.indexOf(a.chunk);
            if (at >= 0) {
              c.queue.splice(at, 1);
              later(latency, () => (pickers[k]!.onCancelled(a.peer, a.chunk, now), decide(k)));
            }
          }
        }
        feedSource();
      });
    }
  };
  const complete = (c: Conn, chunk: number): void => {
    const k = c.to;
    for (const x of c.extra) extraChunks[x]!++;
    const v = pickers[k]!.onChunk(c.from + 1, chunk, true, now);
    if (v === 'store') {
      firstByteMs[k] ??= now;
      for (let j = 0; j < n; j++) if (j !== k) later(latency, () => (pickers[j]!.onHave(k + 1, [chunk]), decide(j)));
      if (pickers[k]!.complete && doneMs[k] === null) doneMs[k] = now;
    }
    decide(k);
  };

  for (let k = 0; k < n; k++) decide(k);
  let nextTick = tickMs;
  while (doneMs.some((d) => d === null) && now < limitMs) {
    steps++;
    // Rates of every connection with a chunk in progress.
    const active = [...conns.values()].filter((c) => c.active !== null);
    const caps: number[] = [i.sourceUp, ...up, ...down, ...(i.extra?.caps ?? [])];
    const flows: FairFlow[] = active.map((c) => ({ links: c.links }));
    const rates = active.length > 0 ? maxMinRates(flows, caps.map((x) => (Number.isFinite(x) ? x : 1e15))) : [];
    let dt = nextTick - now;
    for (const t of timed) dt = Math.min(dt, t.t - now);
    active.forEach((c, f) => {
      if (rates[f]! > 0) dt = Math.min(dt, (c.active!.left * 1000) / rates[f]!);
    });
    dt = Math.max(0, dt);
    now += dt;
    const finished: Conn[] = [];
    active.forEach((c, f) => {
      const moved = (rates[f]! * dt) / 1000;
      c.active!.left -= moved;
      if (c.from < 0) sourceUpBytes += moved;
      else upBytes[c.from]! += moved;
      if (c.active!.left <= EPS) finished.push(c);
    });
    for (const c of finished) {
      const chunk = c.active!.chunk;
      c.active = null;
      complete(c, chunk);
      startNext(c);
    }
    const due = timed.filter((t) => t.t <= now + EPS);
    for (const t of due) timed.splice(timed.indexOf(t), 1);
    for (const t of due) t.run();
    if (now >= nextTick - EPS) {
      nextTick += tickMs;
      for (let k = 0; k < n; k++) decide(k);
    }
    feedSource();
  }
  return { doneMs, firstByteMs, upBytes, sourceUpBytes, duplicates: pickers.reduce((a, p) => a + p.duplicates, 0), freshSent: sched.freshSent, directSent: sched.directSent, steps, extraChunks };
}
