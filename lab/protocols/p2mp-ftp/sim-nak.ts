/**
 * `p2mp-ftp/nak` in virtual time: the very NakSender and NakReceiver machines (p2mp/nak-*.ts)
 * over the same network model as stop-and-wait's simulator (./sim.ts):
 *
 *   - Sender frames cross the source's up link FIFO (one frame for a group send, one per copy in
 *     unicast), then rttMs / 2, then each addressed receiver's down link FIFO (a group send: every
 *     receiver's link, as the lab's bridge floods it); lossDownPct drops a frame after its link.
 *   - Receiver frames (NAK, COMPLETE) cross its up link FIFO, rttMs / 2 and the source's down link
 *     FIFO; lossUpPct drops them.
 *   - Frame sizes are the wire format's (p2mp/nak-wire.ts) + 42 bytes of UDP/IPv4/Ethernet.
 *   - A receiver's whole-file SHA-256 check and rename take no time: it is done when it holds every
 *     segment. Timers: each machine's nextWakeMs, at least 10 µs ahead (as a driver's timer).
 *   - Randomness: streams forked from the seed and the repeat, one per receiver and direction.
 *   - Parity repairs (blockSegs > 0): a REPAIR a receiver takes is innovative with the probability
 *     a uniform random GF(2^8) combination has of leaving the span of what it holds,
 *     1 - 256^-(deficit) (drawn from its own stream); no payload is coded here (the codec's own
 *     tests cover decoding), only the machines' counts move.
 */
import { Heap } from '../../../core/heap.js';
import { NakReceiver } from '../../../p2mp/nak-receiver.js';
import { FRAME_OVERHEAD_BYTES, NakSender, type NakSenderTx } from '../../../p2mp/nak-sender.js';
import { DATA_HEADER_BYTES, STATUS_BYTES, encodeNak } from '../../../p2mp/nak-wire.js';
import { RunError } from '../../hosts.js';
import { createRng } from '../../rng.js';
import type { SawSimInput } from './sim.js';

export interface NakSimInput extends Omit<SawSimInput, 'mss' | 'p' | 'timeoutMs'> {
  segBytes: number;
  mode: 'unicast' | 'multicast';
  rateBps: number;
  linkRateBps: number;
  /** Parity repairs over blocks of this many segments (0 or absent: plain retransmissions). */
  blockSegs?: number;
  /** Receivers' open-block cap (parity mode). */
  maxOpenBlocks?: number;
}

export interface NakSimOutcome {
  makespanMs: number;
  newSent: number;
  repairSent: number;
  /** Frame bytes the source's up link carried. */
  wireBytes: number;
  /** Data frames each receiver's down link carried. */
  dataOnLink: number[];
  /** Repair frames each receiver's down link carried (retransmissions or parity). */
  repairsOnLink: number[];
  /** Repair frame bytes each receiver's down link carried. */
  repairBytesOnLink: number[];
  firstByteMs: (number | null)[];
  doneMs: (number | null)[];
  failed: boolean[];
  events: number;
}

const serMs = (bytes: number, bps: number): number => (bps === Infinity ? 0 : (bytes * 8 * 1000) / bps);
const MIN_STEP_MS = 0.01;
const BYE_FRAME = encodeNak(0, { type: 'bye' }).length + FRAME_OVERHEAD_BYTES;
const COMPLETE_FRAME = encodeNak(0, { type: 'complete' }).length + FRAME_OVERHEAD_BYTES;

export function simulateNak(i: NakSimInput): NakSimOutcome {
  const n = i.receivers.length;
  const oneWay = i.rttMs / 2;
  const root = createRng(i.seed).fork(`p2mp-ftp/nak sim repeat ${i.repeat}`);
  const drawDown = i.receivers.map((_, k) => root.fork(`loss down ${k}`));
  const drawUp = i.receivers.map((_, k) => root.fork(`loss up ${k}`));
  const drawCoef = i.receivers.map((_, k) => root.fork(`coefficients ${k}`));
  const blockSegs = i.blockSegs ?? 0;
  const lossDown = i.receivers.map((r) => (r.lossDownPct ?? 0) / 100);
  const lossUp = i.receivers.map((r) => (r.lossUpPct ?? 0) / 100);
  const sender = new NakSender({ receivers: n, fileBytes: i.fileBytes, segBytes: i.segBytes, mode: i.mode, rateBps: i.rateBps, linkRateBps: i.linkRateBps, blockSegs }, 0);
  const receivers = i.receivers.map(() => new NakReceiver(i.maxOpenBlocks !== undefined ? { maxOpenBlocks: i.maxOpenBlocks } : {}, 0));
  const announce = { fileBytes: i.fileBytes, segBytes: i.segBytes, sha256: Buffer.alloc(32), blockSegs };
  const segLen = (s: number): number => Math.min(i.segBytes, i.fileBytes - s * i.segBytes);
  const doneMs: (number | null)[] = new Array(n).fill(null);
  const firstByteMs: (number | null)[] = new Array(n).fill(null);
  const dataOnLink = new Array<number>(n).fill(0);
  const repairsOnLink = new Array<number>(n).fill(0);
  const repairBytesOnLink = new Array<number>(n).fill(0);

  let now = 0;
  type Ev = { t: number; k: number; run: () => void };
  const heap = new Heap<Ev>((a, b) => a.t < b.t || (a.t === b.t && a.k < b.k));
  let seq = 0;
  const at = (t: number, run: () => void): void => heap.push({ t, k: seq++, run });

  let upFree = 0;
  let srcDownFree = 0;
  const downFree = new Array<number>(n).fill(0);
  const rxUpFree = new Array<number>(n).fill(0);
  let wireBytes = 0;

  const frameBytes = (tx: NakSenderTx): number =>
    tx.kind === 'repair' ? sender.repairLinkBytes(tx.block) : (tx.kind === 'data' ? segLen(tx.seg) + DATA_HEADER_BYTES : tx.kind === 'status' ? STATUS_BYTES : BYE_FRAME - FRAME_OVERHEAD_BYTES) + FRAME_OVERHEAD_BYTES;

  const held = (k: number): void => {
    const r = receivers[k]!;
    if (firstByteMs[k] === null) firstByteMs[k] = now;
    r.takeDecoded();
    if (r.allHeld && doneMs[k] === null) {
      doneMs[k] = now;
      r.verified(now);
    }
  };

  const deliver = (k: number, tx: NakSenderTx, sentSegs: number): void => {
    if (lossDown[k]! > 0 && drawDown[k]!.float() < lossDown[k]!) return;
    const r = receivers[k]!;
    if (tx.kind === 'status') r.onStatus(now, announce, sentSegs);
    else if (tx.kind === 'bye') r.onBye();
    else if (tx.kind === 'repair') {
      const len = r.blockLen(tx.block);
      if (r.acceptRepair(now, tx.block, len, i.segBytes) === 'new') {
        const innovative = drawCoef[k]!.float() >= 256 ** -r.deficit(tx.block);
        r.repairAdded(tx.block, innovative);
        held(k);
      }
    } else if (r.onData(now, tx.seg, segLen(tx.seg)) === 'new') {
      // A unit vector joining an open block's decoder: dependent with the probability that a
      // random span of the block's repairs holds it, taken as 256^-(deficit before it).
      if (blockSegs > 0 && r.isOpen(Math.floor(tx.seg / blockSegs))) r.dataAdded(tx.seg, drawCoef[k]!.float() >= 256 ** -(r.deficit(Math.floor(tx.seg / blockSegs)) + 1));
      held(k);
    }
    pollReceiver(k);
  };

  const send = (tx: NakSenderTx): void => {
    const bytes = frameBytes(tx);
    const sentSegs = sender.sentSegs;
    const copies: { at: number; to: number[] }[] = [];
    if (tx.to === 'group') {
      upFree = Math.max(now, upFree) + serMs(bytes, i.sourceUpBps);
      wireBytes += bytes;
      copies.push({ at: upFree + oneWay, to: Array.from({ length: n }, (_, k) => k) });
    } else {
      for (const k of tx.to) {
        upFree = Math.max(now, upFree) + serMs(bytes, i.sourceUpBps);
        wireBytes += bytes;
        copies.push({ at: upFree + oneWay, to: [k] });
      }
    }
    for (const c of copies) {
      for (const k of c.to) {
        if (tx.kind === 'data' || tx.kind === 'repair') dataOnLink[k]!++;
        if (tx.kind === 'repair' || (tx.kind === 'data' && tx.repair)) {
          repairsOnLink[k]!++;
          repairBytesOnLink[k]! += bytes;
        }
        downFree[k] = Math.max(c.at, downFree[k]!) + serMs(bytes, i.receivers[k]!.downBps);
        at(downFree[k]!, () => deliver(k, tx, sentSegs));
      }
    }
  };

  const rxGen = new Array<number>(n).fill(0);
  const pollReceiver = (k: number): void => {
    const r = receivers[k]!;
    for (let tx = r.poll(now); tx; tx = r.poll(now)) {
      const t = tx;
      const bytes =
        t.kind === 'nak'
          ? encodeNak(0, { type: 'nak', held: t.held, ranges: t.ranges }).length + FRAME_OVERHEAD_BYTES
          : t.kind === 'bnak'
            ? encodeNak(0, { type: 'bnak', held: t.held, needs: t.needs }).length + FRAME_OVERHEAD_BYTES
            : COMPLETE_FRAME;
      if (lossUp[k]! > 0 && drawUp[k]!.float() < lossUp[k]!) continue;
      rxUpFree[k] = Math.max(now, rxUpFree[k]!) + serMs(bytes, i.receivers[k]!.upBps);
      at(rxUpFree[k]! + oneWay, () => {
        // The source's down link, in arrival order.
        srcDownFree = Math.max(now, srcDownFree) + serMs(bytes, i.sourceDownBps);
        at(srcDownFree, () => {
          if (t.kind === 'nak') sender.onNak(now, k, t.ranges);
          else if (t.kind === 'bnak') sender.onBlockNak(now, k, t.needs);
          else sender.onComplete(now, k);
          pumpSender();
        });
      });
    }
    const w = r.nextWakeMs(now);
    const g = ++rxGen[k]!;
    if (w !== Infinity) at(Math.max(w, now + MIN_STEP_MS), () => g === rxGen[k] && pollReceiver(k));
  };

  let gen = 0;
  const pumpSender = (): void => {
    for (let tx = sender.poll(now); tx; tx = sender.poll(now)) send(tx);
    const w = sender.nextWakeMs(now);
    const g = ++gen;
    if (w !== Infinity) at(Math.max(w, now + MIN_STEP_MS), () => g === gen && pumpSender());
  };

  pumpSender();
  let events = 0;
  while (heap.size > 0 && !sender.done) {
    const ev = heap.pop()!;
    now = ev.t;
    events++;
    ev.run();
  }
  if (!sender.done) throw new RunError('p2mp sim (nak): the transfer did not finish (a bug: the event queue ran dry)');
  return {
    makespanMs: Math.max(...doneMs.map((d) => d ?? now)),
    newSent: sender.newSent,
    repairSent: sender.repairSent,
    wireBytes,
    dataOnLink,
    repairsOnLink,
    repairBytesOnLink,
    firstByteMs,
    doneMs,
    failed: [...sender.failed],
    events,
  };
}
