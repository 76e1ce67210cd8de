/** The floodclone plug-in without a network: phases, go signal, events from its lines, options, bound. */
import { describe, expect, it } from 'vitest';
import { TCP_PAYLOAD_PER_FRAME } from '../../lab/bound.js';
import { kumarRossBound } from '../../lab/bound-whole.js';
import { FLOOD_DEFAULTS, floodclone, floodGoodput, floodSimTrunks, simulatedFloodRun, type FloodOptions } from '../../lab/protocols/floodclone.js';
import type { NodeRef, RunContext } from '../../lab/protocols/types.js';
import { Issues } from '../../lab/scenario/errors.js';
import type { Topology } from '../../lab/types.js';

function topology(n: number): Topology {
  return {
    name: 't', description: '', backend: 'auto', seed: 1, file: { kind: 'size', sizeBytes: 1 << 20 },
    transfer: { job: 'whole-file', rateKbps: 0, width: n, options: {} },
    strategies: [], repeat: 1,
    receivers: Array.from({ length: n }, (_, index) => ({ index, downBps: 20e6, upBps: 10e6 })),
    sender: { upBps: 40e6 }, events: [],
  };
}

function ctx(t: Topology): RunContext<FloodOptions> {
  const addr = (n: NodeRef): string => (n.role === 'source' ? '198.18.0.1' : n.role === 'receiver' ? `198.18.0.${2 + n.index}` : '198.19.255.254');
  return { topology: t, variant: 'mutualcast', contender: 'floodclone/mutualcast', options: FLOOD_DEFAULTS, repeat: 1, srcFile: '/w/src.bin', fileBytes: 1 << 20, runDir: '/w/run', nodeDir: (i) => `/w/run/rx${i}`, poolDir: (i) => `/w/run/rx${i}`, address: addr, runId: 'ab'.repeat(16) };
}

describe('floodclone plug-in', () => {
  it('serves on the source first, then a node per receiver held back by the go signal', () => {
    const c = ctx(topology(3));
    const phases = floodclone.phases(c);
    expect(phases.map((p) => p.name)).toEqual(['source', 'nodes']);
    const src = phases[0]!.procs[0]!;
    expect(src.argv.slice(2)).toEqual(['flood', 'serve', '--json', '--file', '/w/src.bin', '--listen', '198.18.0.1:9100', '--chunk-size', `${256 * 1024}B`]);
    expect(src.go).toBeUndefined();
    const nodes = phases[1]!.procs;
    expect(nodes).toHaveLength(3);
    expect(nodes[2]!.argv.slice(2)).toEqual(['flood', 'join', '--json', '--source', '198.18.0.1:9100', '--listen', '198.18.0.4:9100', '--out', '/w/run/rx2/file.bin', '--wait-signal', 'SIGUSR1']);
    expect(nodes.every((p) => p.go === 'SIGUSR1' && p.ready!.test('{"event":"ready"}'))).toBe(true);
    expect(floodclone.backends).toEqual(['netns']);
  });

  it('turns a node\'s lines into events with payload, control bytes and duplicates', () => {
    const c = ctx(topology(2));
    const node = floodclone.phases(c)[1]!.procs[1]!;
    expect(floodclone.parseLine(node, '{"event":"ready","wallMs":5}', c)).toEqual([{ kind: 'start', node: 1, wallMs: 5 }]);
    expect(floodclone.parseLine(node, '{"event":"first-byte","wallMs":6}', c)).toEqual([{ kind: 'first-byte', node: 1, wallMs: 6 }]);
    expect(floodclone.parseLine(node, '{"event":"done","down":10,"up":20,"ctrlDown":3,"ctrlUp":4,"dups":0,"wallMs":7}', c)).toEqual([
      { kind: 'done', node: 1, wallMs: 7, downBytes: 10, upBytes: 20, controlBytes: 7, duplicateChunks: 0 },
    ]);
    expect(floodclone.parseLine(node, '{"event":"error","message":"bad","wallMs":8}', c)).toEqual([{ kind: 'error', node: 1, wallMs: 8, message: 'bad' }]);
    expect(floodclone.parseLine(node, 'not json', c)).toEqual([]);
    expect(floodclone.parseLine(node, '{"event":', c)).toEqual([]);
  });

  it('parses chunkSize with paths, and its bound is Kumar-Ross with the CHUNK header', () => {
    const issues = new Issues();
    expect(floodclone.parseOptions({ chunkSize: '64KiB' }, 'transfer.floodclone', issues)).toEqual({ chunkBytes: 65536 });
    expect(floodclone.parseOptions(undefined, 'transfer.floodclone', issues)).toEqual(FLOOD_DEFAULTS);
    expect(issues.count).toBe(0);
    expect(floodclone.parseOptions({ chunkSize: '1KiB' }, 'transfer.floodclone', issues)).toBeUndefined();
    expect(floodclone.parseOptions({ chunk: '1MiB' }, 'transfer.floodclone', issues)).toBeUndefined();
    expect(issues.count).toBe(2);
    const t = topology(4);
    const b = floodclone.lowerBound(t, { chunkBytes: 65536 }, 1 << 20);
    expect(floodGoodput(65536)).toBeCloseTo(TCP_PAYLOAD_PER_FRAME * (65536 / 65545), 12);
    const ref = kumarRossBound({ fileBytes: 1 << 20, sourceUpBps: 40e6, nodes: t.receivers.map(() => ({ downBps: 20e6, upBps: 10e6 })), events: [], goodputFactor: floodGoodput(65536) });
    expect(b).toEqual({ seconds: ref.seconds, binding: ref.binding, terms: ref.terms });
  });

  it('takes the sites into its bound and routes simulated peer flows over their trunks', () => {
    const t = { ...topology(4), sites: [{ name: 'east', receivers: [0, 1], upBps: 1e6, downBps: 2e6 }] };
    const b = floodclone.lowerBound(t, { chunkBytes: 65536 }, 1 << 20);
    expect(b.binding).toBe('site-down');
    const tr = floodSimTrunks(t, (bps) => bps / 8)!;
    expect(tr.caps).toEqual([1e6 / 8, 2e6 / 8]);
    expect(tr.route(0, 1)).toEqual([]);
    expect(tr.route(-1, 0)).toEqual([1]);
    expect(tr.route(1, 3)).toEqual([0]);
    expect(tr.route(2, 3)).toEqual([]);
    expect(floodSimTrunks(topology(4), (bps) => bps)).toBeUndefined();
    // The simulated run cannot beat the site-down bound: the trunk is shared.
    const r = simulatedFloodRun({ ...t, transfer: { ...t.transfer, options: { floodclone: { chunkBytes: 65536 } } } }, 'mutualcast', 'floodclone/mutualcast', 1);
    expect(r.failedReceivers).toBe(0);
    expect(r.efficiency).toBeGreaterThanOrEqual(1);
  });

  it('reads simDegree (simulator only) and rejects an odd one', () => {
    const issues = new Issues();
    expect(floodclone.parseOptions({ simDegree: 16 }, 'transfer.floodclone', issues)).toEqual({ ...FLOOD_DEFAULTS, simDegree: 16 });
    expect(floodclone.parseOptions({ simDegree: 3 }, 'transfer.floodclone', issues)).toBeUndefined();
    expect(issues.count).toBe(1);
  });

  it('reads simStepMs (simulator only: 0 to 100 ms) and rejects anything else', () => {
    const issues = new Issues();
    expect(floodclone.parseOptions({ simStepMs: 10 }, 'transfer.floodclone', issues)).toEqual({ ...FLOOD_DEFAULTS, simStepMs: 10 });
    for (const bad of [-1, 101, '10ms', Number.NaN]) expect(floodclone.parseOptions({ simStepMs: bad }, 'transfer.floodclone', issues)).toBeUndefined();
    expect(issues.count).toBe(4);
  });
});
