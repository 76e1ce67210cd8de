/**
 * The stop-and-wait simulator (lab/protocols/p2mp-ftp/sim.ts): its network model on cases computed
 * by hand, the timeouts' average cost, determinism per seed and repeat, and the plug-in's
 * simulate() on a parsed scenario with `sim: { rttMs }`.
 */
import { describe, expect, it } from 'vitest';
import { simulateSaw, type SawSimInput } from '../../lab/protocols/p2mp-ftp/sim.js';
import { p2mpFtp } from '../../lab/protocols/p2mp-ftp/plugin.js';
import { parseScenario } from '../../lab/scenario/index.js';
import { resolveContender } from '../../lab/protocols/index.js';
import { chooseProtocolBackend } from '../../lab/run.js';
import { BURST_MS } from '../../p2mp/nak-sender.js';

const base = (o: Partial<SawSimInput> = {}): SawSimInput => ({
  fileBytes: 100_000,
  mss: 1000,
  p: 0,
  timeoutMs: 200,
  rttMs: 20,
  sourceUpBps: 8e6,
  sourceDownBps: Infinity,
  receivers: [{ downBps: 8e6, upBps: Infinity }],
  seed: 1,
  repeat: 1,
  ...o,
});

describe('p2mp-ftp stop-and-wait simulator', () => {
  it('one receiver, no loss: makespan = segments x (serialisation on both links + RTT) + the end segment', () => {
    // 1050-byte frames at 1 MB/s: 1.05 ms on each link; ACK paths unshaped.
    const out = simulateSaw(base());
    const seg = 1.05 + 1.05 + 20;
    const end = 0.05 + 10 + 0.05; // the end segment: 50-byte frame up, one way, down
    expect(out.segments).toBe(100);
    expect(out.timeouts).toBe(0);
    expect(out.makespanMs).toBeCloseTo(100 * seg + end, 6);
    expect(out.clientDoneMs).toBeCloseTo(out.makespanMs + 10, 6);
    expect(out.nodes[0]!.bytes).toBe(100_000);
    expect(out.wireBytes).toBe(100 * 1050 + 50);
  });

  it('counts the last short segment and the ACK serialisation on shaped return links', () => {
    // 2500 bytes, MSS 1000: segments of 1000, 1000, 500; ACKs (50 B) at 1 MB/s on both return links.
    const out = simulateSaw(base({ fileBytes: 2500, sourceDownBps: 8e6, receivers: [{ downBps: 8e6, upBps: 8e6 }] }));
    const ack = 0.05 + 0.05;
    const expected = 2 * (2.1 + 20 + ack) + (0.55 * 2 + 20 + ack) + (0.1 + 10);
    expect(out.makespanMs).toBeCloseTo(expected, 6);
  });

  it('n receivers: the source up link serialises every copy; the slowest ACK paces the next segment', () => {
    const out = simulateSaw(base({ receivers: [0, 1, 2].map(() => ({ downBps: 8e6, upBps: Infinity })) }));
    // Copies leave the uplink at 1.05, 2.1, 3.15 ms; the last arrives at 3.15 + 10 + 1.05; its ACK 10 ms later.
    const seg = 3 * 1.05 + 1.05 + 20;
    const end = 3 * 0.05 + 10 + 0.05;
    expect(out.makespanMs).toBeCloseTo(100 * seg + end, 6);
  });

  it('with the server drop p, each segment costs p/(1-p) timeouts more on average', () => {
    const p = 0.1;
    const segs = 20_000;
    const out = simulateSaw(base({ fileBytes: segs * 1000, p, sourceUpBps: Infinity, receivers: [{ downBps: Infinity, upBps: Infinity }] }));
    const expected = segs * (20 + (p / (1 - p)) * 200);
    expect(out.makespanMs / expected).toBeGreaterThan(0.97);
    expect(out.makespanMs / expected).toBeLessThan(1.03);
    expect(out.timeouts / segs).toBeGreaterThan(0.1);
    expect(out.timeouts / segs).toBeLessThan(0.125);
    expect(out.nodes[0]!.serverDrops).toBe(out.timeouts);
  });

  it('n servers: a timeout whenever any of them dropped, probability 1-(1-p)^n per send', () => {
    const p = 0.05;
    const n = 5;
    const segs = 20_000;
    const out = simulateSaw(base({ fileBytes: segs * 100, mss: 100, p, receivers: Array.from({ length: n }, () => ({ downBps: Infinity, upBps: Infinity })), sourceUpBps: Infinity }));
    const q = 1 - (1 - p) ** n;
    // Rounds per segment: the max over n servers of geometric draws; the first round fails w.p. q.
    expect(out.timeouts / segs).toBeGreaterThan(q * 0.95);
    expect(out.timeouts / segs).toBeLessThan(q * 1.25);
    for (const node of out.nodes) expect(node.bytes).toBe(segs * 100);
  });

  it('link loss on data and on ACKs is drawn and recovered by timeouts', () => {
    const out = simulateSaw(base({ receivers: [{ downBps: 8e6, upBps: Infinity, lossDownPct: 10, lossUpPct: 10 }] }));
    expect(out.nodes[0]!.linkLossData).toBeGreaterThan(0);
    expect(out.nodes[0]!.linkLossAcks).toBeGreaterThan(0);
    expect(out.timeouts).toBe(out.nodes[0]!.linkLossData + out.nodes[0]!.linkLossAcks);
    expect(out.nodes[0]!.doneMs).not.toBeNull();
  });

  it('is deterministic per seed and repeat, and differs across them', () => {
    const i = base({ p: 0.05, receivers: [0, 1, 2].map(() => ({ downBps: 8e6, upBps: 8e6 })) });
    const a = simulateSaw(i);
    expect(simulateSaw(i)).toEqual(a);
    expect(simulateSaw({ ...i, repeat: 2 }).makespanMs).not.toBe(a.makespanMs);
    expect(simulateSaw({ ...i, seed: 2 }).makespanMs).not.toBe(a.makespanMs);
  });

  it('an empty file: only the end segment', () => {
    const out = simulateSaw(base({ fileBytes: 0 }));
    expect(out.segments).toBe(0);
    expect(out.makespanMs).toBeCloseTo(0.05 + 10 + 0.05, 6);
  });

  it('the plug-in simulates a parsed scenario with sim.rttMs, fast enough for task 2 at MSS 100', () => {
    const t = parseScenario(
      `name: t
backend: sim
seed: 1
file: { size: 10MB }
transfer: { job: whole-file, p2mp-ftp: { mss: 100, p: 0.05, timeout: 200ms } }
strategies: [p2mp-ftp/stop-and-wait]
receivers: { count: 3, down: 100mbit, up: 100mbit }
source: { up: 100mbit, down: 100mbit }
sim: { rttMs: 20 }
`,
      { netem: false },
      't.yaml',
    );
    const t0 = performance.now();
    const r = p2mpFtp.simulate!(t, 'stop-and-wait', 'p2mp-ftp/stop-and-wait', 1, t.sim ?? {});
    expect(performance.now() - t0).toBeLessThan(20_000);
    // 100,000 segments x (20 ms RTT + 3 x 150-byte frames at 100 Mbit/s) + ~14 % timeouts of 200 ms.
    const q = 1 - 0.95 ** 3;
    const approx = 100_000 * (20.036 + q * 200) / 1000;
    expect(r.makespanS / approx).toBeGreaterThan(0.95);
    expect(r.makespanS / approx).toBeLessThan(1.1);
    expect(r.lowerBoundS).toBeGreaterThan(0);
    expect(r.efficiency).toBeGreaterThan(1);
    expect(r.receivers.every((x) => x.doneS !== null && x.bytes === 10_000_000)).toBe(true);
  }, 30_000);

  it('the backend choice: both variants run on the simulator', () => {
    const ok = { usable: true, reason: 'fine' };
    const no = { usable: false, reason: 'not root' };
    const saw = resolveContender('p2mp-ftp/stop-and-wait', 'whole-file') as Exclude<ReturnType<typeof resolveContender>, { error: string }>;
    const nak = resolveContender('p2mp-ftp/nak', 'whole-file') as typeof saw;
    expect(chooseProtocolBackend('sim', { backends: { netns: ok, docker: ok, sim: ok } }, [saw, nak]).backend).toBe('sim');
    expect(chooseProtocolBackend('auto', { backends: { netns: no, docker: no, sim: ok } }, [saw, nak]).backend).toBe('sim');
    const partial = { ...nak, protocol: { ...nak.protocol, canSimulate: (v: string) => v !== 'nak' } };
    expect(() => chooseProtocolBackend('sim', { backends: { netns: ok, docker: ok, sim: ok } }, [partial])).toThrow(/no model of p2mp-ftp\/nak/);
  });
});

const nakScenario = (extra: string): ReturnType<typeof parseScenario> =>
  parseScenario(
    `name: t
backend: sim
seed: 3
file: { size: 4MB }
transfer: { job: whole-file, p2mp-ftp: { mss: 1400${extra} } }
strategies: [p2mp-ftp/nak]
receivers: { count: 4, down: 100mbit, up: 100mbit }
source: { up: 100mbit, down: 100mbit }
sim: { rttMs: 20 }
`,
    { netem: false },
    't.yaml',
  );

describe('p2mp-ftp/nak on the simulator (the NakSender/NakReceiver machines)', () => {
  const frame = 1400 + 16 + 42;
  const segs = Math.ceil(4e6 / 1400);
  // The lab paces the sender at the link rate itself (RATE_MARGIN 1), less its initial burst.
  const paceS = (segs * frame * 8) / 100e6 - BURST_MS / 1000;

  it('multicast, no loss: the file once at the paced rate, plus half an RTT; no repairs', () => {
    const t = nakScenario('');
    const r = p2mpFtp.simulate!(t, 'nak', 'p2mp-ftp/nak', 1, t.sim ?? {});
    expect(r.failedReceivers).toBe(0);
    expect(r.makespanS).toBeGreaterThan(paceS);
    expect(r.makespanS).toBeLessThan(paceS * 1.05 + 0.03);
    for (const x of r.receivers) expect(x.counters!['dataOnLink']).toBe(segs);
  });

  it('unicast, no loss: the source up link carries a copy per receiver', () => {
    const t = nakScenario(', mode: unicast');
    const r = p2mpFtp.simulate!(t, 'nak', 'p2mp-ftp/nak', 1, t.sim ?? {});
    expect(r.makespanS).toBeGreaterThan(4 * paceS);
    expect(r.makespanS).toBeLessThan(4 * paceS * 1.05 + 0.03);
  });

  it('multicast, 5 % link loss: every receiver completes, within a small factor of the bound, deterministic', () => {
    const t = nakScenario('');
    for (const rx of t.receivers) rx.lossDownPct = 5;
    const a = p2mpFtp.simulate!(t, 'nak', 'p2mp-ftp/nak', 1, t.sim ?? {});
    expect(a.failedReceivers).toBe(0);
    expect(a.efficiency).toBeGreaterThan(1);
    expect(a.efficiency).toBeLessThan(2);
    expect(p2mpFtp.simulate!(t, 'nak', 'p2mp-ftp/nak', 1, t.sim ?? {}).makespanS).toBe(a.makespanS);
    for (const x of a.receivers) expect(x.counters!['dataOnLink']).toBeGreaterThan(segs);
  });
});
