/** The p2mp-ftp plug-in without a network: its bound (values by hand), options, programs and events. */
import { describe, expect, it } from 'vitest';
import { p2mpBound } from '../../lab/bound-p2mp.js';
import { P2MP_DEFAULTS, defaultNakRates, p2mpFtp, type P2mpOptions } from '../../lab/protocols/p2mp-ftp/plugin.js';
import type { NodeRef, RunContext } from '../../lab/protocols/types.js';
import { Issues } from '../../lab/scenario/errors.js';
import type { Topology } from '../../lab/types.js';

const MiB = 1 << 20;

function topology(n: number, lossPct = 0): Topology {
  return {
    name: 't', description: '', backend: 'netns', seed: 1, file: { kind: 'size', sizeBytes: MiB },
    transfer: { job: 'whole-file', rateKbps: 0, width: n, options: {} }, strategies: [], repeat: 1,
    receivers: Array.from({ length: n }, (_, index) => ({ index, downBps: 10e6, upBps: 10e6, lossDownPct: lossPct, lossUpPct: lossPct })),
    sender: { upBps: 100e6 }, events: [],
  };
}

function ctx(t: Topology, variant: string, options: P2mpOptions): RunContext<P2mpOptions> {
  const addr = (n: NodeRef): string => (n.role === 'source' ? '198.18.0.1' : n.role === 'receiver' ? `198.18.0.${2 + n.index}` : '198.19.255.254');
  return { topology: t, variant, contender: `p2mp-ftp/${variant}`, options, repeat: 1, srcFile: '/w/src.bin', fileBytes: MiB, runDir: '/w/run', nodeDir: (i) => `/w/run/rx${i}`, poolDir: (i) => `/w/run/rx${i}`, address: addr, runId: '0000002a' + 'ab'.repeat(12) };
}

describe('p2mp bound', () => {
  const base = { fileBytes: 1_000_000, segBytes: 1000, headerBytes: 8, p: 0, sourceUpBps: 100e6, events: [] };
  // goodput 1000 / (1000 + 8 + 42) = 1000/1050

  it('multicast, no loss: the slowest receiver link binds, F / (d g)', () => {
    const b = p2mpBound({ ...base, mode: 'multicast', nodes: [{ downBps: 10e6 }, { downBps: 8e6 }] });
    // 1e6 B / (1e6 B/s x 1000/1050) = 1.05 s
    expect(b.terms.receiverDownS).toBeCloseTo(1.05, 9);
    expect(b.terms.sourceUpS).toBeCloseTo(0.084, 9); // 1e6 / (12.5e6 x 1000/1050)
    expect(b).toMatchObject({ binding: 'receiver-down', mode: 'multicast' });
  });

  it('loss on the link and the protocol\'s p multiply: F / ((1-l)(1-p) d g)', () => {
    const b = p2mpBound({ ...base, p: 0.1, mode: 'multicast', nodes: [{ downBps: 8e6, lossDownPct: 5 }] });
    expect(b.seconds).toBeCloseTo(1.05 / (0.95 * 0.9), 9);
  });

  it('unicast: the source uplink carries every copy, each divided by its receiver\'s q', () => {
    const nodes = Array.from({ length: 20 }, () => ({ downBps: 10e6, lossDownPct: 5 }));
    const b = p2mpBound({ ...base, mode: 'unicast', nodes });
    // 20 x 1e6 / 0.95 / (12.5e6 x 1000/1050) = 1.768... s; a receiver link: 1e6/0.95/(1.25e6 x 1000/1050) = 0.884 s
    expect(b.terms.sourceUpS).toBeCloseTo((20 * 1e6 * 1.05) / 0.95 / 12.5e6, 9);
    expect(b.terms.receiverDownS).toBeCloseTo((1e6 * 1.05) / 0.95 / 1.25e6, 9);
    expect(b).toMatchObject({ binding: 'source-up', mode: 'unicast' });
    // Multicast: the unluckiest receiver's F/q once.
    expect(p2mpBound({ ...base, mode: 'multicast', nodes }).terms.sourceUpS).toBeCloseTo((1e6 * 1.05) / 0.95 / 12.5e6, 9);
  });

  it('a rate change mid-run is integrated', () => {
    const b = p2mpBound({ ...base, mode: 'multicast', sourceUpBps: Infinity, nodes: [{ downBps: 8e6 }], events: [{ atMs: 500, receivers: [0], downBps: 4e6 }] });
    // 0.5 s at 1e6 x 1000/1050 B/s = 476190 B, the rest at half that: 0.5 + 523810 / 476190 = 1.6 s
    expect(b.seconds).toBeCloseTo(1.6, 6);
  });
});

describe('p2mp-ftp plug-in', () => {
  it('options: defaults, and each bad value named by its path', () => {
    expect(p2mpFtp.parseOptions(undefined, 'transfer.p2mp-ftp', new Issues())).toEqual(P2MP_DEFAULTS);
    const ok = p2mpFtp.parseOptions({ mss: 500, p: 0.05, timeout: '20ms', rate: '9mbit', mode: 'unicast', group: '239.1.2.3' }, 'transfer.p2mp-ftp', new Issues());
    expect(ok).toEqual({ mss: 500, p: 0.05, timeoutMs: 20, rateBps: 9e6, mode: 'unicast', group: '239.1.2.3', blockSegs: 32 });
    // Parity blocks: a block that does not fit a frame beside the segment is refused; the default shrinks to fit.
    expect(p2mpFtp.parseOptions({ mss: 1442 }, 'transfer.p2mp-ftp', new Issues())).toMatchObject({ mss: 1442, blockSegs: 12 });
    expect(p2mpFtp.parseOptions({ mss: 1400, block: 0 }, 'transfer.p2mp-ftp', new Issues())).toMatchObject({ blockSegs: 0 });
    const bad = new Issues();
    expect(p2mpFtp.parseOptions({ mss: 1400, block: 64 }, 'transfer.p2mp-ftp', bad)).toBeUndefined();
    expect(bad.count).toBe(1);
    const issues = new Issues();
    expect(p2mpFtp.parseOptions({ mss: 1500, p: 2, timeout: 'soon', mode: 'broadcast', group: '10.1.1.1', window: 3 }, 'transfer.p2mp-ftp', issues)).toBeUndefined();
    expect(issues.list.map((i) => i.path).sort()).toEqual(['transfer.p2mp-ftp.group', 'transfer.p2mp-ftp.mode', 'transfer.p2mp-ftp.mss', 'transfer.p2mp-ftp.p', 'transfer.p2mp-ftp.timeout', 'transfer.p2mp-ftp.window']);
  });

  it('stop-and-wait: servers on 7735 first, then the client as the driver waiting for the go signal', () => {
    const phases = p2mpFtp.phases(ctx(topology(2), 'stop-and-wait', { ...P2MP_DEFAULTS, p: 0.05 }));
    expect(phases.map((p) => p.name)).toEqual(['servers', 'client']);
    expect(phases[0]!.procs[1]!.argv.slice(2)).toEqual(['p2mp', 'server', '7735', '/w/run/rx1/src.bin', '0.05', '--json', '--bind', '198.18.0.3', '--linger-ms', '5000']);
    const client = phases[1]!.procs[0]!;
    expect(client.argv.slice(2, 10)).toEqual(['p2mp', 'client', '198.18.0.2', '198.18.0.3', '7735', '/w/src.bin', '1400', '--timeout-ms']);
    expect(client).toMatchObject({ driver: true, go: 'SIGUSR1', node: { role: 'source' } });
  });

  it('nak multicast: receivers join the group on their own address; the sender paces its uplink and each receiver link at their rates (as uftp/fixed)', () => {
    const t = topology(3);
    const phases = p2mpFtp.phases(ctx(t, 'nak', P2MP_DEFAULTS));
    expect(phases[0]!.procs[0]!.argv).toEqual(expect.arrayContaining(['receive', '--group', '239.255.77.35', '--bind', '198.18.0.2', '--session', '42']));
    const argv = phases[1]!.procs[0]!.argv;
    expect(argv[argv.indexOf('--rate') + 1]).toBe('100000000bit');
    expect(argv[argv.indexOf('--link-rate') + 1]).toBe('10000000bit');
    expect(argv[argv.indexOf('--bind') + 1]).toBe('198.18.0.1');
    expect(argv[argv.indexOf('--block') + 1]).toBe('32');
    expect(defaultNakRates({ ...t, sender: { upBps: Infinity } })).toEqual({ rateBps: 1e9, linkRateBps: 10e6 });
  });

  it('bound per variant: stop-and-wait is unicast with its p; nak follows the mode', () => {
    const t = topology(20, 5);
    expect(p2mpFtp.lowerBound(t, P2MP_DEFAULTS, MiB, 'nak').binding).toBe('multicast:receiver-down');
    expect(p2mpFtp.lowerBound(t, P2MP_DEFAULTS, MiB, 'stop-and-wait').binding).toBe('unicast:source-up');
  });

  it('events: a receiver\'s JSON lines, nothing from other lines', () => {
    const c = ctx(topology(2), 'nak', P2MP_DEFAULTS);
    const spec = p2mpFtp.phases(c)[0]!.procs[1]!;
    expect(p2mpFtp.parseLine(spec, '{"event":"done","bytes":5,"wallMs":7}', c)).toEqual([{ kind: 'done', node: 1, wallMs: 7, downBytes: 5 }]);
    expect(p2mpFtp.parseLine(spec, 'Packet loss, sequence number = 3', c)).toEqual([]);
    expect(p2mpFtp.parseLine(spec, '{"event":', c)).toEqual([]);
  });
});
