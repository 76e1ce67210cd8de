/**
 * `floodclone/mutualcast`: the lab's own peer-to-peer whole-file protocol (protocols/floodclone,
 * `fanout flood serve|join`). Phase 1: the source serves the file (ready once it prints its
 * `listening` line, the manifest computed). Phase 2: every node listens, prints `ready`, and joins
 * only on the lab's go signal (SIGUSR1), so process start-up is not measured as transfer. Each
 * node's JSON lines become events: `first-byte`, `done` (the moment its file was renamed into
 * place), and `progress`/`done`/`final` totals: payload bytes down and up, control bytes (every
 * byte that is not chunk payload: frame headers, HAVE, REQUEST, ...) and duplicate chunks.
 *
 * Simulated (`--backend sim`): protocols/floodclone/sim.ts runs the same picker and source
 * scheduler over max-min shared peer-to-peer flows, sites' trunks included (floodSimTrunks).
 *
 * Backends: netns only. Docker would need the compiled CLI in the protocol image
 * (lab/docker/protocol-image.ts PROTOCOL_MODULES); not done and not tested, so the lab refuses it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { simulateFlood } from '../../protocols/floodclone/sim.js';
import { parseSizeBytes } from '../../core/units.js';
import { topologyKumarRoss } from '../bound-whole.js';
import { flowLinks } from '../sim/links.js';
import { siteOfReceiver } from '../scenario/sites.js';
import { TCP_PAYLOAD_PER_FRAME } from '../bound.js';
import { FANOUT_JS } from '../hosts.js';
import { at, readObject, readUnit } from '../scenario/read.js';
import { sameFile } from '../verify.js';
import type { ReceiverResult, RunResult, Topology } from '../types.js';
import type { NodeEvent, Protocol, ProcessSpec } from './types.js';

export const FLOOD_PORT = 9100;
/** CHUNK's frame header: type, length, index. */
export const CHUNK_HEADER_BYTES = 9;

export interface FloodOptions {
  chunkBytes: number;
  /** Simulator only: each node meshes with this many random peers (absent: all, as the TCP driver does). */
  simDegree?: number;
  /**
   * Simulator only: its shortest step, ms (absent or 0: exact, to the next event). An approximation
   * for thousands of nodes (see simulateFlood's minStepMs).
   */
  simStepMs?: number;
}

export const FLOOD_DEFAULTS: FloodOptions = { chunkBytes: 256 * 1024 };

/** Payload per link byte: TCP over Ethernet, then FloodClone's CHUNK header (control frames are counted in the run's figures, not here). */
export function floodGoodput(chunkBytes: number): number {
  return TCP_PAYLOAD_PER_FRAME * (chunkBytes / (chunkBytes + CHUNK_HEADER_BYTES));
}

export const floodclone: Protocol<FloodOptions> = {
  name: 'floodclone',
  job: 'whole-file',
  variants: ['mutualcast'],
  tools: [],
  services: [],
  backends: ['netns'],
  summary: 'FloodClone: fresh chunks from the source to nodes that forward, the rest pulled between peers by measured rate (fanout flood)',

  parseOptions(raw, path, issues) {
    if (raw === undefined) return { ...FLOOD_DEFAULTS };
    const before = issues.count;
    const o = readObject(raw, path, issues, ['chunkSize', 'simDegree', 'simStepMs'] as const);
    if (!o) return undefined;
    const out = { ...FLOOD_DEFAULTS };
    if (o['chunkSize'] !== undefined) {
      const b = readUnit(o['chunkSize'], at(path, 'chunkSize'), issues, parseSizeBytes);
      if (b !== undefined) {
        if (b < 16 * 1024 || b > 16 * 1024 * 1024) issues.add(at(path, 'chunkSize'), 'expected 16KiB to 16MiB');
        else out.chunkBytes = b;
      }
    }
    const d = o['simDegree'];
    if (d !== undefined) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 2 || d % 2 !== 0) issues.add(at(path, 'simDegree'), 'expected an even integer >= 2 (simulator only: peers per node)');
      else out.simDegree = d;
    }
    const st = o['simStepMs'];
    if (st !== undefined) {
      if (typeof st !== 'number' || !Number.isFinite(st) || st < 0 || st > 100) issues.add(at(path, 'simStepMs'), 'expected a number of ms from 0 to 100 (simulator only: its shortest step)');
      else out.simStepMs = st;
    }
    return issues.count > before ? undefined : out;
  },

  phases(ctx) {
    const o = ctx.options as FloodOptions;
    const src = ctx.address({ role: 'source' });
    const source: ProcessSpec = {
      node: { role: 'source' },
      label: 'flood source',
      argv: [process.execPath, FANOUT_JS, 'flood', 'serve', '--json', '--file', ctx.srcFile, '--listen', `${src}:${FLOOD_PORT}`, '--chunk-size', `${o.chunkBytes}B`],
      ready: /"event":"listening"/,
      readyTimeoutMs: 60_000,
      stop: 'SIGTERM',
    };
    const nodes: ProcessSpec[] = ctx.topology.receivers.map((r) => {
      const addr = ctx.address({ role: 'receiver', index: r.index });
      return {
        node: { role: 'receiver', index: r.index },
        label: `flood node ${r.index}`,
        argv: [process.execPath, FANOUT_JS, 'flood', 'join', '--json', '--source', `${src}:${FLOOD_PORT}`, '--listen', `${addr}:${FLOOD_PORT}`, '--out', join(ctx.nodeDir(r.index), 'file.bin'), '--wait-signal', 'SIGUSR1'],
        ready: /"event":"ready"/,
        stop: 'SIGTERM',
        go: 'SIGUSR1',
      };
    });
    return [
      { name: 'source', procs: [source] },
      { name: 'nodes', procs: nodes },
    ];
  },

  parseLine(spec, line) {
    if (!line.startsWith('{') || spec.node.role !== 'receiver') return [];
    let ev: { event?: string; wallMs?: number; down?: number; up?: number; ctrlDown?: number; ctrlUp?: number; dups?: number; message?: string };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return [];
    }
    const base = { node: spec.node.index, ...(typeof ev.wallMs === 'number' ? { wallMs: ev.wallMs } : {}) };
    const totals = (): Partial<NodeEvent> =>
      typeof ev.down === 'number'
        ? { downBytes: ev.down, upBytes: ev.up ?? 0, controlBytes: (ev.ctrlDown ?? 0) + (ev.ctrlUp ?? 0), duplicateChunks: ev.dups ?? 0 }
        : {};
    switch (ev.event) {
      case 'ready':
        return [{ kind: 'start', ...base }];
      case 'first-byte':
        return [{ kind: 'first-byte', ...base }];
      case 'done':
        return [{ kind: 'done', ...base, ...totals() }];
      case 'progress':
      case 'final':
        return [{ kind: 'progress', ...base, ...totals() }];
      case 'error':
        return [{ kind: 'error', ...base, message: ev.message ?? 'failed' }];
      default:
        return [];
    }
  },

  async verify(ctx, index) {
    const path = join(ctx.nodeDir(index), 'file.bin');
    return sameFile(ctx.srcFile, path) ? null : `${path} differs from the source (or is missing)`;
  },

  simulate(t, variant, contender, repeat) {
    return simulatedFloodRun(t, variant, contender, repeat);
  },

  lowerBound(t, o, fileBytes) {
    return topologyKumarRoss(t, fileBytes, floodGoodput(o.chunkBytes));
  },
};

/**
 * The sites' trunks as the simulator's extra links: capacities (trunk up of site k at 2k, trunk
 * down at 2k + 1, payload bytes/s) and each peer-to-peer flow's trunks from lab/sim/links.ts
 * `flowLinks` (a flow inside a site crosses none, one between a site and the rest crosses one,
 * one between two sites both).
 */
export function floodSimTrunks(t: Pick<Topology, 'receivers' | 'sites'>, pay: (bps: number) => number): { caps: number[]; route(from: number, to: number): number[] } | undefined {
  const sites = t.sites ?? [];
  if (sites.length === 0) return undefined;
  const siteOf = siteOfReceiver(sites);
  const caps = sites.flatMap((s) => [pay(s.upBps), pay(s.downBps)]);
  return {
    caps,
    route: (from, to) =>
      flowLinks(t, from, to, siteOf).flatMap((l) => (l.kind === 'trunk-up' ? [2 * l.site] : l.kind === 'trunk-down' ? [2 * l.site + 1] : [])),
  };
}

/** A simulated run of `floodclone` on topology `t`, as the lab records runs. */
export function simulatedFloodRun(t: Topology, variant: string, contender: string, repeat: number): RunResult {
  const o = (t.transfer.options['floodclone'] as FloodOptions | undefined) ?? FLOOD_DEFAULTS;
  const fileBytes = t.file.kind === 'size' ? t.file.sizeBytes : statSync(t.file.path).size;
  const g = floodGoodput(o.chunkBytes);
  const pay = (bps: number): number => (Number.isFinite(bps) ? (bps / 8) * g : Infinity);
  const changes = t.events.flatMap((ev) => ev.receivers.map((node) => ({ atMs: ev.atMs, node, ...(ev.upBps !== undefined ? { up: pay(ev.upBps) } : {}), ...(ev.downBps !== undefined ? { down: pay(ev.downBps) } : {}) })));
  const bound = floodclone.lowerBound(t, o, fileBytes);
  const r = simulateFlood({
    fileBytes,
    chunkBytes: o.chunkBytes,
    sourceUp: pay(t.sender.upBps),
    nodes: t.receivers.map((x) => ({ up: pay(x.upBps) * (1 - (x.lossUpPct ?? 0) / 100), down: pay(x.downBps) * (1 - (x.lossDownPct ?? 0) / 100) })),
    changes,
    extra: floodSimTrunks(t, pay),
    ...(o.simDegree !== undefined ? { degree: o.simDegree } : {}),
    ...(o.simStepMs !== undefined ? { minStepMs: o.simStepMs } : {}),
    limitMs: Math.max(60_000, 20_000 * bound.seconds),
  });
  const s = (ms: number | null): number | null => (ms === null ? null : Math.round(ms) / 1000);
  const receivers: ReceiverResult[] = t.receivers.map((x) => ({
    index: x.index,
    address: `sim:${x.index}`,
    downBps: x.downBps,
    upBps: x.upBps,
    fragmentBytes: fileBytes,
    bytes: r.doneMs[x.index] === null ? 0 : fileBytes,
    upBytes: Math.round(r.upBytes[x.index]!),
    duplicateChunks: 0,
    startS: 0,
    firstByteS: s(r.firstByteMs[x.index]!),
    doneS: s(r.doneMs[x.index]!),
    verified: false,
    ...(r.doneMs[x.index] === null ? { error: 'not done within the simulated time limit' } : {}),
  }));
  const done = r.doneMs.filter((d): d is number => d !== null);
  const makespanS = done.length === r.doneMs.length ? Math.max(...done) / 1000 : Infinity;
  return {
    strategy: contender,
    protocol: 'floodclone',
    variant,
    repeat,
    makespanS,
    lowerBoundS: bound.seconds,
    boundTerm: bound.binding,
    efficiency: makespanS / bound.seconds,
    rateOvershoot: 0,
    wireOverhead: 0,
    payloadBytes: fileBytes * t.receivers.length,
    wireBytes: fileBytes * t.receivers.length,
    cpuUserS: 0,
    cpuSysS: 0,
    maxRssBytes: 0,
    peerUpBytes: Math.round(r.upBytes.reduce((a, b) => a + b, 0)),
    duplicateChunks: r.duplicates,
    failedReceivers: receivers.filter((x) => x.error !== undefined).length,
    receivers,
    simEvents: r.steps,
  };
}
