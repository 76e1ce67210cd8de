/**
 * The cooperation logic in virtual time: a server and N nodes exchanging real coded packets (the
 * codec), each sender pacing with a FlowScheduler and choosing what to send with ServeState (asks,
 * holds, budgets), each receiver decoding, holding peers whose packets were dependent, and giving
 * budgets with needShare every 10 ms, exactly as coded/client.ts and coded/server.ts do, but with
 * time as a number and links as random loss with a 1 ms delay. No sockets, no clock.
 */
import { describe, expect, it } from 'vitest';
import { Decoder, Encoder, type CodeParams } from '../../coded/codec/index.js';
import { FlowScheduler } from '../../coded/pacing.js';
import { makeRng } from '../../coded/params.js';
import { NEED_SWARM_SLACK, needShare, ServeState, swarmCap } from '../../coded/serving.js';

interface SwarmOptions {
  nodes: number;
  segments: number;
  field: 'gf2' | 'gf256';
  k: number;
  window: number;
  /** Loss on every link direction (the server's uplink excepted, as in the lab), 0..1. */
  loss: number;
  /** Link rates in packets per ms. */
  serverUp: number;
  up: number;
  down: number;
  seed: number;
  /** Banded code (the sparse variant: 16); peers recode over the whole row space as the client does. */
  band?: number;
  /** Off: the client's behaviour before (budgets sized on k - rank; no rank gate), to compare. */
  swarmCap?: boolean;
  rankGate?: boolean;
}

const PKT = 1000; // link bytes per packet: 1 packet/ms = 8 Mbit/s
const toBps = (pktPerMs: number): number => pktPerMs * PKT * 8000;

interface Result {
  makespanMs: number;
  boundMs: number;
  received: number;
  dependent: number;
  late: number;
  depServer: number;
  ok: boolean;
}

function runSwarm(o: SwarmOptions): Result {
  const rng = makeRng(o.seed);
  const p: CodeParams = { field: o.field, k: o.k, symbolBytes: 16, ...(o.band ? { band: o.band } : {}) };
  const src = Array.from({ length: o.segments }, () => Uint8Array.from({ length: o.k * 16 }, () => Math.floor(rng() * 256)));
  const enc = src.map((d) => new Encoder(p, d, rng));
  const N = o.nodes;
  const ids = Array.from({ length: N + 1 }, (_, i) => i); // 0 = server
  // Per node: decoders in progress, segments held, next segment to want.
  const dec = ids.map(() => new Map<number, Decoder>());
  const have = ids.map((i) => new Set<number>(i === 0 ? src.map((_, s) => s) : []));
  const next = ids.map(() => 0);
  const doneAt = ids.map(() => -1);
  // serve[from][to]: what `from` keeps for `to`; sched[from]: its uplink.
  const serve = ids.map(() => new Map<number, ServeState>());
  const sched = ids.map((i) => new FlowScheduler<number>(toBps((i === 0 ? o.serverUp : o.up) * 0.95), 0));
  const peerEnc = ids.map(() => new Map<number, Encoder>());
  // In flight, delivered at `at`.
  type Pkt = { at: number; from: number; to: number; seg: number; coeffs: Uint8Array; payload: Uint8Array; srank: number };
  // A packet's header carries its sender's rank (the server's: how many it has sent of the segment,
  // the most anybody can hold); each node keeps the highest it saw (swarmRank) and budgets its
  // peers for what the swarm can still give it, min(k, swarmRank + slack) - rank, and a peer sends
  // only while its rank is above the receiver's last heard one (ServeState's rank gate), as
  // coded/client.ts does.
  const serverSent = src.map(() => 0);
  const swarmRank = ids.map(() => new Map<number, number>());
  type Ctl = { at: number; from: number; to: number; fn: () => void };
  let air: Pkt[] = [];
  let ctl: Ctl[] = [];
  let received = 0;
  let dependent = 0;
  let late = 0;
  let depServer = 0;
  const rankOf = (i: number, s: number): number => (have[i]!.has(s) ? o.k : (dec[i]!.get(s)?.rank ?? 0));
  // Innovative packets of a segment in progress, by node, segment and sender (ServeState's `fresh`).
  const innov = ids.map(() => new Map<number, Map<number, number>>());
  const freshOf = (i: number, s: number, except: number): number => {
    if (have[i]!.has(s)) return Infinity;
    const by = innov[i]!.get(s);
    if (!by) return 0;
    let n = 0;
    for (const [from, c] of by) if (from !== except) n += c;
    return n;
  };
  const lost = (): boolean => rng() < o.loss;

  const want = (i: number, now: number): void => {
    while (dec[i]!.size < o.window && next[i]! < o.segments) {
      const s = next[i]!++;
      dec[i]!.set(s, new Decoder(p));
      for (const j of ids) {
        if (j === i) continue;
        ctl.push({ at: now + 1, from: i, to: j, fn: () => {
          let st = serve[j]!.get(i);
          if (!st) {
            serve[j]!.set(i, (st = new ServeState()));
            // The receiver's downlink split equally among its N senders (the CapAllocator's start).
            sched[j]!.set(i, toBps((o.down * 0.95) / N), now + 1);
          }
          st.ask(s, j !== 0); // the server gets no budgets
        } });
      }
    }
  };
  for (let i = 1; i <= N; i++) want(i, 0);

  const limit = 200_000;
  let now = 0;
  for (; now < limit; now++) {
    // Control messages (TCP-like: not lost, 1 ms).
    const dueCtl = ctl.filter((c) => c.at <= now);
    ctl = ctl.filter((c) => c.at > now);
    for (const c of dueCtl) c.fn();
    // Deliveries.
    const due = air.filter((x) => x.at <= now);
    air = air.filter((x) => x.at > now);
    for (const x of due) {
      const i = x.to;
      received++;
      if (o.rankGate !== false && x.from !== 0) serve[i]!.get(x.from)?.heard(x.seg, x.srank);
      swarmRank[i]!.set(x.seg, Math.max(swarmRank[i]!.get(x.seg) ?? 0, x.srank));
      const d = dec[i]!.get(x.seg);
      if (!d) {
        dependent++;
        late++;
        continue;
      }
      if (d.add({ coeffs: x.coeffs, payload: x.payload }) === 'dependent') {
        dependent++;
        if (x.from === 0) depServer++;
        if (x.from !== 0) {
          const { from, seg } = x;
          ctl.push({ at: now + 1, from: i, to: from, fn: () => serve[from]!.get(i)?.hold(seg, freshOf(from, seg, i)) });
        }
      } else {
        let by = innov[i]!.get(x.seg);
        if (!by) innov[i]!.set(x.seg, (by = new Map()));
        by.set(x.from, (by.get(x.from) ?? 0) + 1);
      }
      if (d.complete) {
        expect(Buffer.from(d.data()).equals(Buffer.from(src[x.seg]!))).toBe(true);
        dec[i]!.delete(x.seg);
        have[i]!.add(x.seg);
        const seg = x.seg;
        for (const j of ids) if (j !== i) ctl.push({ at: now + 1, from: i, to: j, fn: () => serve[j]!.get(i)?.done(seg) });
        if (have[i]!.size === o.segments) doneAt[i] = now;
        want(i, now);
      }
    }
    if (doneAt.slice(1).every((t) => t >= 0)) break;
    // Budgets every 10 ms (sent by UDP: lossy).
    if (now % 10 === 0) {
      for (let i = 1; i <= N; i++) {
        for (const [seg, d] of dec[i]!) {
          const cap = o.swarmCap === false ? o.k : swarmCap(o.k, swarmRank[i]!.get(seg) ?? 0, NEED_SWARM_SLACK);
          for (const j of ids) {
            if (j === i || j === 0) continue;
            const n = needShare(cap, d.rank, N, 1.25, j + now / 10);
            const r = d.rank;
            if (!lost()) ctl.push({ at: now + 1, from: i, to: j, fn: () => serve[j]!.get(i)?.need(seg, n, o.rankGate === false ? undefined : r) });
          }
        }
      }
    }
    // Senders.
    for (const j of ids) {
      for (;;) {
        const myRank = j === 0 || o.rankGate === false ? undefined : (g: number): number => (have[j]!.has(g) ? Infinity : rankOf(j, g));
        const to = sched[j]!.next(now, PKT, (t) => serve[j]!.get(t)?.any((g) => freshOf(j, g, t), myRank) ?? false);
        if (to === null) break;
        const seg = serve[j]!.get(to)!.pick((g) => freshOf(j, g, to), myRank);
        if (seg === null) continue;
        let pkt;
        if (j === 0) {
          pkt = enc[seg]!.coded();
          serverSent[seg]!++;
        }
        else if (dec[j]!.has(seg)) pkt = dec[j]!.get(seg)!.recode(rng);
        else {
          let e = peerEnc[j]!.get(seg);
          if (!e) peerEnc[j]!.set(seg, (e = new Encoder(p, src[seg]!, rng)));
          pkt = e.coded();
        }
        if (!pkt) continue;
        if ((j !== 0 && lost()) || lost()) continue; // the sender's uplink (not the server's), then the receiver's downlink
        air.push({ at: now + 1, from: j, to, seg, coeffs: pkt.coeffs, payload: pkt.payload, srank: j === 0 ? Math.min(o.k, serverSent[seg]!) : rankOf(j, seg) });
      }
    }
  }
  const F = o.segments * o.k;
  const keep = 1 - o.loss;
  const boundMs = Math.max(F / (o.serverUp * 0.95 * keep), F / (o.down * 0.95 * keep), (N * F) / ((o.serverUp + N * o.up * keep) * 0.95 * keep));
  const res = { makespanMs: now, boundMs, received, dependent, late, depServer };
  if (process.env['SWARM_LOG']) console.log(JSON.stringify({ field: o.field, loss: o.loss, nodes: N, ...res, depPct: +((100 * dependent) / received).toFixed(2), latePct: +((100 * late) / received).toFixed(2), vsBound: +(now / boundMs).toFixed(3) }));
  return { makespanMs: now, boundMs, received, dependent, late, depServer, ok: doneAt.slice(1).every((t) => t >= 0) };
}

describe('cooperation in virtual time (server + peers recoding, real codec)', () => {
  const base: SwarmOptions = { nodes: 6, segments: 12, field: 'gf256', k: 32, window: 2, loss: 0, serverUp: 1, up: 1, down: 1, seed: 7 };

  it('every node decodes every segment, near the bound; dependent packets are counted (GF(2^8))', () => {
    const r = runSwarm(base);
    expect(r.ok).toBe(true);
    // Measured in this model (1 ms delay, 10 ms budget refresh): 1.13x the Kumar-Ross bound, 12.5 %
    // of the packets dependent (21 % before budgets were capped at the swarm's rank), 0.9 % after
    // the segment completed. The target is 2 %: not met.
    expect(r.makespanMs / r.boundMs).toBeLessThan(1.25);
    expect(r.dependent / r.received).toBeLessThan(0.17);
    expect(r.late).toBeLessThan(0.05 * r.received);
  });

  it('budgets capped at the swarm\'s rank and the rank gate cut dependent packets, not speed', () => {
    for (const seed of [7, 11]) {
      for (const loss of [0, 0.05]) {
        const now = runSwarm({ ...base, seed, loss });
        const before = runSwarm({ ...base, seed, loss, swarmCap: false, rankGate: false });
        // Measured: 19-21 % dependent before, 11-13 % now; makespan within 2 %.
        expect(now.dependent / now.received).toBeLessThan(0.75 * (before.dependent / before.received));
        expect(now.makespanMs).toBeLessThan(1.05 * before.makespanMs);
      }
    }
  });

  it('5 % loss on every link costs little more than the lost capacity', () => {
    const clean = runSwarm(base);
    const lossy = runSwarm({ ...base, loss: 0.05 });
    expect(lossy.ok).toBe(true);
    // Measured: 1.08x the lossless makespan, 1.08x its own bound with loss.
    expect(lossy.makespanMs / clean.makespanMs).toBeLessThan(1.15);
    expect(lossy.makespanMs / lossy.boundMs).toBeLessThan(1.25);
  });

  it('GF(2) (the sparse variant\'s field) also completes, with more dependent packets', () => {
    const r = runSwarm({ ...base, field: 'gf2', k: 64, segments: 6, window: 1 });
    expect(r.ok).toBe(true);
    // The sparse variant's code: band 16, cyclic (coded/codec); the server's packets need about k + 2
    // to full rank, as dense GF(2) does.
    const banded = runSwarm({ ...base, field: 'gf2', k: 64, segments: 6, window: 1, band: 16 });
    expect(banded.ok).toBe(true);
    expect(banded.makespanMs / banded.boundMs).toBeLessThan(1.4);
  });

  it('without cooperation the server alone would need N times longer: the peers really help', () => {
    const r = runSwarm({ ...base, nodes: 8 });
    const serverAlone = (8 * 12 * 32) / 0.95;
    expect(r.makespanMs).toBeLessThan(serverAlone / 3);
  });
});
