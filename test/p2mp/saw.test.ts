/**
 * Stop-and-wait's client and server machines in virtual time: a tiny event loop moves datagrams
 * with a fixed one-way delay and seeded random drops, and the machines' own timers.
 */
import { describe, expect, it } from 'vitest';
import { SawClient, SawServer } from '../../p2mp/saw.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967296;
  };
}

interface Ev { at: number; run: () => void }

/** Runs a transfer of `segments` segments to `n` servers; returns what happened. */
function simulate(n: number, segments: number, p: number, o: { delayMs: number; timeoutMs: number; seed: number; ackLoss?: number }) {
  let now = 0;
  const queue: Ev[] = [];
  const at = (t: number, run: () => void): void => {
    queue.push({ at: t, run });
    queue.sort((a, b) => a.at - b.at);
  };
  const client = new SawClient({ servers: n, segments, timeoutMs: o.timeoutMs });
  const servers = Array.from({ length: n }, () => new SawServer(p));
  const delivered: number[][] = servers.map(() => []);
  const ended = servers.map(() => false);
  const losses: number[][] = servers.map(() => []);
  const draw = rng(o.seed);
  const linkDraw = rng(o.seed + 1);
  let timer: number | null = null;
  const arm = (): void => {
    const t = client.nextTimerMs;
    if (t === Infinity || t === timer) return;
    timer = t;
    at(t, () => {
      if (client.nextTimerMs > now) return;
      send(client.onTimer(now).transmits);
      arm();
    });
  };
  const send = (ts: { server: number; seq: number }[]): void => {
    for (const tx of ts) {
      at(now + o.delayMs, () => {
        const s = servers[tx.server]!;
        const a = s.onData(tx.seq, Buffer.from(tx.seq < segments ? [tx.seq & 0xff] : []), true, draw());
        if (a.kind === 'loss') losses[tx.server]!.push(a.seq);
        if (a.kind === 'deliver') delivered[tx.server]!.push(a.data[0]!);
        if (a.kind === 'end') ended[tx.server] = true;
        if (a.kind === 'loss' || a.kind === 'bad-checksum' || a.ack === null) return;
        if (o.ackLoss && linkDraw() < o.ackLoss) return;
        const ack = a.ack;
        at(now + o.delayMs, () => {
          send(client.onAck(now, tx.server, ack));
          arm();
        });
      });
    }
  };
  send(client.start(now));
  arm();
  let steps = 0;
  while (queue.length > 0 && !client.done && steps++ < 1e6) {
    const ev = queue.shift()!;
    now = ev.at;
    ev.run();
  }
  return { client, delivered, ended, losses, now };
}

describe('stop-and-wait in virtual time', () => {
  it('without loss: one round trip per segment, every server gets every segment in order, no timeout', () => {
    const r = simulate(3, 50, 0, { delayMs: 10, timeoutMs: 100, seed: 1 });
    expect(r.client.done).toBe(true);
    expect(r.client.timeouts).toEqual([]);
    // 50 data segments and the end segment, 20 ms each.
    expect(r.now).toBe(51 * 20);
    for (const d of r.delivered) expect(d).toEqual(Array.from({ length: 50 }, (_, i) => i & 0xff));
    expect(r.ended).toEqual([true, true, true]);
  });

  it('with p = 0.1 at the servers: every loss costs exactly one timeout, re-sent only to the servers that lacked it', () => {
    const r = simulate(3, 200, 0.1, { delayMs: 5, timeoutMs: 50, seed: 7 });
    expect(r.client.done).toBe(true);
    for (const d of r.delivered) expect(d).toEqual(Array.from({ length: 200 }, (_, i) => i & 0xff));
    const lost = r.losses.flat().length;
    expect(lost).toBeGreaterThan(20);
    // A retransmission goes only to those without an ACK: one per loss.
    expect(r.client.retransmissions).toBe(lost);
    // One timeout per segment that had any loss in a round (rounds with two servers losing share it).
    expect(r.client.timeouts.length).toBeLessThanOrEqual(lost);
    expect(r.client.sent.reduce((a, b) => a + b, 0)).toBe(3 * 201 + lost);
    // Total time: every segment one RTT, every timeout round timeoutMs (its re-send's RTT hides inside the next).
    expect(r.now).toBe(201 * 10 + r.client.timeouts.length * 50);
  });

  it('lost ACKs: the server re-acknowledges a duplicate and the file still arrives exactly once', () => {
    const r = simulate(2, 100, 0, { delayMs: 3, timeoutMs: 20, seed: 3, ackLoss: 0.2 });
    expect(r.client.done).toBe(true);
    expect(r.client.timeouts.length).toBeGreaterThan(5);
    for (const d of r.delivered) expect(d).toEqual(Array.from({ length: 100 }, (_, i) => i & 0xff));
  });

  it('server: out of sequence re-ACKs the last in-sequence segment (none before the first); a bad checksum does nothing', () => {
    const s = new SawServer(0);
    expect(s.onData(1, Buffer.from([1]), true, 0.5)).toEqual({ kind: 'out-of-sequence', seq: 1, ack: null });
    expect(s.onData(0, Buffer.from([1]), false, 0.5)).toEqual({ kind: 'bad-checksum', seq: 0 });
    expect(s.onData(0, Buffer.from([1]), true, 0.5)).toMatchObject({ kind: 'deliver', ack: 0 });
    expect(s.onData(2, Buffer.from([1]), true, 0.5)).toEqual({ kind: 'out-of-sequence', seq: 2, ack: 0 });
    expect(s.onData(0, Buffer.from([1]), true, 0.5)).toEqual({ kind: 'out-of-sequence', seq: 0, ack: 0 });
    expect(s.onData(1, Buffer.from([]), true, 0.5)).toEqual({ kind: 'end', seq: 1, ack: 1 });
    expect(s.finished).toBe(true);
    // After the end: a retransmitted end is acknowledged again, nothing more is delivered.
    expect(s.onData(1, Buffer.from([]), true, 0.5)).toEqual({ kind: 'out-of-sequence', seq: 1, ack: 1 });
  });

  it('server: r <= p drops before anything else (p = 1 drops all, p = 0 none)', () => {
    expect(new SawServer(0.3).onData(0, Buffer.from([1]), true, 0.3).kind).toBe('loss');
    expect(new SawServer(0.3).onData(0, Buffer.from([1]), true, 0.31).kind).toBe('deliver');
    expect(new SawServer(1).onData(0, Buffer.from([1]), true, 1).kind).toBe('loss');
    expect(() => new SawServer(1.5)).toThrow(RangeError);
  });

  it('client: ACKs of another segment or from an unknown server change nothing', () => {
    const c = new SawClient({ servers: 2, segments: 1, timeoutMs: 10 });
    expect(c.start(0)).toEqual([{ server: 0, seq: 0 }, { server: 1, seq: 0 }]);
    expect(c.onAck(1, 0, 5)).toEqual([]);
    expect(c.onAck(1, 7, 0)).toEqual([]);
    expect(c.onAck(1, 0, 0)).toEqual([]);
    expect(c.onTimer(5)).toEqual({ timeout: null, transmits: [] });
    expect(c.onTimer(10)).toEqual({ timeout: 0, transmits: [{ server: 1, seq: 0 }] });
    expect(c.onAck(11, 1, 0)).toEqual([{ server: 0, seq: 1 }, { server: 1, seq: 1 }]);
    c.onAck(12, 0, 1);
    c.onAck(12, 1, 1);
    expect(c.done).toBe(true);
  });
});
