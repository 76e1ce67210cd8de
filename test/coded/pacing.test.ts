import { describe, expect, it } from 'vitest';
import { CapAllocator, FlowScheduler, RateMeter, TokenBucket } from '../../coded/pacing.js';

const PKT = 1402; // a GF(2^8) k=64 DATA datagram + 42 bytes of headers

/** Drives a scheduler in virtual time for `ms`, polling every `stepMs`; returns link bytes per flow. */
function drive<K>(s: FlowScheduler<K>, ms: number, ready: (k: K) => boolean, stepMs = 1, startMs = 0): Map<K, number> {
  const sent = new Map<K, number>();
  for (let t = startMs; t <= startMs + ms; t += stepMs) {
    for (;;) {
      const k = s.next(t, PKT, ready);
      if (k === null) break;
      sent.set(k, (sent.get(k) ?? 0) + PKT);
    }
  }
  return sent;
}

const mbit = (bytes: number, ms: number): number => (bytes * 8) / (ms * 1000);

describe('TokenBucket', () => {
  it('lets through its rate over time, plus at most one burst and one packet', () => {
    const b = new TokenBucket(8e6, 3000, 0);
    let bytes = 0;
    for (let t = 0; t <= 1000; t += 0.5) {
      while (b.canTake(t)) {
        b.take(t, PKT);
        bytes += PKT;
      }
    }
    expect(bytes).toBeGreaterThanOrEqual(1e6 - PKT);
    expect(bytes).toBeLessThanOrEqual(1e6 + 3000 + PKT);
  });

  it('says how long to wait', () => {
    const b = new TokenBucket(8e6, 1000, 0);
    b.take(0, 2000); // 1000 in debt
    expect(b.canTake(0)).toBe(false);
    expect(b.waitMs(0)).toBeCloseTo(1.001, 2);
    expect(b.canTake(1.01)).toBe(true);
  });
});

describe('FlowScheduler (a sender uplink, virtual time)', () => {
  it('holds the aggregate rate and each cap, and gives what a capped flow cannot take to the others (max-min fair)', () => {
    const s = new FlowScheduler<string>(10e6, 0);
    s.set('a', 2e6, 0);
    s.set('b', 3e6, 0);
    s.set('c', 100e6, 0);
    const sent = drive(s, 10_000, () => true);
    const total = [...sent.values()].reduce((x, y) => x + y, 0);
    expect(mbit(total, 10_000)).toBeGreaterThan(9.9);
    expect(mbit(total, 10_000)).toBeLessThan(10.1);
    expect(mbit(sent.get('a')!, 10_000)).toBeCloseTo(2, 1);
    expect(mbit(sent.get('b')!, 10_000)).toBeCloseTo(3, 1);
    expect(mbit(sent.get('c')!, 10_000)).toBeCloseTo(5, 1);
    // A cap above the fair share does not bind: 2, then 4 and 4.
    s.set('b', 5e6, 10_001);
    const next = drive(s, 10_000, () => true, 1, 10_001);
    expect(mbit(next.get('a')!, 10_000)).toBeCloseTo(2, 1);
    expect(mbit(next.get('b')!, 10_000)).toBeCloseTo(4, 1);
    expect(mbit(next.get('c')!, 10_000)).toBeCloseTo(4, 1);
  });

  it('shares equally among uncapped flows, skips flows with nothing to send, and removal frees the share', () => {
    const s = new FlowScheduler<number>(12e6, 0);
    for (const k of [1, 2, 3]) s.set(k, Infinity, 0);
    const a = drive(s, 5000, (k) => k !== 3);
    expect(a.get(3)).toBeUndefined();
    expect(mbit(a.get(1)!, 5000)).toBeCloseTo(6, 1);
    expect(mbit(a.get(2)!, 5000)).toBeCloseTo(6, 1);
    s.remove(2);
    const b = drive(s, 5000, () => true, 1, 5001);
    expect(b.get(2)).toBeUndefined();
    expect(mbit(b.get(1)!, 5000)).toBeCloseTo(6, 1);
    expect(mbit(b.get(3)!, 5000)).toBeCloseTo(6, 1);
  });

  it('a cap change takes effect at once; coarse polling (10 ms timers) does not overshoot the rate', () => {
    const s = new FlowScheduler<string>(Infinity, 0);
    s.set('x', 4e6, 0);
    const a = drive(s, 2000, () => true, 10);
    expect(mbit(a.get('x')!, 2000)).toBeLessThan(4.1);
    expect(mbit(a.get('x')!, 2000)).toBeGreaterThan(3.9);
    s.set('x', 1e6, 2001);
    const b = drive(s, 2000, () => true, 10, 2001);
    expect(mbit(b.get('x')!, 2000)).toBeLessThan(1.1);
  });

  it('wakeInMs says when a packet may go next (never 0 while the bucket is empty)', () => {
    const s = new FlowScheduler<string>(1e6, 0);
    s.set('x', Infinity, 0);
    drive(s, 0, () => true);
    const w = s.wakeInMs(0)!;
    expect(w).toBeGreaterThan(0);
    expect(s.next(w, PKT, () => true)).toBe('x');
    expect(new FlowScheduler<string>(1e6, 0).wakeInMs(0)).toBeNull();
  });
});

describe('CapAllocator (a receiver downlink, virtual time)', () => {
  /**
   * Senders with their own capacity (bit/s they could deliver to this receiver); each interval a
   * sender delivers min(cap, capacity) and the allocator re-splits. Returns the caps after `rounds`.
   */
  function converge(downBps: number, capacity: Record<string, number>, rounds: number): { caps: Map<string, number>; maxSum: number } {
    const a = new CapAllocator<string>({ downBps });
    for (const k of Object.keys(capacity)) a.add(k);
    let maxSum = 0;
    for (let r = 0; r < rounds; r++) {
      const measured = new Map(Object.entries(capacity).map(([k, c]) => [k, Math.min(c, a.cap(k)!)]));
      a.update(measured);
      maxSum = Math.max(maxSum, a.senders.reduce((s, k) => s + a.cap(k)!, 0));
    }
    return { caps: new Map(a.senders.map((k) => [k, a.cap(k)!])), maxSum };
  }

  it('starts with equal shares and never asks for more than the downlink in all', () => {
    const a = new CapAllocator<string>({ downBps: 9e6 });
    a.add('s');
    a.add('p1');
    expect(a.add('p2')).toEqual(new Map([['s', 3e6], ['p1', 3e6], ['p2', 3e6]]));
    const { maxSum } = converge(9e6, { s: 1e6, p1: 50e6, p2: 50e6 }, 30);
    expect(maxSum).toBeLessThanOrEqual(9e6 * 1.0001);
  });

  it('moves capacity from a sender that cannot fill its share to those held back by theirs (water-filling)', () => {
    const { caps } = converge(10e6, { slow: 1e6, a: 50e6, b: 50e6 }, 20);
    expect(caps.get('slow')!).toBeGreaterThanOrEqual(1e6); // it keeps headroom over what it delivers
    expect(caps.get('slow')!).toBeLessThan(2e6);
    expect(caps.get('a')!).toBeGreaterThan(4e6);
    expect(caps.get('b')!).toBeGreaterThan(4e6);
    // Delivered in all: close to the downlink.
    const delivered = Math.min(1e6, caps.get('slow')!) + caps.get('a')! + caps.get('b')!;
    expect(delivered).toBeGreaterThan(9.5e6);
  });

  it('a sender that speeds up gets its share back within a few intervals', () => {
    const a = new CapAllocator<string>({ downBps: 8e6 });
    a.add('x');
    a.add('y');
    const cap = { x: 0.1e6, y: 50e6 };
    for (let r = 0; r < 10; r++) a.update(new Map(Object.entries(cap).map(([k, c]) => [k, Math.min(c, a.cap(k)!)])));
    expect(a.cap('x')!).toBeLessThan(1.1e6);
    cap.x = 50e6;
    let rounds = 0;
    while (a.cap('x')! < 3.5e6 && rounds < 20) {
      a.update(new Map(Object.entries(cap).map(([k, c]) => [k, Math.min(c, a.cap(k)!)])));
      rounds++;
    }
    expect(rounds).toBeLessThanOrEqual(3);
  });

  it('a pinned sender (the server) keeps at least an equal share even while it delivers less', () => {
    const a = new CapAllocator<string>({ downBps: 9e6, pinned: ['server'] });
    for (const k of ['server', 'p1', 'p2']) a.add(k);
    for (let r = 0; r < 10; r++) a.update(new Map([['server', 1e6], ['p1', 0.5e6], ['p2', 50e6]]));
    expect(a.cap('server')!).toBeGreaterThanOrEqual(3e6);
    expect(a.cap('p1')!).toBeLessThan(1.5e6);
  });

  it('removing a sender gives its share to the rest', () => {
    const a = new CapAllocator<string>({ downBps: 6e6 });
    a.add('x');
    a.add('y');
    a.remove('x');
    expect(a.cap('y')).toBe(6e6);
    expect(a.cap('x')).toBeUndefined();
  });
});

describe('RateMeter', () => {
  it('turns bytes per sender into bit/s per interval, silent senders at 0', () => {
    const m = new RateMeter<string>(0);
    m.add('a', 12_500);
    expect(m.take(100, ['a', 'b'])).toEqual(new Map([['a', 1e6], ['b', 0]]));
    expect(m.take(200, ['a'])).toEqual(new Map([['a', 0]]));
  });
});
