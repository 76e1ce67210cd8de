/**
 * The lower bound for P2MP-FTP (issue 15): one source, N receivers, no peer uploads. With random
 * loss the chance that a datagram sent towards receiver i is useful to it is
 * q_i = (1 - loss_i)(1 - p), where loss_i is the lab's loss on the receiver's download direction
 * (nftables) and p the protocol's own drop at the server (stop-and-wait's argument; 0 for nak); a
 * datagram the server drops has already crossed the link. So:
 *
 *   every receiver i: F / q_i bytes through its link               T >= F / (q_i d_i)      (receiver-down)
 *   unicast: the source's uplink carries every copy                 T >= sum_i F / q_i / u_s (source-up)
 *   multicast: one copy, sent until the unluckiest receiver has it  T >= max_i F / q_i / u_s (source-up)
 *
 * (the multicast term: every byte receiver i gets crossed the source's uplink, so the uplink
 * carries at least F / q_i for each i). These are expectations: a run can beat them by luck by a
 * hair, not by much.
 *
 * Units as lab/bound.ts: link rates in bit/s of whole Ethernet frames (what HTB counts). What a
 * link carries of the file is rate/8 x goodput, goodput = segment / (segment + P2MP header + 8 UDP
 * + 20 IPv4 + 14 Ethernet): stop-and-wait's header is 8 bytes, nak's 16 (plus its STATUS and NAKs,
 * a fraction of a percent, not counted: the bound stays a bound). Receivers' rate changes (events)
 * are integrated as in lab/bound-whole.ts.
 */
import { transferMs } from './bound.js';
import type { Topology } from './types.js';

export const UDP_IP_ETH_BYTES = 8 + 20 + 14;

export interface P2mpBoundInput {
  fileBytes: number;
  segBytes: number;
  /** P2MP header bytes per datagram (stop-and-wait 8, nak 16). */
  headerBytes: number;
  mode: 'unicast' | 'multicast';
  /** The protocol's own drop probability at the receiver (0..1). */
  p: number;
  sourceUpBps: number;
  nodes: { downBps: number; lossDownPct?: number }[];
  events: { atMs: number; receivers: number[]; downBps?: number }[];
}

export type P2mpBinding = 'receiver-down' | 'source-up';

export interface P2mpBound {
  seconds: number;
  binding: P2mpBinding;
  /** Which source term applies (unicast: every copy; multicast: one). */
  mode: 'unicast' | 'multicast';
  terms: { receiverDownS: number; sourceUpS: number };
}

export function p2mpBound(i: P2mpBoundInput): P2mpBound {
  if (!(i.p >= 0 && i.p < 1)) throw new RangeError(`p: expected [0, 1) for a finite bound (got ${i.p})`);
  const g = i.segBytes / (i.segBytes + i.headerBytes + UDP_IP_ETH_BYTES);
  const q = i.nodes.map((n) => (1 - (n.lossDownPct ?? 0) / 100) * (1 - i.p));
  if (q.some((x) => !(x > 0))) return { seconds: Infinity, binding: 'receiver-down', mode: i.mode, terms: { receiverDownS: Infinity, sourceUpS: Infinity } };
  const receiverDownS = Math.max(
    0,
    ...i.nodes.map((n, k) => {
      const steps = [{ fromMs: 0, bps: n.downBps }, ...i.events.filter((e) => e.downBps !== undefined && e.receivers.includes(k)).map((e) => ({ fromMs: e.atMs, bps: e.downBps! }))]
        .sort((a, b) => a.fromMs - b.fromMs)
        .map((s) => ({ fromMs: s.fromMs, bytesPerS: (s.bps / 8) * g }));
      if (steps.every((s) => s.bytesPerS === Infinity)) return 0;
      return transferMs(steps, i.fileBytes / q[k]!, 0) / 1000;
    }),
  );
  const need = i.mode === 'unicast' ? q.reduce((a, x) => a + i.fileBytes / x, 0) : Math.max(0, ...q.map((x) => i.fileBytes / x));
  const sourceUpS = i.sourceUpBps === Infinity ? 0 : need / ((i.sourceUpBps / 8) * g);
  const seconds = Math.max(receiverDownS, sourceUpS);
  return { seconds, binding: seconds === sourceUpS && sourceUpS > 0 ? 'source-up' : 'receiver-down', mode: i.mode, terms: { receiverDownS, sourceUpS } };
}

/** The bound of a topology's run (its receivers' download links and loss, its source's uplink). */
export function topologyP2mpBound(t: Topology, o: Omit<P2mpBoundInput, 'sourceUpBps' | 'nodes' | 'events' | 'fileBytes'>, fileBytes: number): P2mpBound {
  return p2mpBound({
    ...o,
    fileBytes,
    sourceUpBps: t.sender.upBps,
    nodes: t.receivers.map((r) => ({ downBps: r.downBps, lossDownPct: r.lossDownPct ?? 0 })),
    events: t.events,
  });
}
