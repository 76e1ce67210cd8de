/**
 * The picker in virtual time, with libtorrent-style fixtures: one character per chunk, `*` held.
 * Handle 0 is the source; peers are 1, 2, ...
 */
import { describe, expect, it } from 'vitest';
import { Picker, ownHash, type PickAction } from '../../protocols/floodclone/picker.js';

const C = 1000;

/** A picker holding `mine` (`*` = held), with peers holding the given strings; the source is handle 0 unless `noSource`. */
function picker(mine: string, peers: string[], o: { noSource?: boolean; cfg?: Partial<ConstructorParameters<typeof Picker>[0]> } = {}): Picker {
  const p = new Picker({ chunks: mine.length, chunkBytes: C, seed: 7, ...o.cfg });
  [...mine].forEach((ch, k) => ch === '*' && p.markHave(k));
  if (!o.noSource) p.addPeer(0, true, 0);
  peers.forEach((s, i) => {
    p.addPeer(i + 1, false, 0);
    p.onHave(i + 1, [...s].flatMap((ch, k) => (ch === '*' ? [k] : [])), 0);
  });
  return p;
}

const requests = (a: PickAction[]): string[] => a.filter((x) => x.kind === 'request').map((x) => `${x.peer}:${(x as { chunk: number }).chunk}`);

describe('floodclone picker', () => {
  it('asks the source for a fresh chunk first, and one peer for the rarest chunk it holds', () => {
    const p = picker('    ', ['****', '  * ', ' ** ']);
    p.onUpload(0, 0, 0);
    const a = p.pick(0);
    expect(a.filter((x) => x.kind === 'fresh')).toHaveLength(1);
    // Unmeasured peers get one probe each: peer 1 holds everything and gets the rarest (chunk 0 or 3,
    // held by it alone), peer 2 only has 2, peer 3 gets 1; the source, asked last, gets the other
    // of 0 and 3 by name (a peer was sent it, so it is not fresh; the source serves it directly
    // only when nobody waits for a fresh chunk).
    const r = requests(a);
    expect(r).toContain('2:2');
    expect(r).toContain('3:1');
    expect(r.some((x) => x === '1:0' || x === '1:3')).toBe(true);
    expect(r.some((x) => x === '0:0' || x === '0:3')).toBe(true);
    expect(r).toHaveLength(4);
  });

  it('never has a chunk in flight twice, and never asks the source by name for a chunk nobody was sent', () => {
    const p = picker('  ', ['* ', '* ']);
    const a = p.pick(0);
    expect(requests(a)).toEqual(['1:0']); // peer 2 has nothing else to give; the source is not asked for chunk 1 by name
    expect(p.pick(1)).toEqual([]); // the fresh request is out; nothing new
    p.onNoFresh();
    expect(requests(p.pick(2))).toEqual(['0:1']); // after NOFRESH the source is a holder of everything
  });

  it('stores a chunk once: a second copy is a duplicate and is dropped', () => {
    const p = picker('  ', ['**']);
    p.pick(0);
    expect(p.onChunk(1, 0, true, 100)).toBe('store');
    expect(p.onChunk(1, 0, true, 110)).toBe('drop');
    expect(p.duplicates).toBe(1);
  });

  it('a fresh chunk from the source is stored once, then asked for from nobody', () => {
    const p = picker('   ', []);
    p.onUpload(0, 0, 0);
    expect(p.pick(0)).toEqual([{ kind: 'fresh', peer: 0 }]);
    expect(p.onChunk(0, 1, true, 50)).toBe('store');
    expect(p.freshOutstanding).toBe(0);
    expect(p.have[1]).toBe(1);
  });

  it('stops asking for fresh chunks while its own uplink has a long backlog', () => {
    const p = picker('    ', []);
    p.onUpload(0, 0, 0);
    p.onUpload(1000, 0, 1_000_000); // 1 MB/s uplink measured
    p.onUpload(1300, 5_000_000, 1_300_000); // 5 s of backlog
    expect(p.pick(1300).filter((x) => x.kind === 'fresh')).toHaveLength(0);
    p.onUpload(1600, 100_000, 1_600_000); // 0.1 s of backlog: ask
    expect(p.pick(1600).filter((x) => x.kind === 'fresh').length).toBeGreaterThan(0);
  });

  it('measures peers from their chunks and gives the fast one more requests', () => {
    const p = picker('          ', ['**********', '**********'], { cfg: { queueTargetMs: 400 } });
    let t = 0;
    for (let round = 0; round < 4; round++) {
      for (const x of p.pick(t)) if (x.kind === 'request') p.onChunk(x.peer, x.chunk, true, t + (x.peer === 1 ? 1 : 50));
      t += 60;
    }
    // Peer 1 moves 1000 B in ~1 ms (1 MB/s): 400 ms of it is many chunks; peer 2 (20 kB/s) gets one.
    const fast = p.rateOf(1)!;
    const slow = p.rateOf(2)!;
    expect(fast).toBeGreaterThan(10 * slow);
  });

  it('cancels a request stuck on a slow peer when a faster holder is free, and only CANCELLED frees it', () => {
    const p = picker('  ', ['* ', '  '], { noSource: true, cfg: { minCancelMs: 100, cancelFactor: 2 } });
    expect(requests(p.pick(0))).toEqual(['1:0']);
    // Peer 2 is measured fast on another chunk... give it chunk 0 now.
    p.onHave(2, [0, 1], 0);
    const b = p.pick(10);
    expect(requests(b)).toEqual(['2:1']);
    p.onChunk(2, 1, true, 12); // fast
    const c = p.pick(5000);
    expect(c).toContainEqual({ kind: 'cancel', peer: 1, chunk: 0 });
    expect(requests(c)).not.toContain('2:0'); // still in flight at peer 1 until it says CANCELLED
    p.onCancelled(1, 0, 5010);
    expect(requests(p.pick(5010))).toEqual(['2:0']);
  });

  it('a chunk that arrives although it was being cancelled is stored, not duplicated', () => {
    const p = picker(' ', ['*', ' '], { noSource: true, cfg: { minCancelMs: 100, cancelFactor: 2 } });
    p.pick(0);
    p.onHave(2, [0], 0);
    p.pick(5000);
    expect(p.onChunk(1, 0, true, 5001)).toBe('store');
    expect(p.duplicates).toBe(0);
    p.onCancelled(1, 0, 5002); // late, harmless
    expect(p.pick(5003)).toEqual([]);
  });

  it('a corrupt chunk is dropped, its sender trusted less, and the chunk asked for elsewhere', () => {
    const p = picker(' ', ['*', '*'], { noSource: true });
    const first = requests(p.pick(0));
    expect(first).toHaveLength(1);
    const bad = Number(first[0]!.split(':')[0]);
    expect(p.onChunk(bad, 0, false, 10)).toBe('drop');
    expect(p.corruptFrom(bad)).toBe(1);
    const again = requests(p.pick(11));
    expect(again).toEqual([`${bad === 1 ? 2 : 1}:0`]); // the liar no longer counts as a holder of chunk 0
  });

  it('a peer that vanishes takes its requests with it: they go to another holder', () => {
    const p = picker('  ', ['**', '**'], { noSource: true });
    const a = requests(p.pick(0));
    expect(a).toHaveLength(2); // one probe each
    p.removePeer(1);
    const b = requests(p.pick(1));
    expect(b).toHaveLength(0); // peer 2 has its one probe slot in use
    const at2 = a.find((x) => x.startsWith('2:'))!;
    p.onChunk(2, Number(at2.split(':')[1]), true, 5);
    expect(requests(p.pick(6))).toEqual([`2:${a.find((x) => x.startsWith('1:'))!.split(':')[1]}`]);
  });

  it('is complete with nothing to do once every chunk is held', () => {
    const p = picker('**', ['**']);
    expect(p.complete).toBe(true);
    expect(p.pick(0)).toEqual([]);
  });

  it('a link set not requestable is asked for nothing new; what it was asked completes as usual', () => {
    const p = picker('    ', ['****', '****'], { noSource: true });
    const first = requests(p.pick(0));
    expect(first.filter((x) => x.startsWith('1:'))).toHaveLength(1);
    const asked1 = Number(first.find((x) => x.startsWith('1:'))!.split(':')[1]);
    p.setRequestable(1, false);
    expect(p.onChunk(1, asked1, true, 100)).toBe('store');
    for (const x of first.filter((y) => y.startsWith('2:'))) p.onChunk(2, Number(x.split(':')[1]), true, 150);
    // Peer 1 holds everything but is not asked again; peer 2 gets the rest as its slots allow.
    for (let t = 200; t < 2000 && !p.complete; t += 100) {
      const r = requests(p.pick(t));
      expect(r.filter((x) => x.startsWith('1:'))).toEqual([]);
      for (const x of r) p.onChunk(2, Number(x.split(':')[1]), true, t + 50);
    }
    expect(p.complete).toBe(true);
    expect(p.duplicates).toBe(0);
  });

  describe('far chunks split among near peers (ownFarMs)', () => {
    const FAR = Array.from({ length: 30 }, (_, k) => 10 + k);
    /**
     * Me (id 7) with peer 1 near (measured 1e6 B/s) and peers 2 and 3 far (1e4 B/s), both far ones
     * holding `far` (chunks 10-39) from t = 200.
     */
    function site(cfg: Partial<ConstructorParameters<typeof Picker>[0]> = {}, far: number[] = FAR, alone: number[] = []): Picker {
      const p = new Picker({ chunks: 40, chunkBytes: C, seed: 7, ...cfg });
      p.addPeer(0, true, 0);
      for (const h of [1, 2, 3]) p.addPeer(h, false, 0, h);
      p.onHave(1, [0], 0);
      p.onHave(2, [1], 0);
      p.onHave(3, [2], 0);
      const probes = requests(p.pick(0));
      expect(probes).toEqual(expect.arrayContaining(['1:0', '2:1', '3:2']));
      p.onChunk(1, 0, true, 1);
      p.onChunk(2, 1, true, 100);
      p.onChunk(3, 2, true, 100);
      expect(p.rateOf(1)).toBe(1e6);
      expect(p.rateOf(2)).toBe(1e4);
      p.onHave(2, [...alone, ...far], 200);
      p.onHave(3, far, 200);
      return p;
    }
    const mine = (c: number): boolean => ownHash(c, 7) < ownHash(c, 1);
    const farAsked = (a: PickAction[]): number[] => requests(a).filter((x) => !x.startsWith('0:') && !x.startsWith('1:')).map((x) => Number(x.split(':')[1]));

    it('asks the far peers only for the chunks it owns; a chunk one peer holds is not split', () => {
      const asked = farAsked(site().pick(200));
      expect(asked.length).toBeGreaterThan(2);
      for (const c of asked) expect(mine(c)).toBe(true);
      const theirs = [3, 4, 5, 6, 7, 8, 9].find((c) => !mine(c))!;
      expect(farAsked(site({}, [], [theirs]).pick(200))).toEqual([theirs]); // held by peer 2 alone
      expect(farAsked(site({}, [theirs]).pick(200))).toEqual([]); // held by both far peers: the near peer's
      // The owners really differ: both sides of the split exist among 10-39.
      expect(FAR.some(mine)).toBe(true);
      expect(FAR.some((c) => !mine(c))).toBe(true);
    });

    it('without the split (ownFarMs 0) it asks for chunks the near peer owns too', () => {
      const asked = farAsked(site({ ownFarMs: 0 }).pick(200));
      expect(asked.some((c) => !mine(c))).toBe(true);
    });

    it('a near peer that stopped making progress owns nothing; after ownFarMs anyone fetches', () => {
      const stale = site();
      expect(farAsked(stale.pick(1300)).some((c) => !mine(c))).toBe(true); // peer 1 silent for 1.3 s
      const late = site({ ownFarMs: 5000 });
      late.onHave(1, [3], 5300); // peer 1 still progresses
      expect(farAsked(late.pick(5300)).some((c) => !mine(c))).toBe(true);
      const early = site({ ownFarMs: 5000 });
      early.onHave(1, [3], 900);
      expect(farAsked(early.pick(900)).every(mine)).toBe(true);
    });
  });
});
