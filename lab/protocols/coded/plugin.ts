/**
 * `coded/sparse` and `coded/rlnc`: coded cooperative distribution over UDP (coded/, `fanout coded
 * serve|join`) as whole-file contenders. The source runs the server; every receiver runs a client
 * that connects, reads the manifest, prints "ready" and waits for the lab's go signal (SIGUSR1),
 * so start-up is not measured; then it downloads, cooperates with its peers, prints `done` the
 * moment its file is complete and renamed, and keeps serving peers (`--linger`) until stopped.
 *
 * Rates: UDP has no congestion control, so each program is told its own link rates from the
 * scenario (server: the source's uplink; client: its downlink and uplink) and paces a little below
 * them; the client's downlink is shared among its senders from what it measures (coded/pacing.ts).
 * The rates are the scenario's starting ones: a timed link event changes the link, not these flags.
 *
 * The bound: Kumar-Ross (lab/bound-whole.ts) with loss, for UDP datagrams at full size: a frame
 * carries at most 1472 bytes of UDP payload of its 1514 (IPv4 20 + UDP 8 + Ethernet 14), so the
 * goodput factor is 1472/1514 = 0.972 (TCP's 1448/1514 = 0.956 for bittorrent/aria2). The coding
 * header (16 bytes and the coefficient vector: 8 bytes for GF(2), k for GF(2^8)) and the
 * 1280-byte symbols' short frames are the protocol's own overhead and show up as efficiency, not
 * in the bound.
 */
import { basename, join } from 'node:path';
import { topologyKumarRoss } from '../../bound-whole.js';
import { at, readInt, readObject } from '../../scenario/read.js';
import type { Issues } from '../../scenario/errors.js';
import { sameFile } from '../../verify.js';
import { CODED_VARIANTS, VARIANT_PARAMS, checkCodedParams, type CodedParams, type CodedVariant } from '../../../coded/params.js';
import { MAX_DATAGRAM, LINK_OVERHEAD_BYTES } from '../../../coded/wire.js';
import type { NodeEvent, Protocol, ProcessSpec, RunContext } from '../types.js';
import { fileURLToPath } from 'node:url';

export const CODED_PORT = 7000;
export const FANOUT_JS = fileURLToPath(new URL('../../../cli/fanout.js', import.meta.url));
/**
 * Node's flags for the coded programs: the codec's fast kernel needs relaxed SIMD, behind a flag
 * on Node 20 (on by default from Node 22, where the flag is not needed).
 */
export const NODE_FLAGS: string[] = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-wasm-relaxed-simd'] : [];
/** Fraction of its link rate the server paces at (the client's own is coded/client.ts's headroom). */
export const SERVER_HEADROOM = 0.95;
/** UDP payload per link byte of a full-size frame. */
export const UDP_PAYLOAD_PER_FRAME = MAX_DATAGRAM / (MAX_DATAGRAM + LINK_OVERHEAD_BYTES);

export type CodedOptions = Record<CodedVariant, CodedParams>;

const VARIANT_KEYS = ['k', 'symbolBytes', 'window', 'systematic', 'density', 'band'] as const;

function readVariant(raw: unknown, path: string, issues: Issues, base: CodedParams): CodedParams | undefined {
  const o = readObject(raw, path, issues, VARIANT_KEYS);
  if (!o) return undefined;
  const p = { ...base };
  if (o['k'] !== undefined) p.k = readInt(o['k'], at(path, 'k'), issues, 1, 1024) ?? p.k;
  if (o['symbolBytes'] !== undefined) p.symbolBytes = readInt(o['symbolBytes'], at(path, 'symbolBytes'), issues, 16, 1456) ?? p.symbolBytes;
  if (o['window'] !== undefined) p.window = readInt(o['window'], at(path, 'window'), issues, 1, 16) ?? p.window;
  if (o['band'] !== undefined) p.band = readInt(o['band'], at(path, 'band'), issues, 0, 1024) ?? p.band;
  if (o['systematic'] !== undefined) {
    if (typeof o['systematic'] !== 'boolean') issues.add(at(path, 'systematic'), 'expected true or false');
    else p.systematic = o['systematic'];
  }
  if (o['density'] !== undefined) {
    const d = o['density'];
    if (typeof d !== 'number' || !(d > 0 && d <= 1)) issues.add(at(path, 'density'), 'expected a number in (0, 1]');
    else p.density = d;
  }
  try {
    checkCodedParams(p);
  } catch (e) {
    issues.add(path, (e as Error).message);
    return undefined;
  }
  return p;
}

function kbpsArg(bps: number, factor: number): string {
  return bps === Infinity ? 'unlimited' : String(Math.max(1, Math.floor((bps * factor) / 1000)));
}

export const coded: Protocol<CodedOptions> = {
  name: 'coded',
  job: 'whole-file',
  variants: CODED_VARIANTS,
  tools: [],
  services: [],
  backends: ['netns'],
  summary: 'coded cooperative distribution over UDP: a server sends coded packets of each segment, peers recode to each other (fanout coded)',

  parseOptions(raw, path, issues) {
    const out: CodedOptions = { sparse: { ...VARIANT_PARAMS.sparse }, rlnc: { ...VARIANT_PARAMS.rlnc } };
    if (raw === undefined) return out;
    const o = readObject(raw, path, issues, CODED_VARIANTS);
    if (!o) return undefined;
    const before = issues.count;
    for (const v of CODED_VARIANTS) {
      if (o[v] === undefined) continue;
      const p = readVariant(o[v], at(path, v), issues, out[v]);
      if (p) out[v] = p;
    }
    return issues.count > before ? undefined : out;
  },

  phases(ctx: RunContext<CodedOptions>) {
    const p = ctx.options[ctx.variant as CodedVariant] ?? VARIANT_PARAMS[ctx.variant as CodedVariant];
    const t = ctx.topology;
    const src = ctx.address({ role: 'source' });
    const server: ProcessSpec = {
      node: { role: 'source' },
      label: 'coded server',
      argv: [
        process.execPath, ...NODE_FLAGS, FANOUT_JS, 'coded', 'serve',
        '--file', ctx.srcFile,
        '--listen', `${src}:${CODED_PORT}`,
        '--rate-kbps', kbpsArg(t.sender.upBps, SERVER_HEADROOM),
        '--variant', ctx.variant,
        '--k', String(p.k),
        '--symbol-bytes', String(p.symbolBytes),
        '--band', String(p.band),
        '--density', String(p.density),
        p.systematic ? '--systematic' : '--no-systematic',
      ],
      ready: /"event":"ready"/,
      readyTimeoutMs: 60_000,
      stop: 'SIGTERM',
    };
    const clients: ProcessSpec[] = t.receivers.map((r) => ({
      node: { role: 'receiver', index: r.index },
      label: `coded client ${r.index}`,
      argv: [
        process.execPath, ...NODE_FLAGS, FANOUT_JS, 'coded', 'join',
        '--server', `${src}:${CODED_PORT}`,
        '--node', String(r.index + 1),
        '--listen', `${ctx.address({ role: 'receiver', index: r.index })}:${CODED_PORT}`,
        '--out', ctx.nodeDir(r.index),
        '--down-kbps', kbpsArg(r.downBps, 1),
        '--up-kbps', kbpsArg(r.upBps, 1),
        '--window', String(p.window),
        '--wait-go',
        '--linger',
      ],
      ready: /"event":"ready"/,
      readyTimeoutMs: 30_000,
      stop: 'SIGTERM',
      go: 'SIGUSR1',
    }));
    return [
      { name: 'server', procs: [server] },
      { name: 'clients', procs: clients },
    ];
  },

  parseLine(spec, line) {
    if (!line.startsWith('{')) return [];
    let ev: { event?: string; wallMs?: number; down?: number; up?: number; counters?: Record<string, unknown>; message?: string };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return [];
    }
    const node = spec.node.role === 'receiver' ? spec.node.index : -1;
    const base = { node, ...(typeof ev.wallMs === 'number' ? { wallMs: ev.wallMs } : {}) };
    switch (ev.event) {
      case 'ready':
        return [{ kind: 'start', ...base }];
      case 'first-byte':
        return [{ kind: 'first-byte', ...base }];
      case 'done':
        return [{ kind: 'done', ...base }];
      case 'progress':
      case 'final':
        return [{ kind: 'progress', ...base, downBytes: Number(ev.down), upBytes: Number(ev.up), ...(ev.counters ? { counters: flatCounters(ev.counters) } : {}) }];
      default:
        return [] as NodeEvent[];
    }
  },

  async verify(ctx, index) {
    const path = join(ctx.nodeDir(index), basename(ctx.srcFile));
    return sameFile(ctx.srcFile, path) ? null : `${path} differs from the source (or is missing)`;
  },

  lowerBound(t, _o, fileBytes) {
    return topologyKumarRoss(t, fileBytes, UDP_PAYLOAD_PER_FRAME);
  },
};

/** The client's counters as numbers (drops by reason become `dropped.<reason>`). */
export function flatCounters(c: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    else if (typeof v === 'object' && v !== null) for (const [r, n] of Object.entries(v)) if (typeof n === 'number') out[`${k}.${r}`] = n;
  }
  return out;
}
