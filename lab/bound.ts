/**
 * The lower bound for a lab run, in the same meaning as the measurement.
 *
 * Meaning of a scenario's rates: LINK rates, as tc's HTB enforces them on whole Ethernet frames.
 * What reaches the receiver's file is less: per 1514-byte frame at MTU 1500 the TCP payload is
 * 1448 bytes (20 IP + 20 TCP + 12 timestamp option + 14 Ethernet), and of that payload the
 * fragment protocol spends 5 header bytes per DATA frame. So a link of R bit/s carries at most
 * R/8 * GOODPUT_FACTOR fragment bytes per second, and the bound is computed from those figures.
 * The sender's `rateKbps` counts the bytes it writes (headers included), so its payload capacity is
 * rate/8 * chunk/(chunk+5), and the sender's own uplink is a link like any other.
 *
 * Timed events make capacity piecewise constant in time. The bound then uses, per node, the
 * earliest time its fragment could be complete at full capacity from t=0 (a link that drops
 * mid-run raises it honestly), and for the width term the shortest time the node could occupy a
 * slot, starting at any moment (0 or an event time).
 *
 * Sites (Topology.sites): the fragments of a site's receivers all come from the sender, outside the
 * site, so all of them cross its trunk into the site: the `site-down` term is, for every site, the
 * sum of its receivers' fragment bytes over the trunk's down goodput (trunk rates are constant).
 */
import { fluidLowerBound } from '../core/lower-bound.js';
import type { LinkEvent, ReceiverSpec, Topology } from './types.js';

/** The DATA payload per write in every lab run, emulated (`fanout send --chunk-bytes`) or simulated. */
export const LAB_CHUNK_BYTES = 64 * 1024;

export const MTU_BYTES = 1500;
/** TCP payload per frame on the wire: MSS 1448 (with timestamps) of a 1514-byte frame. */
export const TCP_PAYLOAD_PER_FRAME = 1448 / 1514;
export const FRAME_HEADER_BYTES = 5;

export function goodputFactor(chunkBytes: number): number {
  return TCP_PAYLOAD_PER_FRAME * (chunkBytes / (chunkBytes + FRAME_HEADER_BYTES));
}

/** A link's capacity over time: [fromMs, bytesPerS) steps, sorted, the first at 0. */
type Steps = { fromMs: number; bytesPerS: number }[];

function receiverSteps(r: ReceiverSpec, events: readonly LinkEvent[], factor: number): Steps {
  const steps: Steps = [{ fromMs: 0, bytesPerS: (r.downBps / 8) * factor }];
  for (const ev of [...events].sort((a, b) => a.atMs - b.atMs)) {
    if (ev.downBps === undefined || !ev.receivers.includes(r.index)) continue;
    steps.push({ fromMs: ev.atMs, bytesPerS: (ev.downBps / 8) * factor });
  }
  return steps;
}

/** Ms needed to move `bytes` starting at `startMs` through a link with these steps. */
export function transferMs(steps: Steps, bytes: number, startMs = 0): number {
  let left = bytes;
  let t = startMs;
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    const end = k + 1 < steps.length ? steps[k + 1]!.fromMs : Infinity;
    if (end <= t) continue;
    const from = Math.max(t, step.fromMs);
    const canMove = ((end - from) / 1000) * step.bytesPerS;
    if (canMove >= left) return from + (left / step.bytesPerS) * 1000 - startMs;
    left -= canMove;
    t = end;
  }
  return Infinity;
}

export interface LabBoundInput {
  receivers: readonly ReceiverSpec[];
  fragmentBytes: readonly number[];
  events: readonly LinkEvent[];
  rateKbps: number;
  senderUpBps: number;
  width: number;
  chunkBytes: number;
  /** Receivers behind shared trunks: indexes into `receivers`, and the trunk's rate into the site, bit/s. */
  sites?: readonly { members: readonly number[]; downBps: number }[];
}

export interface LabBound {
  seconds: number;
  binding: 'rate' | 'slowest-node' | 'width' | 'site-down';
}

export function labLowerBound(i: LabBoundInput): LabBound {
  const factor = goodputFactor(i.chunkBytes);
  const senderBytesPerS = Math.min(
    ((i.rateKbps * 1000) / 8) * (i.chunkBytes / (i.chunkBytes + FRAME_HEADER_BYTES)),
    (i.senderUpBps / 8) * factor,
  );
  // Express each node's time-varying capacity as an "effective" constant one for fluidLowerBound:
  // size / (earliest completion) for the per-node term, and size / (shortest slot time) for the
  // width term. With no events both are the link's goodput.
  const completionCap: number[] = [];
  const slotCap: number[] = [];
  const starts = [0, ...i.events.map((e) => e.atMs)];
  i.receivers.forEach((r, k) => {
    const size = i.fragmentBytes[k]!;
    const steps = receiverSteps(r, i.events, factor);
    const earliestMs = transferMs(steps, size, 0);
    const shortestMs = Math.min(...starts.map((s) => transferMs(steps, size, s)));
    completionCap.push(size / (earliestMs / 1000));
    slotCap.push(size / (shortestMs / 1000));
  });
  const base = { fragmentBytes: i.fragmentBytes, rateBytesPerS: senderBytesPerS, width: i.width };
  const perNode = fluidLowerBound({ ...base, capacityBytesPerS: completionCap });
  const perSlot = fluidLowerBound({ ...base, capacityBytesPerS: slotCap });
  let siteS = 0;
  for (const s of i.sites ?? []) {
    const bytes = s.members.reduce((acc, m) => acc + i.fragmentBytes[m]!, 0);
    siteS = Math.max(siteS, s.downBps === Infinity ? 0 : bytes / ((s.downBps / 8) * factor));
  }
  const seconds = Math.max(perNode.terms.rateS, perNode.terms.slowestNodeS, perSlot.terms.widthS, siteS);
  const binding =
    seconds === perNode.terms.rateS ? 'rate' : seconds === perNode.terms.slowestNodeS ? 'slowest-node' : seconds === perSlot.terms.widthS ? 'width' : 'site-down';
  return { seconds, binding };
}

/** The bound for a run of topology `t` with these fragment sizes (the lab's chunk size). */
export function topologyLowerBound(t: Topology, fragmentBytes: readonly number[]): LabBound {
  return labLowerBound({
    receivers: t.receivers,
    fragmentBytes,
    events: t.events,
    rateKbps: t.transfer.rateKbps,
    senderUpBps: t.sender.upBps,
    width: t.transfer.width,
    chunkBytes: LAB_CHUNK_BYTES,
    sites: (t.sites ?? []).map((s) => ({ members: s.receivers, downBps: s.downBps })),
  });
}
