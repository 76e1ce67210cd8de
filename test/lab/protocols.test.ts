/**
 * The protocol plug-ins without a network: contender names, each plug-in's programs and phases,
 * the lines they print turned into node events, the torrent's info hash, which backend a set of
 * contenders may run on, and the loss commands a scenario produces (recorded, no root).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, type BackendStatus } from '../../lab/doctor.js';
import { impairmentInvocations } from '../../lab/netns/backend.js';
import { neighbourLines } from '../../lab/netns/commands.js';
import { PlanError, planNetwork } from '../../lab/netns/plan.js';
import { BITTORRENT_DEFAULTS, bittorrent } from '../../lab/protocols/bittorrent/plugin.js';
import { infoHash, urlEncodedHash } from '../../lab/protocols/bittorrent/bencode.js';
import { fragments } from '../../lab/protocols/fragments.js';
import { contenderNames, defaultContenders, resolveContender } from '../../lab/protocols/index.js';
import type { NodeRef, RunContext } from '../../lab/protocols/types.js';
import { chooseProtocolBackend } from '../../lab/run.js';
import { Issues } from '../../lab/scenario/errors.js';
import type { ReceiverSpec, Topology } from '../../lab/types.js';

function topology(n: number, job: 'fragments' | 'whole-file'): Topology {
  return {
    name: 't', description: '', backend: 'auto', seed: 1, file: { kind: 'size', sizeBytes: 1 << 20 },
    transfer: { job, rateKbps: job === 'fragments' ? 10_000 : 0, width: n, options: {} },
    strategies: [], repeat: 1,
    receivers: Array.from({ length: n }, (_, index) => ({ index, downBps: 20e6, upBps: 10e6 })),
    sender: { upBps: 40e6 }, events: [],
  };
}

function ctx<O>(t: Topology, variant: string, options: O): RunContext<O> {
  const addr = (n: NodeRef): string => (n.role === 'source' ? '198.18.0.1' : n.role === 'receiver' ? `198.18.0.${2 + n.index}` : '198.19.255.254');
  return { topology: t, variant, contender: variant, options, repeat: 1, srcFile: '/w/src.bin', fileBytes: 1 << 20, runDir: '/w/run', nodeDir: (i) => `/w/run/rx${i}`, poolDir: (i) => `/w/run/rx${i}`, address: addr, runId: 'ab'.repeat(16) };
}

describe('contender names', () => {
  it('resolve bare fragment strategies and protocol/variant, refusing the wrong job with a reason', () => {
    expect(resolveContender('backpressure', 'fragments')).toMatchObject({ variant: 'backpressure', protocol: { name: 'fragments' } });
    expect(resolveContender('fragments/sequential', 'fragments')).toMatchObject({ variant: 'sequential' });
    expect(resolveContender('bittorrent/aria2', 'whole-file')).toMatchObject({ variant: 'aria2', protocol: { name: 'bittorrent' } });
    expect(resolveContender('bittorrent', 'whole-file')).toMatchObject({ variant: 'aria2' });
    expect(resolveContender('bittorrent/aria2', 'fragments')).toEqual({ error: expect.stringContaining("this scenario's job is fragments") });
    expect(resolveContender('backpressure', 'whole-file')).toEqual({ error: expect.stringContaining('is a strategy of the fragments job') });
    expect(resolveContender('nope/x', 'whole-file')).toEqual({ error: expect.stringContaining('unknown protocol "nope"') });
    expect(defaultContenders('fragments')).toEqual(['round-robin', 'backpressure', 'probe-prioritise', 'sequential', 'static-split']);
    expect(contenderNames('whole-file')).toEqual(['bittorrent/aria2', 'floodclone/mutualcast', 'p2mp-ftp/nak', 'p2mp-ftp/stop-and-wait', 'uftp/fixed', 'uftp/tfmcc', 'coded/sparse', 'coded/rlnc']);
  });
});

describe('fragments plug-in', () => {
  it('starts a receiver per node, then the sender as the driver, and reads the sender\'s lines as node events', () => {
    const c = ctx(topology(3, 'fragments'), 'backpressure', {} as Record<string, never>);
    const phases = fragments.phases(c);
    expect(phases.map((p) => p.name)).toEqual(['receivers', 'sender']);
    expect(phases[0]!.procs).toHaveLength(3);
    expect(phases[0]!.procs[2]!.argv).toEqual(expect.arrayContaining(['receive', '--listen', '198.18.0.4:9000', '--out', '/w/run/rx2']));
    expect(phases[0]!.procs[2]!.fanoutReceiver).toEqual({ outDir: '/w/run/rx2' });
    const sender = phases[1]!.procs[0]!;
    expect(sender.driver).toBe(true);
    expect(sender.argv).toEqual(expect.arrayContaining(['send', '--strategy', 'backpressure', '--rate-kbps', '10000', '--width', '3', '--transfer-id', 'ab'.repeat(16)]));
    expect(fragments.parseLine(sender, '{"event":"start","t":0}', c)).toEqual([{ kind: 'origin', node: -1 }]);
    expect(fragments.parseLine(sender, '{"event":"acked","t":1,"node":"x","index":2,"bytes":99}', c)).toEqual([{ kind: 'done', node: 2, downBytes: 99 }]);
    expect(fragments.parseLine(sender, '{"event":"error","t":1,"node":"x","index":1,"attempt":1,"message":"m","retryInMs":100}', c)).toEqual([]);
    expect(fragments.parseLine(sender, '{"event":"error","t":1,"node":"x","index":1,"attempt":3,"message":"gone","retryInMs":null}', c)).toEqual([{ kind: 'error', node: 1, message: 'gone' }]);
    expect(fragments.parseLine(sender, 'not json', c)).toEqual([]);
    expect(fragments.parseLine(phases[0]!.procs[0]!, '{"event":"start"}', c)).toEqual([]);
  });
});

describe('bittorrent/aria2 plug-in', () => {
  const t = topology(2, 'whole-file');
  const c = ctx(t, 'aria2', { ...BITTORRENT_DEFAULTS, aria2Args: ['--disk-cache=32M'] });
  const phases = bittorrent.phases(c);

  it('runs opentracker on its own host, then the seeder on the source, then a leecher per node', () => {
    expect(phases.map((p) => [p.name, p.procs.map((s) => s.node)])).toEqual([
      ['tracker', [{ role: 'service', name: 'tracker' }]],
      ['seeder', [{ role: 'source' }]],
      ['leechers', [{ role: 'receiver', index: 0 }, { role: 'receiver', index: 1 }]],
    ]);
    expect(phases[0]!.procs[0]!.argv).toEqual(['/usr/bin/opentracker', '-i', '198.19.255.254', '-p', '6969', '-P', '6969', '-w', '/whitelist', '-d', '/w/run/tracker', '-u', 'nobody']);
    const seeder = phases[1]!.procs[0]!.argv;
    expect(seeder).toEqual(expect.arrayContaining(['--role', 'seeder', '--dir=/w', '--bt-seed-unverified=true', '/w/run/swarm.torrent', '--disk-cache=32M']));
    expect(seeder.join(' ')).toContain('--scrape http://198.19.255.254:6969/scrape?info_hash=');
    const leecher = phases[2]!.procs[1]!.argv;
    expect(leecher).toEqual(expect.arrayContaining(['--role', 'leecher', '--dir=/w/run/rx1', '--on-bt-download-complete=/w/run/done-hook.sh', '--seed-ratio=0.0', '--enable-dht=false']));
    // The lab shapes the links; the tool is never given limits of its own.
    expect(leecher.filter((a) => /limit=/.test(a) && !/limit=0$/.test(a) && !a.startsWith('--bt-request-peer-speed-limit'))).toEqual([]);
    expect(phases[2]!.procs.every((s) => s.ready?.test('{"event":"ready","wallMs":1}'))).toBe(true);
  });

  it('reads the agent\'s lines: start (recording aria2c), first byte, totals, done', () => {
    const leecher = phases[2]!.procs[1]!;
    expect(bittorrent.parseLine(leecher, '{"event":"spawned","pid":42,"argv":["/usr/bin/aria2c","x"],"wallMs":1000}', c)).toEqual([
      { kind: 'start', node: 1, wallMs: 1000, child: { pid: 42, argv: ['/usr/bin/aria2c', 'x'] } },
    ]);
    expect(bittorrent.parseLine(leecher, '{"event":"ready","wallMs":1001}', c)).toEqual([{ kind: 'start', node: 1, wallMs: 1001 }]);
    expect(bittorrent.parseLine(leecher, '{"event":"progress","down":10,"up":5,"wallMs":1100}', c)).toEqual([{ kind: 'progress', node: 1, wallMs: 1100, downBytes: 10, upBytes: 5 }]);
    expect(bittorrent.parseLine(leecher, '{"event":"done","wallMs":1200}', c)).toEqual([{ kind: 'done', node: 1, wallMs: 1200 }]);
    expect(bittorrent.parseLine(phases[1]!.procs[0]!, '{"event":"final","down":0,"up":7,"wallMs":1300}', c)).toEqual([{ kind: 'progress', node: -1, wallMs: 1300, downBytes: 0, upBytes: 7 }]);
    expect(bittorrent.parseLine(leecher, '[NOTICE] something aria2 said', c)).toEqual([]);
  });

  it('parses its options with paths, and its bound is Kumar-Ross with BitTorrent\'s block overhead', () => {
    const issues = new Issues();
    expect(bittorrent.parseOptions({ pieceSize: '512KiB', maxPeers: 80 }, 'transfer.bittorrent', issues)).toEqual({ ...BITTORRENT_DEFAULTS, pieceBytes: 512 * 1024, maxPeers: 80 });
    expect(bittorrent.parseOptions({ trackerInterval: '1500ms', colour: 1 }, 'transfer.bittorrent', issues)).toBeUndefined();
    expect(issues.list.map((i) => i.path)).toEqual(['transfer.bittorrent.colour', 'transfer.bittorrent.trackerInterval']);
    const b = bittorrent.lowerBound(t, BITTORRENT_DEFAULTS, 1 << 20);
    // Each node's 20 Mbit/s download binds: 1 MiB / (20e6/8 x 1448/1514 x 16384/16397) = 0.439 s
    // (the source's 40 Mbit/s alone: half that; the aggregate 2 MiB over 40 + 2 x 10 Mbit/s: 0.293 s).
    expect(b.binding).toBe('slowest-down');
    expect(b.seconds).toBeCloseTo((1 << 20) / ((20e6 / 8) * (1448 / 1514) * (16384 / 16397)), 6);
  });
});

describe('bencode', () => {
  it('hashes the info dictionary of a torrent, whatever comes around it', () => {
    const info = 'd6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae';
    const torrent = Buffer.from(`d8:announce9:http://x/4:info${info}7:comment2:hie`);
    expect(infoHash(torrent)).toBe(createHash('sha1').update(info).digest('hex'));
    expect(urlEncodedHash('00ff')).toBe('%00%FF');
    expect(() => infoHash(Buffer.from('d8:announce9:http://x/e'))).toThrow(/no info dictionary/);
    expect(() => infoHash(Buffer.from('d4:infod6:lengthi5'))).toThrow(SyntaxError);
    expect(() => infoHash(Buffer.from('l'))).toThrow(SyntaxError);
  });
});

describe('which backend a set of contenders runs on', () => {
  const ok: BackendStatus = { usable: true, reason: 'fine' };
  const no: BackendStatus = { usable: false, reason: 'not root' };
  const bt = resolveContender('bittorrent/aria2', 'whole-file') as Exclude<ReturnType<typeof resolveContender>, { error: string }>;
  const bp = resolveContender('backpressure', 'fragments') as typeof bt;

  it('never the simulator for a protocol without a model: refused when asked, not a fallback for auto', () => {
    expect(() => chooseProtocolBackend('sim', { backends: { netns: ok, docker: ok, sim: ok } }, [bt])).toThrow(/no model of bittorrent\/aria2/);
    expect(() => chooseProtocolBackend('auto', { backends: { netns: no, docker: no, sim: ok } }, [bt])).toThrow(BackendUnavailableError);
    expect(chooseProtocolBackend('auto', { backends: { netns: no, docker: no, sim: ok } }, [bp]).backend).toBe('sim');
  });

  it('only on the backends the protocol supports', () => {
    expect(bt.protocol.backends).toEqual(['netns', 'docker']);
    const netnsOnly = { ...bt, name: 'x/y', protocol: { ...bt.protocol, backends: ['netns'] as const } };
    expect(() => chooseProtocolBackend('docker', { backends: { netns: ok, docker: ok, sim: ok } }, [netnsOnly])).toThrow(/x\/y cannot run on docker/);
    expect(chooseProtocolBackend('docker', { backends: { netns: ok, docker: ok, sim: ok } }, [bt]).backend).toBe('docker');
    expect(chooseProtocolBackend('auto', { backends: { netns: ok, docker: ok, sim: ok } }, [bt, bp]).backend).toBe('netns');
  });
});

describe('loss, delay and jitter on links (recorded commands)', () => {
  const receivers: ReceiverSpec[] = [
    { index: 0, downBps: 20e6, upBps: 20e6, lossDownPct: 5, lossUpPct: 0 },
    { index: 1, downBps: 20e6, upBps: 20e6 },
    { index: 2, downBps: 20e6, upBps: 20e6, lossDownPct: 1, lossUpPct: 1, delayMs: 20, jitterMs: 5 },
  ];
  const plan = planNetwork({ receivers, sender: { upBps: 1e9 } }, 'fl0a0a');

  it('nftables (no netem): a ruleset in the lossy receiver\'s own namespace; delay is refused', () => {
    expect(() => impairmentInvocations(plan, receivers, 'nftables')).toThrow(PlanError);
    const invs = impairmentInvocations(plan, receivers.slice(0, 2), 'nftables');
    expect(invs.map((i) => i.argv)).toEqual([['ip', 'netns', 'exec', 'fl0a0a-r0', 'nft', '-f', '-']]);
    expect(invs[0]!.input).toContain('numgen random mod 100000 < 5000 drop');
    expect(invs[0]!.input).not.toContain('hook output');
  });

  it('netem: under the HTB class of each direction, delay and jitter towards the receiver', () => {
    const invs = impairmentInvocations(plan, receivers, 'netem');
    expect(invs.map((i) => [i.argv.join(' '), i.input])).toEqual([
      ['tc -n fl0a0a-br -batch -', 'qdisc replace dev fl0a0a-r0 parent 1:1 handle 10: netem loss 5%\n'],
      ['tc -n fl0a0a-br -batch -', 'qdisc replace dev fl0a0a-r2 parent 1:1 handle 10: netem delay 20ms 5ms loss 1%\n'],
      ['tc -n fl0a0a-r2 -batch -', 'qdisc replace dev eth0 parent 1:1 handle 10: netem loss 1%\n'],
    ]);
  });
});

describe('neighbours pinned in every host (the machine has one ARP table for all namespaces)', () => {
  it('lists every other host of the plan, source, receivers and services, with its MAC, permanent', () => {
    const plan = planNetwork({ receivers: [{ index: 0, downBps: 1e6, upBps: 1e6 }, { index: 1, downBps: 1e6, upBps: 1e6 }], sender: { upBps: 1e9 } }, 'fl0b0b', ['tracker']);
    const mac = (h: { ns: string }): string => `02:00:00:00:00:${h.ns.endsWith('-s') ? '01' : h.ns.endsWith('-v0') ? 'ff' : `1${h.ns.slice(-1)}`}`;
    expect(neighbourLines(plan, plan.receivers[0]!, mac)).toEqual([
      'neigh replace 198.18.0.1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent',
      'neigh replace 198.18.0.3 lladdr 02:00:00:00:00:11 dev eth0 nud permanent',
      'neigh replace 198.19.255.254 lladdr 02:00:00:00:00:ff dev eth0 nud permanent',
    ]);
  });
});
