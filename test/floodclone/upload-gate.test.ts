import { describe, expect, it } from 'vitest';
import { UploadGate } from '../../protocols/floodclone/upload-gate.js';

const C = 65536;

/**
 * Drives a gate over one bottleneck uplink of `upBps` bytes/s, FIFO, feeding `peers` receivers in
 * turn, each announcing a chunk `haveMs` after its last byte left the uplink; `extraMs(peer)` adds
 * a receiver-side delay (its own downlink, a trunk). Returns the longest the uplink queue grew (ms
 * of data waiting behind the chunk in service) and the bytes delivered.
 */
function run(o: { upBps: number; peers: number; ms: number; haveMs?: number; extraMs?: (peer: number) => number }) {
  const g = new UploadGate({ chunkBytes: C });
  const haveMs = o.haveMs ?? 20;
  let linkFreeAt = 0;
  const pending: { at: number; peer: string; chunk: number }[] = [];
  let next = 0;
  let maxQueueMs = 0;
  let delivered = 0;
  for (let now = 0; now <= o.ms; now++) {
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      if (p.at > now) continue;
      pending.splice(i, 1);
      g.announced(p.peer, [p.chunk], now);
      delivered += C;
    }
    while (g.hasRoom(now)) {
      const peer = next % o.peers;
      const chunk = next++;
      const start = Math.max(now, linkFreeAt);
      maxQueueMs = Math.max(maxQueueMs, start - now);
      linkFreeAt = start + (C * 1000) / o.upBps;
      g.sent(`p${peer}`, chunk, C, now);
      pending.push({ at: Math.ceil(linkFreeAt + haveMs + (o.extraMs?.(peer) ?? 0)), peer: `p${peer}`, chunk });
    }
  }
  return { maxQueueMs, delivered, gate: g };
}

describe('floodclone upload gate', () => {
  it('keeps a thin uplink\'s queue short and still full (2 Mbit/s, 7 receivers)', () => {
    const r = run({ upBps: 250_000, peers: 7, ms: 10_000 });
    // Without the gate every receiver would have a chunk queued: 7 x 262 ms.
    expect(r.maxQueueMs).toBeLessThan(600);
    // The link stayed busy: at least 85 % of 10 s at its rate.
    expect(r.delivered).toBeGreaterThan(0.85 * 250_000 * 10);
  });

  it('opens up on a fast uplink (30 Mbit/s): the link is kept full, the queue near the target', () => {
    const r = run({ upBps: 3_750_000, peers: 7, ms: 5000 });
    expect(r.delivered).toBeGreaterThan(0.85 * 3_750_000 * 5);
    expect(r.gate.windowBytes()).toBeGreaterThan(2 * C);
    expect(r.maxQueueMs).toBeLessThan(400);
  });

  it('receivers held up downstream (a trunk) do not close the window on the others', () => {
    // Receivers 0-2 see 1.5 s extra each: a slow trunk, not this node's uplink.
    const slow = run({ upBps: 2_500_000, peers: 6, ms: 8000, extraMs: (p) => (p < 3 ? 1500 : 0) });
    // Their chunks take room, but the window grows past them: the near receivers keep the link busy.
    expect(slow.delivered).toBeGreaterThan(0.6 * 2_500_000 * 8);
  });

  it('a chunk never announced stops counting after the expiry; a vanished peer frees its bytes at once', () => {
    const g = new UploadGate({ chunkBytes: C, initialBytes: 2 * C });
    g.sent('a', 1, C, 0);
    g.sent('b', 2, C, 0);
    expect(g.hasRoom(10)).toBe(false);
    g.forget('b');
    expect(g.outstandingBytes).toBe(C);
    expect(g.hasRoom(10)).toBe(true);
    g.sent('c', 3, C, 10);
    expect(g.hasRoom(1999)).toBe(false);
    expect(g.hasRoom(2011)).toBe(true); // both expired (2 s)
    expect(g.expired).toBe(2);
    expect(g.outstandingBytes).toBe(0);
  });

  it('an announcement of a chunk not outstanding, or from another peer, changes nothing', () => {
    const g = new UploadGate({ chunkBytes: C });
    g.sent('a', 1, C, 0);
    expect(g.announced('b', [1], 5)).toBe(false);
    expect(g.announced('a', [2], 5)).toBe(false);
    expect(g.outstandingBytes).toBe(C);
    expect(g.announced('a', [1], 5)).toBe(true);
    expect(g.outstandingBytes).toBe(0);
  });

  it('shrinks when every receiver sees the node\'s queue grow, never below one chunk', () => {
    const g = new UploadGate({ chunkBytes: C, initialBytes: 8 * C });
    // Base latency 20 ms for both receivers, then 900 ms: the node's own uplink is backed up.
    g.sent('a', 0, C, 0);
    g.sent('b', 1, C, 0);
    g.announced('a', [0], 20);
    g.announced('b', [1], 20);
    const w0 = g.windowBytes();
    for (let k = 2; k < 40; k++) {
      g.sent(k % 2 ? 'a' : 'b', k, C, 100 * k);
      g.announced(k % 2 ? 'a' : 'b', [k], 100 * k + 900);
    }
    expect(g.windowBytes()).toBeLessThan(w0);
    expect(g.windowBytes()).toBe(C);
  });
});
