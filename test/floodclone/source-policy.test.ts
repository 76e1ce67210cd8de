import { describe, expect, it } from 'vitest';
import { MAX_PENDING_FRESH, SourceScheduler } from '../../protocols/floodclone/source-policy.js';

describe('floodclone source scheduler', () => {
  it('hands out fresh chunks in file order, each once, then NOFRESH', () => {
    const s = new SourceScheduler(3);
    s.open(1);
    s.open(2);
    s.onRequest(1, -1);
    s.onRequest(2, -1);
    s.onRequest(1, -1);
    expect(s.next(1)).toEqual({ kind: 'chunk', chunk: 0, fresh: true });
    expect(s.next(2)).toEqual({ kind: 'chunk', chunk: 1, fresh: true });
    expect(s.next(1)).toEqual({ kind: 'chunk', chunk: 2, fresh: true });
    s.onRequest(2, -1);
    expect(s.next(2)).toEqual({ kind: 'nofresh' });
    expect(s.next(2)).toBeNull();
    expect(s.freshSent).toBe(3);
  });

  it('serves named requests only when no writable connection waits for a fresh chunk', () => {
    const s = new SourceScheduler(4);
    s.open(1);
    s.open(2);
    s.onRequest(1, -1);
    expect(s.next(1)).toMatchObject({ chunk: 0, fresh: true });
    s.onRequest(2, 0); // chunk 0 was sent to node 1: node 2 asks the source directly
    s.onRequest(1, -1); // node 1 wants another fresh one
    expect(s.next(2)).toBeNull(); // a forwarder waits for fresh: the direct request waits
    s.setWritable(1, false); // ... unless that forwarder's connection is full
    expect(s.next(2)).toEqual({ kind: 'chunk', chunk: 0, fresh: false });
    expect(s.directSent).toBe(1);
  });

  it('never sends one node the same chunk twice; CANCEL drops a queued request', () => {
    const s = new SourceScheduler(4);
    s.open(1);
    s.onRequest(1, -1);
    expect(s.next(1)).toMatchObject({ chunk: 0 });
    s.onRequest(1, 0);
    expect(s.next(1)).toEqual({ kind: 'cancelled', chunk: 0 });
    s.onRequest(1, 3);
    s.onRequest(1, 2);
    s.onCancel(1, 3);
    expect(s.next(1)).toEqual({ kind: 'cancelled', chunk: 3 });
    // Chunk 2 was never sent to anybody: served directly, it stops being fresh.
    expect(s.next(1)).toEqual({ kind: 'chunk', chunk: 2, fresh: false });
    s.onRequest(1, -1);
    expect(s.next(1)).toMatchObject({ chunk: 1, fresh: true });
    s.onRequest(1, -1);
    expect(s.next(1)).toMatchObject({ chunk: 3, fresh: true });
    s.onRequest(1, -1);
    expect(s.next(1)).toEqual({ kind: 'nofresh' });
  });

  it('what nodes hold is not fresh and is never sent to them (a restarted source learns it from BITFIELDs)', () => {
    const s = new SourceScheduler(3);
    s.open(1);
    s.open(2);
    s.onHeld(1, 0);
    s.onHeld(2, 1);
    s.onRequest(1, -1);
    expect(s.next(1)).toMatchObject({ chunk: 2, fresh: true });
    s.onRequest(1, 1); // held by node 2 only: served directly
    s.onRequest(1, 0); // node 1 holds it already: CANCELLED
    expect(s.next(1)).toEqual({ kind: 'cancelled', chunk: 0 });
    expect(s.next(1)).toMatchObject({ chunk: 1, fresh: false });
  });

  it('reports protocol violations: too many FRESH, a chunk out of range', () => {
    const s = new SourceScheduler(2);
    s.open(1);
    for (let k = 0; k < MAX_PENDING_FRESH; k++) expect(s.onRequest(1, -1)).toBeNull();
    expect(s.onRequest(1, -1)).toMatch(/FRESH/);
    expect(s.onRequest(1, 2)).toMatch(/chunk 2 of 2/);
  });
});
