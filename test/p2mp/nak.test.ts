/**
 * The NAK variant's sender and receivers in virtual time: a virtual network with a one-way delay
 * and seeded independent loss per receiver link (both directions), the machines' own timers.
 */
import { describe, expect, it } from 'vitest';
import { NakReceiver } from '../../p2mp/nak-receiver.js';
import { BURST_MS, FRAME_OVERHEAD_BYTES, NakSender, type NakSenderTx } from '../../p2mp/nak-sender.js';
import { DATA_HEADER_BYTES, MAX_RANGES } from '../../p2mp/nak-wire.js';
import { Heap } from '../../core/heap.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  sender: NakSender;
  receivers: NakReceiver[];
  doneAtMs: (number | null)[];
  /** Data datagrams that reached each receiver (repairs included). */
  arrived: number[];
  /** Data datagrams put on each receiver's link. */
  onLink: number[];
  endMs: number;
}

function simulate(o: { n: number; fileBytes: number; segBytes: number; mode: 'unicast' | 'multicast'; rateBps: number; linkRateBps?: number; loss: number; delayMs: number; seed: number }): Run {
  let now = 0;
  type Ev = { at: number; k: number; run: () => void };
  const events = new Heap<Ev>((a, b) => a.at < b.at || (a.at === b.at && a.k < b.k));
  let k = 0;
  const at = (t: number, run: () => void): void => {
    events.push({ at: t, k: k++, run });
  };
  const draw = rng(o.seed);
  const sender = new NakSender({ receivers: o.n, fileBytes: o.fileBytes, segBytes: o.segBytes, mode: o.mode, rateBps: o.rateBps, ...(o.linkRateBps ? { linkRateBps: o.linkRateBps } : {}) }, 0);
  const receivers = Array.from({ length: o.n }, () => new NakReceiver({}, 0));
  const doneAtMs: (number | null)[] = new Array(o.n).fill(null);
  const arrived = new Array<number>(o.n).fill(0);
  const onLink = new Array<number>(o.n).fill(0);
  const rxGeneration = new Array<number>(o.n).fill(0);
  const segLen = (s: number): number => Math.min(o.segBytes, o.fileBytes - s * o.segBytes);
  const toReceiver = (i: number, tx: NakSenderTx): void => {
    if (tx.kind === 'data') onLink[i]!++;
    if (draw() < o.loss) return;
    const sentSegs = sender.sentSegs; // what the STATUS says, as sent
    at(now + o.delayMs, () => {
      const r = receivers[i]!;
      if (tx.kind === 'status') r.onStatus(now, { fileBytes: o.fileBytes, segBytes: o.segBytes, sha256: Buffer.alloc(32) }, sentSegs);
      else if (tx.kind === 'bye') r.onBye();
      else if (tx.kind === 'data') {
        arrived[i]!++;
        if (r.onData(now, tx.seg, segLen(tx.seg)) === 'new' && r.allHeld) {
          doneAtMs[i] = now;
          r.verified(now);
        }
      }
      pollReceiver(i);
    });
  };
  const pollReceiver = (i: number): void => {
    const r = receivers[i]!;
    for (let tx = r.poll(now); tx; tx = r.poll(now)) {
      const t = tx;
      if (draw() < o.loss) continue;
      at(now + o.delayMs, () => {
        if (t.kind === 'nak') sender.onNak(now, i, t.ranges);
        else sender.onComplete(now, i);
        pumpSender();
      });
    }
    const w = r.nextWakeMs(now);
    const g = ++rxGeneration[i]!;
    if (w !== Infinity) at(Math.max(w, now + 0.01), () => g === rxGeneration[i] && pollReceiver(i));
  };
  // One pending wake-up for the sender: a newer one replaces it (as the driver's clearTimeout does).
  let generation = 0;
  const pumpSender = (): void => {
    for (let tx = sender.poll(now); tx; tx = sender.poll(now)) {
      const to = tx.to === 'group' ? Array.from({ length: o.n }, (_, i) => i) : tx.to;
      for (const i of to) toReceiver(i, tx);
    }
    const w = sender.nextWakeMs(now);
    const g = ++generation;
    if (w !== Infinity) at(Math.max(w, now + 0.01), () => g === generation && pumpSender());
  };
  pumpSender();
  let steps = 0;
  while (events.peek() && steps++ < 5e6 && !(sender.done && receivers.every((r) => r.finished))) {
    const ev = events.pop()!;
    now = ev.at;
    ev.run();
  }
  return { sender, receivers, doneAtMs, arrived, onLink, endMs: now };
}

const segBytes = 1000;
const fileBytes = 400 * segBytes - 123;
const linkBytesPerSeg = segBytes + DATA_HEADER_BYTES + FRAME_OVERHEAD_BYTES;

describe('p2mp-ftp/nak in virtual time', () => {
  it('multicast, no loss: each segment sent once, paced at the rate, every receiver done', () => {
    const rateBps = 8_000_000; // 1 byte/µs
    const r = simulate({ n: 5, fileBytes, segBytes, mode: 'multicast', rateBps, loss: 0, delayMs: 2, seed: 1 });
    expect(r.doneAtMs.every((t) => t !== null)).toBe(true);
    expect(r.sender.newSent).toBe(400);
    expect(r.sender.repairSent).toBe(0);
    expect(r.sender.failed.every((f) => !f)).toBe(true);
    // 400 segments of ~1058 link bytes at 1 MB/s ~ 423 ms (+ the delay, the STATUS frames and a small burst).
    const paceMs = (400 * linkBytesPerSeg) / 1000;
    const last = Math.max(...(r.doneAtMs as number[]));
    // The pacer starts with BURST_MS of credit: that much may go at once.
    expect(last).toBeGreaterThan(paceMs - BURST_MS);
    expect(last).toBeLessThan(paceMs * 1.1 + 5);
  });

  it('multicast, 5 % loss both ways: every receiver completes; repairs about the loss, not a full second pass', () => {
    const r = simulate({ n: 8, fileBytes, segBytes, mode: 'multicast', rateBps: 8_000_000, loss: 0.05, delayMs: 1, seed: 2 });
    expect(r.doneAtMs.every((t) => t !== null)).toBe(true);
    expect(r.sender.done).toBe(true);
    // With plain retransmissions, a segment is repaired when any of the 8 lost it: 1 - 0.95^8 ~ 34 %,
    // a little more with repairs lost again. Far from 100 % (a blind second pass), above 5 %.
    const ratio = r.sender.repairSent / r.sender.newSent;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(0.6);
  });

  it('multicast, 5 % loss, 16 receivers, the uplink 10x a receiver link: repairs by unicast, each link carries ~1/(1-p) of the file', () => {
    const linkRateBps = 8_000_000;
    const r = simulate({ n: 16, fileBytes, segBytes, mode: 'multicast', rateBps: 10 * linkRateBps, linkRateBps, loss: 0.05, delayMs: 1, seed: 4 });
    expect(r.sender.groupRepairAt).toBe(10);
    expect(r.doneAtMs.every((t) => t !== null)).toBe(true);
    for (const n of r.onLink) expect(n / 400).toBeLessThan(1.12); // 1/0.95 = 1.053, plus lost repairs
    // So the slowest receiver is done near F/((1-p) link): 400 x 1058 B / 0.95 at 1 MB/s ~ 445 ms,
    // plus the tail: a segment whose repair is lost too waits a NAK holdoff (60 ms) per extra round.
    const last = Math.max(...(r.doneAtMs as number[]));
    const idealMs = (400 * linkBytesPerSeg) / 1000 / 0.95;
    expect(last).toBeGreaterThan(idealMs * 0.9);
    expect(last).toBeLessThan(idealMs * 1.05 + 2 * 150);
    // Plain group retransmissions would put 1 - 0.95^16 = 56 % more on every link instead.
  });

  it('unicast, 10 % loss: repairs go only to the receivers that asked (a copy each)', () => {
    const r = simulate({ n: 4, fileBytes, segBytes, mode: 'unicast', rateBps: 32_000_000, loss: 0.1, delayMs: 1, seed: 3 });
    expect(r.doneAtMs.every((t) => t !== null)).toBe(true);
    for (let i = 0; i < 4; i++) {
      // Each receiver's link carries the 400 segments once plus its own repairs: about 1/(1-p), not 4x.
      expect(r.onLink[i]!).toBeGreaterThanOrEqual(400);
      expect(r.onLink[i]! / 400).toBeLessThan(1.3);
    }
    expect(r.sender.datagrams).toBe(r.onLink.reduce((a, b) => a + b, 0));
  });

  it('a receiver that never answers is failed after deadAfterMs, the others complete', () => {
    const s = new NakSender({ receivers: 2, fileBytes: 2000, segBytes: 1000, mode: 'multicast', rateBps: 1e9, deadAfterMs: 1000 }, 0);
    while (s.poll(0)) {
      // sends both segments
    }
    s.onComplete(10, 0);
    expect(s.poll(10)).toEqual({ kind: 'bye', to: [0] });
    expect(s.done).toBe(false);
    s.poll(1001);
    expect(s.failed).toEqual([false, true]);
    expect(s.done).toBe(true);
  });

  it('a NAK beyond what was sent, or for a huge range, costs bounded work and queues only sent segments', () => {
    const s = new NakSender({ receivers: 1, fileBytes: 100_000, segBytes: 100, mode: 'unicast', rateBps: 1e6, maxSegsPerNak: 50 }, 0);
    s.poll(0); // status
    s.poll(0); // segment 0
    s.onNak(1, 0, [{ first: 0, count: 0xffffffff }, { first: 900, count: 5 }]);
    expect(s.repairQueueLength).toBe(1);
    s.onNak(1, 5, [{ first: 0, count: 1 }]); // unknown receiver: ignored
    expect(s.repairQueueLength).toBe(1);
  });

  it('receiver: NAKs gaps below what it knows was sent, at most MAX_RANGES ranges, not again within the holdoff', () => {
    const r = new NakReceiver({ nakIntervalMs: 10, holdoffMs: 100 }, 0);
    expect(r.onData(0, 0, 100)).toBe('unannounced');
    expect(r.onStatus(0, { fileBytes: 1000 * 100, segBytes: 100, sha256: Buffer.alloc(32) }, 0)).toBeNull();
    expect(r.onData(0, 3, 100)).toBe('new');
    expect(r.onData(0, 3, 100)).toBe('duplicate');
    expect(r.onData(0, 4, 99)).toBe('invalid');
    expect(r.poll(0)).toEqual({ kind: 'nak', held: 1, ranges: [{ first: 0, count: 3 }] });
    expect(r.poll(10)).toBeNull(); // nothing new to ask for, heartbeat not due
    for (let s = 5; s < 1000; s += 2) r.onData(11, s, 100);
    const nak = r.poll(20);
    expect(nak?.kind === 'nak' && nak.ranges.length).toBe(MAX_RANGES);
    expect(nak?.kind === 'nak' && nak.ranges[0]).toEqual({ first: 4, count: 1 });
    // After the holdoff, segments 0..2 are asked for again.
    const again = r.poll(150);
    expect(again?.kind === 'nak' && again.ranges[0]).toEqual({ first: 0, count: 3 });
    expect(r.onStatus(150, { fileBytes: 5, segBytes: 100, sha256: Buffer.alloc(32) }, 0)).toMatch(/contradicts/);
  });

  it('receiver: while every gap was NAKed within the holdoff, it wakes when the first may be asked again, not every NAK interval', () => {
    const r = new NakReceiver({ nakIntervalMs: 20, holdoffMs: 60, heartbeatMs: 500 }, 0);
    r.onStatus(0, { fileBytes: 100 * 100, segBytes: 100, sha256: Buffer.alloc(32) }, 0);
    r.onData(0, 1, 100); // 0 is missing
    expect(r.poll(5)?.kind).toBe('nak'); // stamp 6: askable again from 5 + 60
    expect(r.nextWakeMs(6)).toBe(65);
    r.onData(30, 3, 100); // a new gap (2), askable now: the NAK interval rules
    expect(r.nextWakeMs(30)).toBe(30); // max(now, last NAK + nakIntervalMs = 25)
    expect(r.poll(30)).toEqual({ kind: 'nak', held: 2, ranges: [{ first: 2, count: 1 }] });
    expect(r.nextWakeMs(31)).toBe(65); // segment 0's holdoff ends first (2's at 90)
    expect(r.poll(65)).toEqual({ kind: 'nak', held: 2, ranges: [{ first: 0, count: 1 }] });
    expect(r.nextWakeMs(66)).toBe(90); // segment 2's holdoff; 0's now ends at 125, the heartbeat at 565
  });

  it('sender: while new data flows, a STATUS once per 32 segments on a receiver link (at least statusIntervalMs apart); every statusIntervalMs after', () => {
    // 1000-byte segments: 1058 link bytes, 8.464 ms each at 1 Mbit/s; 32 of them 270.8 ms.
    const s = new NakSender({ receivers: 2, fileBytes: 40 * 1000, segBytes: 1000, mode: 'multicast', rateBps: 1e6, statusIntervalMs: 25 }, 0);
    const statusAt: number[] = [];
    for (let t = 0; t < 2000; t++) {
      for (let tx = s.poll(t); tx; tx = s.poll(t)) if (tx.kind === 'status') statusAt.push(t);
    }
    expect(statusAt[0]).toBe(0);
    expect(statusAt[1]! - statusAt[0]!).toBeGreaterThanOrEqual(270);
    expect(statusAt[1]! - statusAt[0]!).toBeLessThanOrEqual(272);
    // All 40 sent by ~340 ms: from then on every 25 ms.
    const late = statusAt.filter((t) => t > 700);
    expect(late.length).toBeGreaterThan(40);
    for (let i = 1; i < late.length; i++) expect(late[i]! - late[i - 1]!).toBe(25);
  });

  it('receiver: refuses an announce needing more segments than its bound', () => {
    const r = new NakReceiver({ maxSegments: 1000 }, 0);
    expect(r.onStatus(0, { fileBytes: 1001 * 64, segBytes: 64, sha256: Buffer.alloc(32) }, 0)).toMatch(/1001 segments/);
  });
});
