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
 * Cost: decisions batched per step, rates solved again only when the flows change; `degree`
 * gives a partial mesh for hundreds of nodes, and `minStepMs` groups the completions of thousands
 * of flows into steps of at least that long (scenarios/flood-1000.yaml: 10 ms, the same makespan
 * as exact steps to 0.1 %, about 8x faster). Both are approximations the TCP driver does not make.
 */
import { Picker, type PickerConfig } from './picker.js';
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
   * Shortest step (ms): the simulation advances at least this far each time (0, the default: to the
   * next event exactly). A flow due to finish within the step finishes at its end, having moved
   * only what it had left (its link's capacity for the rest of the step is lost). With thousands of
   * flows the next completion is microseconds away and every completion re-solves the max-min
   * rates; a step of 1 ms groups them (see simQuantumMs in the plug-in).
   */
  minStepMs?: number;
  /**
   * Each node meshes with this many others (a random regular graph, seeded), not with all of them.
   * The TCP driver meshes fully; this is for simulating thousands of nodes, where a full mesh costs
   * every pick O(n). Absent or >= n - 1: the full mesh.
   */
  degree?: number;
  /**
   * Shared links beyond each node's up and down (the trunks of sites): their capacities (payload
   * bytes/s; changes do not touch them) and, for a flow from `from` to `to` (-1: the source), the
   * indexes into `caps` of those it crosses. Without it, a flow crosses only the two node links.
   */
  extra?: { caps: number[]; route(from: number, to: number): number[] };
  /** Picker tuning (experiments; the driver's defaults otherwise). */
  picker?: Omit<PickerConfig, 'chunks' | 'chunkBytes' | 'seed'>;
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
  const minStep = i.minStepMs ?? 0;
  const up = i.nodes.map((x) => x.up);
  const down = i.nodes.map((x) => x.down);
  const pickers = i.nodes.map((_, k) => new Picker({ ...i.picker, chunks, chunkBytes: i.chunkBytes, seed: k + 1 }));
  const sched = new SourceScheduler(chunks);
  const conns = new Map<number, Conn>();
  /** Connections with a chunk in progress: the flows. */
  const active = new Set<Conn>();
  /** The set of flows (or a capacity) changed since the last max-min solve. */
  let flowsChanged = true;
  /** Bytes queued or in progress on each node's uploads (its backlog, kept as it changes). */
  const backlog = new Float64Array(n);
  const setActive = (c: Conn, a: Conn['active']): void => {
    if (c.active && c.from >= 0) backlog[c.from]! -= c.active.left;
    c.active = a;
    if (a) {
      if (c.from >= 0) backlog[c.from]! += a.left;
      if (!active.has(c)) (active.add(c), (flowsChanged = true));
    } else if (active.delete(c)) flowsChanged = true;
  };
  const conn = (from: number, to: number): Conn => {
    const key = (from + 1) * (n + 1) + to;
    let c = conns.get(key);
    if (!c) {
      const extra = i.extra?.route(from, to) ?? [];
      conns.set(key, (c = { from, to, queue: [], active: null, extra, links: [from < 0 ? 0 : 1 + from, 1 + n + to, ...extra.map((x) => 1 + 2 * n + x)] }));
    }
    return c;
  };
  // Who meshes with whom: everyone (as the TCP driver does), or `degree` neighbours each.
  const neighbours = meshOf(n, i.degree);
  // Handles in node k's picker: 0 the source, j + 1 node j.
  pickers.forEach((p, k) => {
    p.addPeer(0, true, 0);
    for (const j of neighbours[k]!) p.addPeer(j + 1, false, 0);
    sched.open(k);
  });
  const doneMs: (number | null)[] = up.map(() => null);
  const firstByteMs: (number | null)[] = up.map(() => null);
  const upBytes = up.map(() => 0);
  const extraChunks = (i.extra?.caps ?? []).map(() => 0);
  let left = n;
  let sourceUpBytes = 0;
  let now = 0;
  let steps = 0;
  let seq = 0;
  // Timed events, a binary heap on (time, order of scheduling).
  const timed: { t: number; s: number; run: () => void }[] = [];
  const before = (a: { t: number; s: number }, b: { t: number; s: number }): boolean => a.t < b.t || (a.t === b.t && a.s < b.s);
  const push = (t: number, run: () => void): void => {
    const e = { t, s: seq++, run };
    let x = timed.length;
    timed.push(e);
    while (x > 0) {
      const parent = (x - 1) >> 1;
      if (!before(e, timed[parent]!)) break;
      timed[x] = timed[parent]!;
      x = parent;
    }
    timed[x] = e;
  };
  const pop = (): { t: number; run: () => void } => {
    const top = timed[0]!;
    const last = timed.pop()!;
    if (timed.length > 0) {
      let x = 0;
      for (;;) {
        const l = 2 * x + 1;
        if (l >= timed.length) break;
        const r = l + 1;
        const m = r < timed.length && before(timed[r]!, timed[l]!) ? r : l;
        if (!before(timed[m]!, last)) break;
        timed[x] = timed[m]!;
        x = m;
      }
      timed[x] = last;
    }
    return top;
  };
  const later = (dt: number, run: () => void): void => push(now + dt, run);
  for (const ch of i.changes ?? []) push(ch.atMs, () => {
    if (ch.up !== undefined) up[ch.node] = ch.up;
    if (ch.down !== undefined) down[ch.node] = ch.down;
    flowsChanged = true;
  });

  // Decisions are batched: an event marks its node, and every marked node decides once per step.
  const dirty = new Set<number>();
  let sourceDirty = true;
  const decideLater = (k: number): void => void dirty.add(k);
  const startNext = (c: Conn): void => {
    if (c.active || c.queue.length === 0) return;
    const k = c.queue.shift()!;
    if (c.from >= 0) backlog[c.from]! -= len(k);
    setActive(c, { chunk: k, left: len(k) });
  };
  const feedSource = (): void => {
    for (let k = 0; k < n; k++) sched.setWritable(k, conn(-1, k).active === null);
    for (let k = 0; k < n; k++) {
      const c = conn(-1, k);
      while (c.active === null) {
        const a = sched.next(k);
        if (!a) break;
        if (a.kind === 'chunk') {
          setActive(c, { chunk: a.chunk, left: len(a.chunk) });
          sched.setWritable(k, false);
        } else if (a.kind === 'nofresh') later(latency, () => (pickers[k]!.onNoFresh(), decideLater(k)));
        else later(latency, () => (pickers[k]!.onCancelled(0, a.chunk, now), decideLater(k)));
      }
    }
  };
  const decide = (k: number): void => {
    const p = pickers[k]!;
    p.onUpload(now, Math.max(0, backlog[k]!), upBytes[k]!);
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
            backlog[c.from]! += len(a.chunk);
            startNext(c);
          } else {
            const at = c.queue.indexOf(a.chunk);
            if (at >= 0) {
              c.queue.splice(at, 1);
              backlog[c.from]! -= len(a.chunk);
              later(latency, () => (pickers[k]!.onCancelled(a.peer, a.chunk, now), decideLater(k)));
            }
          }
        }
        sourceDirty = true;
      });
    }
  };
  const complete = (c: Conn, chunk: number): void => {
    const k = c.to;
    for (const x of c.extra) extraChunks[x]!++;
    const v = pickers[k]!.onChunk(c.from + 1, chunk, true, now);
    if (v === 'store') {
      firstByteMs[k] ??= now;
      // One HAVE to every neighbour, all arriving together.
      later(latency, () => {
        for (const j of neighbours[k]!) {
          pickers[j]!.onHave(k + 1, [chunk], now);
          decideLater(j);
        }
      });
      if (pickers[k]!.complete && doneMs[k] === null) (doneMs[k] = now), left--;
    }
    decideLater(k);
  };
  const flush = (): void => {
    // Deciding can only schedule later events, so one pass settles this instant.
    for (const k of dirty) decide(k);
    dirty.clear();
    if (sourceDirty) (sourceDirty = false), feedSource();
  };

  for (let k = 0; k < n; k++) decide(k);
  feedSource();
  let nextTick = tickMs;
  let flows: Conn[] = [];
  let rates: number[] = [];
  while (left > 0 && now < limitMs) {
    steps++;
    // Rates of every connection with a chunk in progress: solved again only when that set (or a
    // capacity) changed; a connection going on to its next queued chunk keeps its rate.
    if (flowsChanged) {
      flowsChanged = false;
      flows = [...active];
      const caps: number[] = [i.sourceUp, ...up, ...down, ...(i.extra?.caps ?? [])];
      rates = flows.length > 0 ? bottleneckRates(flows.map((c) => c.links), caps.map((x) => (Number.isFinite(x) ? x : 1e15))) : [];
    }
    let dt = nextTick - now;
    if (timed.length > 0) dt = Math.min(dt, timed[0]!.t - now);
    for (let f = 0; f < flows.length; f++) if (rates[f]! > 0) dt = Math.min(dt, (flows[f]!.active!.left * 1000) / rates[f]!);
    dt = Math.max(0, dt, Math.min(minStep, nextTick - now));
    now += dt;
    const finished: Conn[] = [];
    for (let f = 0; f < flows.length; f++) {
      const c = flows[f]!;
      const moved = Math.min((rates[f]! * dt) / 1000, c.active!.left);
      c.active!.left -= moved;
      if (c.from < 0) sourceUpBytes += moved;
      else (upBytes[c.from]! += moved), (backlog[c.from]! -= moved);
      if (c.active!.left <= EPS) finished.push(c);
    }
    for (const c of finished) {
      const chunk = c.active!.chunk;
      if (c.from >= 0) backlog[c.from]! -= c.active!.left;
      c.active = null;
      complete(c, chunk);
      if (c.queue.length > 0) startNext(c);
      else if (active.delete(c)) flowsChanged = true;
      if (c.from < 0) sourceDirty = true;
    }
    while (timed.length > 0 && timed[0]!.t <= now + EPS) pop().run();
    if (now >= nextTick - EPS) {
      nextTick += tickMs;
      for (let k = 0; k < n; k++) if (doneMs[k] === null) decideLater(k);
    }
    flush();
  }
  return { doneMs, firstByteMs, upBytes, sourceUpBytes, duplicates: pickers.reduce((a, p) => a + p.duplicates, 0), freshSent: sched.freshSent, directSent: sched.directSent, steps, extraChunks };
}

/**
 * Max-min fair rates of flows over links (no demands), by bottlenecks: the link whose remaining
 * capacity shared among its unfixed flows is smallest fixes those flows at that share; repeat. The
 * same allocation as fair-share.ts `maxMinRates` (progressive filling), in O(E log L) for E
 * flow-link incidences and L links (a heap with stale entries skipped).
 */
export function bottleneckRates(flows: readonly (readonly number[])[], capacities: readonly number[]): number[] {
  const L = capacities.length;
  const left = Float64Array.from(capacities);
  const users = new Int32Array(L);
  const on: number[][] = Array.from({ length: L }, () => []);
  flows.forEach((links, f) => {
    for (const l of links) (users[l]!++, on[l]!.push(f));
  });
  const rate = new Array<number>(flows.length).fill(0);
  const fixed = new Uint8Array(flows.length);
  const heap: { share: number; l: number }[] = [];
  const push = (e: { share: number; l: number }): void => {
    let x = heap.length;
    heap.push(e);
    while (x > 0) {
      const p = (x - 1) >> 1;
      if (heap[p]!.share <= e.share) break;
      heap[x] = heap[p]!;
      x = p;
    }
    heap[x] = e;
  };
  const pop = (): { share: number; l: number } => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let x = 0;
      for (;;) {
        const a = 2 * x + 1;
        if (a >= heap.length) break;
        const b = a + 1;
        const m = b < heap.length && heap[b]!.share < heap[a]!.share ? b : a;
        if (heap[m]!.share >= last.share) break;
        heap[x] = heap[m]!;
        x = m;
      }
      heap[x] = last;
    }
    return top;
  };
  for (let l = 0; l < L; l++) if (users[l]! > 0) push({ share: Math.max(0, left[l]!) / users[l]!, l });
  while (heap.length > 0) {
    const { share, l } = pop();
    if (users[l]! === 0 || share !== Math.max(0, left[l]!) / users[l]!) continue; // stale
    for (const f of on[l]!) {
      if (fixed[f]) continue;
      fixed[f] = 1;
      rate[f] = share;
      for (const m of flows[f]!) {
        left[m]! -= share;
        users[m]!--;
        if (m !== l && users[m]! > 0) push({ share: Math.max(0, left[m]!) / users[m]!, l: m });
      }
    }
  }
  return rate;
}

/** Each node's peers: all others, or a seeded random `degree`-regular ring (a shuffled circle, d/2 each side). */
export function meshOf(n: number, degree?: number): number[][] {
  if (degree === undefined || degree >= n - 1) return Array.from({ length: n }, (_, k) => Array.from({ length: n }, (_, j) => j).filter((j) => j !== k));
  if (!(Number.isInteger(degree) && degree >= 2 && degree % 2 === 0)) throw new RangeError(`degree must be an even integer >= 2, got ${degree}`);
  let x = 0x9e3779b9;
  const rnd = (): number => ((x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5), (x >>> 0) / 2 ** 32);
  const order = Array.from({ length: n }, (_, k) => k);
  for (let k = n - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [order[k], order[j]] = [order[j]!, order[k]!];
  }
  const out: number[][] = Array.from({ length: n }, () => []);
  for (let p = 0; p < n; p++) for (let d = 1; d <= degree / 2; d++) {
    const a = order[p]!;
    const b = order[(p + d) % n]!;
    out[a]!.push(b);
    out[b]!.push(a);
  }
  return out;
}
