/**
 * `p2mp-ftp/stop-and-wait` in virtual time: the very SawClient and SawServer machines the real
 * programs run (p2mp/saw.ts), driven by an event heap over a simple network model instead of
 * sockets. The lab's `sim` backend calls it through the plug-in's simulate().
 *
 * The network model (one source, n receivers, no peer traffic):
 *
 *   - Frames are counted as the bound counts them (lab/bound-p2mp.ts): a data segment is
 *     MSS (or the last segment's length, or 0 for the end) + 8 P2MP header + 42 UDP/IPv4/Ethernet
 *     bytes; an ACK is 8 + 42 = 50 bytes.
 *   - Data: serialised FIFO on the source's up link (t.sender.upBps), then a one-way propagation
 *     delay of rttMs / 2, then serialised FIFO on the receiver's down link (its downBps). Store and
 *     forward: a frame starts on the down link once it has wholly crossed the up link and the delay.
 *   - The receiver's link loss (lossDownPct) drops a data frame after it crossed the down link;
 *     the server's own drop p (the specification's `r <= p`) is the server machine's draw r.
 *   - ACKs: serialised FIFO on the receiver's up link (its upBps), rttMs / 2 of propagation, then
 *     FIFO on the source's down link (t.sender.downBps; absent: unshaped); lossUpPct drops an ACK.
 *   - No processing time, no reordering, no queue limits. An unshaped (Infinity) link serialises
 *     in no time.
 *   - Randomness: every draw (server r, link loss) from streams forked from topology.seed and the
 *     repeat, one stream per receiver and purpose: same seed and repeat, same run.
 *
 * So with one receiver and no loss a segment costs its serialisation on both links plus the RTT
 * and the ACK's serialisation; a lost copy costs the rest of the timeout. Receiver i is done when
 * its server accepts the end segment (the netns runs' `done`: the rename after the end segment);
 * the makespan is the last receiver's. Link rate changes (`events`) are not modelled (refused).
 */
import { Heap } from '../../../core/heap.js';
import { HEADER_BYTES } from '../../../p2mp/saw-wire.js';
import { SawClient, SawServer, type SawTransmit } from '../../../p2mp/saw.js';
import { RunError } from '../../hosts.js';
import { createRng, type Rng } from '../../rng.js';
import { UDP_IP_ETH_BYTES } from '../../bound-p2mp.js';
import type { ReceiverResult, SimModelParams, Topology } from '../../types.js';

export const SIM_ACK_FRAME_BYTES = HEADER_BYTES + UDP_IP_ETH_BYTES;
/** The lab's netns default round trip (lab/sim/engine.ts DEFAULT_SIM_MODEL.rttMs). */
export const DEFAULT_P2MP_SIM_RTT_MS = 0.2;

export interface SawSimInput {
  fileBytes: number;
  mss: number;
  p: number;
  timeoutMs: number;
  rttMs: number;
  /** bit/s of frames; Infinity: unshaped. */
  sourceUpBps: number;
  sourceDownBps: number;
  receivers: { downBps: number; upBps: number; lossDownPct?: number; lossUpPct?: number }[];
  seed: number;
  repeat: number;
}

export interface SawSimNode {
  firstByteMs: number | null;
  doneMs: number | null;
  /** Copies the client sent this receiver (data and end). */
  sent: number;
  /** Copies the server dropped by its own draw (r <= p). */
  serverDrops: number;
  /** Data frames the link lost (lossDownPct) and ACKs the return path lost (lossUpPct). */
  linkLossData: number;
  linkLossAcks: number;
  bytes: number;
}

export interface SawSimOutcome {
  makespanMs: number;
  /** When the client saw the end segment acknowledged by every server. */
  clientDoneMs: number;
  segments: number;
  timeouts: number;
  retransmissions: number;
  /** Frame bytes the source's up link carried (data segments with every header). */
  wireBytes: number;
  events: number;
  nodes: SawSimNode[];
}

/** Serialisation time of `bytes` on a link of `bps`, ms. */
const serMs = (bytes: number, bps: number): number => (bps === Infinity ? 0 : (bytes * 8 * 1000) / bps);

const enum Kind {
  Data = 0,
  AckAtSource = 1,
  AckDelivered = 2,
  Timer = 3,
}

interface Ev {
  t: number;
  n: number;
  kind: Kind;
  node: number;
  seq: number;
}

/** A simulated run of stop-and-wait. Throws RangeError on impossible input (the machines' own checks). */
export function simulateSaw(i: SawSimInput): SawSimOutcome {
  const n = i.receivers.length;
  if (n < 1) throw new RangeError('p2mp sim: expected at least one receiver');
  if (!(i.rttMs >= 0 && Number.isFinite(i.rttMs))) throw new RangeError(`p2mp sim: rttMs expected >= 0 (got ${i.rttMs})`);
  if (!(Number.isInteger(i.mss) && i.mss >= 1)) throw new RangeError(`p2mp sim: mss expected a whole number >= 1 (got ${i.mss})`);
  const segments = Math.ceil(i.fileBytes / i.mss);
  const client = new SawClient({ servers: n, segments, timeoutMs: i.timeoutMs });
  const servers = i.receivers.map(() => new SawServer(i.p));
  const root = createRng(i.seed).fork(`p2mp-ftp/stop-and-wait sim repeat ${i.repeat}`);
  const drawServer: Rng[] = i.receivers.map((_, k) => root.fork(`server ${k}`));
  const drawDown: Rng[] = i.receivers.map((_, k) => root.fork(`loss down ${k}`));
  const drawUp: Rng[] = i.receivers.map((_, k) => root.fork(`loss up ${k}`));
  const lossDown = i.receivers.map((r) => (r.lossDownPct ?? 0) / 100);
  const lossUp = i.receivers.map((r) => (r.lossUpPct ?? 0) / 100);
  const lastLen = segments === 0 ? 0 : i.fileBytes - (segments - 1) * i.mss;
  const full = Buffer.alloc(i.mss);
  const last = full.subarray(0, lastLen);
  const empty = Buffer.alloc(0);
  const dataOf = (seq: number): Buffer => (seq === segments ? empty : seq === segments - 1 ? last : full);
  const oneWay = i.rttMs / 2;

  const heap = new Heap<Ev>((a, b) => a.t < b.t || (a.t === b.t && a.n < b.n));
  let counter = 0;
  const push = (t: number, kind: Kind, node: number, seq: number): void => heap.push({ t, n: counter++, kind, node, seq });

  let upFree = 0;
  let srcDownFree = 0;
  const downFree = new Array<number>(n).fill(0);
  const rxUpFree = new Array<number>(n).fill(0);
  let wireBytes = 0;
  const nodes: SawSimNode[] = i.receivers.map(() => ({ firstByteMs: null, doneMs: null, sent: 0, serverDrops: 0, linkLossData: 0, linkLossAcks: 0, bytes: 0 }));
  let timerAt = Infinity;

  const transmit = (now: number, txs: SawTransmit[]): void => {
    for (const tx of txs) {
      const k = tx.server;
      const bytes = dataOf(tx.seq).length + HEADER_BYTES + UDP_IP_ETH_BYTES;
      wireBytes += bytes;
      nodes[k]!.sent++;
      upFree = Math.max(now, upFree) + serMs(bytes, i.sourceUpBps);
      const arrive = Math.max(upFree + oneWay, downFree[k]!) + serMs(bytes, i.receivers[k]!.downBps);
      downFree[k] = arrive;
      push(arrive, Kind.Data, k, tx.seq);
    }
    const next = client.nextTimerMs;
    if (next !== timerAt) {
      timerAt = next;
      if (next !== Infinity) push(next, Kind.Timer, -1, 0);
    }
  };

  transmit(0, client.start(0));
  let clientDoneMs = 0;
  let events = 0;
  for (let ev = heap.pop(); ev !== undefined; ev = heap.pop()) {
    events++;
    const now = ev.t;
    switch (ev.kind) {
      case Kind.Data: {
        const k = ev.node;
        const node = nodes[k]!;
        if (lossDown[k]! > 0 && drawDown[k]!.float() < lossDown[k]!) {
          node.linkLossData++;
          break;
        }
        // The draw r in (0, 1): float() is [0, 1); 0 would always drop, so nudge it off zero.
        const r = drawServer[k]!.float() || Number.MIN_VALUE;
        const a = servers[k]!.onData(ev.seq, dataOf(ev.seq), true, r);
        if (a.kind === 'loss') {
          node.serverDrops++;
          break;
        }
        if (a.kind === 'deliver') {
          node.bytes += a.data.length;
          if (node.firstByteMs === null) node.firstByteMs = now;
        } else if (a.kind === 'end') {
          node.doneMs = now;
        }
        const ack = a.kind === 'bad-checksum' ? null : a.ack;
        if (ack === null) break;
        if (lossUp[k]! > 0 && drawUp[k]!.float() < lossUp[k]!) {
          node.linkLossAcks++;
          break;
        }
        rxUpFree[k] = Math.max(now, rxUpFree[k]!) + serMs(SIM_ACK_FRAME_BYTES, i.receivers[k]!.upBps);
        push(rxUpFree[k]! + oneWay, Kind.AckAtSource, k, ack);
        break;
      }
      case Kind.AckAtSource: {
        // ACKs from different receivers reach the source's down link in time order only here.
        srcDownFree = Math.max(now, srcDownFree) + serMs(SIM_ACK_FRAME_BYTES, i.sourceDownBps);
        if (srcDownFree === now) {
          events--;
          handleAck(now, ev.node, ev.seq);
        } else push(srcDownFree, Kind.AckDelivered, ev.node, ev.seq);
        break;
      }
      case Kind.AckDelivered:
        handleAck(now, ev.node, ev.seq);
        break;
      case Kind.Timer: {
        if (now !== timerAt) break; // superseded
        timerAt = Infinity;
        transmit(now, client.onTimer(now).transmits);
        break;
      }
    }
  }

  function handleAck(now: number, k: number, seq: number): void {
    const wasDone = client.done;
    transmit(now, client.onAck(now, k, seq));
    if (!wasDone && client.done) clientDoneMs = now;
  }

  if (!client.done) throw new RunError('p2mp sim: the transfer did not finish (a bug: the event queue ran dry)');
  const doneTimes = nodes.map((x) => x.doneMs ?? Infinity);
  return {
    makespanMs: Math.max(...doneTimes),
    clientDoneMs,
    segments,
    timeouts: client.timeouts.length,
    retransmissions: client.retransmissions,
    wireBytes,
    events,
    nodes,
  };
}

/** The input of a topology's simulated run. */
export function sawSimInput(t: Topology, o: { mss: number; p: number; timeoutMs: number }, fileBytes: number, repeat: number, model: Partial<SimModelParams>): SawSimInput {
  if (t.events.length > 0) throw new RunError('p2mp-ftp on the simulator: link events (rate changes) are not modelled; drop `events:` or run on netns');
  if ((t.sites ?? []).length > 0) throw new RunError('p2mp-ftp on the simulator: sites (shared trunks) are not modelled; run on netns');
  return {
    fileBytes,
    mss: o.mss,
    p: o.p,
    timeoutMs: o.timeoutMs,
    rttMs: model.rttMs ?? DEFAULT_P2MP_SIM_RTT_MS,
    sourceUpBps: t.sender.upBps,
    sourceDownBps: t.sender.downBps ?? Infinity,
    receivers: t.receivers.map((r) => ({ downBps: r.downBps, upBps: r.upBps, ...(r.lossDownPct !== undefined ? { lossDownPct: r.lossDownPct } : {}), ...(r.lossUpPct !== undefined ? { lossUpPct: r.lossUpPct } : {}) })),
    seed: t.seed,
    repeat,
  };
}

/** Per-receiver results of a simulated run, as the lab records them (nothing verified: no bytes moved). */
export function sawSimReceivers(t: Topology, out: SawSimOutcome, fileBytes: number): ReceiverResult[] {
  const s = (ms: number | null): number | null => (ms === null ? null : ms / 1000);
  return t.receivers.map((r) => {
    const x = out.nodes[r.index]!;
    return {
      index: r.index,
      address: `sim:${r.index}`,
      downBps: r.downBps,
      upBps: r.upBps,
      fragmentBytes: fileBytes,
      bytes: x.bytes,
      startS: 0,
      firstByteS: s(x.firstByteMs),
      doneS: s(x.doneMs),
      verified: false,
      counters: { sent: x.sent, serverDrops: x.serverDrops, linkLossData: x.linkLossData, linkLossAcks: x.linkLossAcks },
    };
  });
}
