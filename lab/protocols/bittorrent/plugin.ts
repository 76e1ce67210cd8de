/**
 * `bittorrent/aria2`: a real BitTorrent swarm as a whole-file contender, made of Debian's tools:
 * `mktorrent` makes the torrent, `opentracker` (whitelist build) runs on a service host of its
 * own, the source seeds with `aria2c`, and every receiver runs `aria2c` as a leecher that keeps
 * seeding until the lab stops the run (when every receiver holds the file). Each aria2c runs
 * beside a small agent (agent.ts) that reports its totals from aria2's RPC and the exact moment
 * its download-complete hook ran. Leechers start paused and are unpaused together on the lab's
 * go signal, so the processes' own start-up is not counted as transfer time.
 *
 * Its best fair shot (README, "BitTorrent"): no DHT or local peer discovery (a lab has one tracker),
 * peer exchange on, a short tracker interval so leechers find each other within a second, no
 * upload or download limits of the tool's own (the lab shapes the links), no file preallocation,
 * and the piece size, peer count and tracker interval from `transfer.bittorrent` (defaults: the
 * fastest measured here).
 *
 * Opentracker refuses to keep root: it chroots into the run's tracker folder (mode 755) and drops
 * to `nobody`, reading its whitelist (the torrent's info hash) as `/whitelist` inside it.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseDurationMs, parseSizeBytes } from '../../../core/units.js';
import { topologyKumarRoss } from '../../bound-whole.js';
import { TCP_PAYLOAD_PER_FRAME } from '../../bound.js';
import { RunError } from '../../hosts.js';
import { at, readInt, readList, readObject, readUnit } from '../../scenario/read.js';
import { sameFile } from '../../verify.js';
import type { NodeEvent, Protocol, ProcessSpec, RunContext } from '../types.js';
import { infoHash, urlEncodedHash } from './bencode.js';

const run = promisify(execFile);

export const AGENT_JS = fileURLToPath(new URL('./agent.js', import.meta.url));
export const TRACKER_PORT = 6969;
export const PEER_PORT = 6881;
export const RPC_PORT = 6800;
/** BitTorrent's PIECE message: 13 header bytes per 16 KiB block. */
const BLOCK_BYTES = 16384;
const BLOCK_HEADER_BYTES = 13;

export interface BittorrentOptions {
  /** Piece length, bytes (a power of two, 32 KiB .. 16 MiB: mktorrent's smallest is 2^15). */
  pieceBytes: number;
  /** aria2's --bt-max-peers (0 = unlimited). */
  maxPeers: number;
  /** aria2's --bt-tracker-interval, seconds. */
  trackerIntervalS: number;
  /** More aria2c arguments, as a user would tune it. */
  aria2Args: string[];
}

/**
 * Defaults: the fastest measured here (README, "BitTorrent"): 64 KiB pieces (swarm-16, median of 3:
 * 2.02x the bound, against 2.04x at 32 KiB, 2.36x at mktorrent's 256 KiB and 4.14x at 1 MiB),
 * aria2's own 55 peers (8 peers: 2.34x), the tracker asked every second.
 */
export const BITTORRENT_DEFAULTS: BittorrentOptions = { pieceBytes: 64 * 1024, maxPeers: 55, trackerIntervalS: 1, aria2Args: [] };

const OPTION_KEYS = ['pieceSize', 'maxPeers', 'trackerInterval', 'aria2Args'] as const;

/** Which program runs where; what the run folder holds. */
interface Files {
  torrent: string;
  trackerDir: string;
  hook: string;
  infoHash: string;
}
const files = new WeakMap<RunContext, Files>();

/** The run's files (their paths; the info hash once prepare() made the torrent, a placeholder before: --dry-run). */
function filesOf(ctx: RunContext): Files {
  return files.get(ctx) ?? { torrent: join(ctx.runDir, 'swarm.torrent'), trackerDir: join(ctx.runDir, 'tracker'), hook: join(ctx.runDir, 'done-hook.sh'), infoHash: '<info-hash>' };
}

/** Set to a folder, every aria2c writes an info-level log there, one file per node (debugging a swarm). */
export const BT_LOG_DIR_ENV = 'FANOUT_BT_LOG_DIR';

function aria2Common(o: BittorrentOptions, dir: string, logName: string): string[] {
  const logDir = process.env[BT_LOG_DIR_ENV];
  return [
    '/usr/bin/aria2c',
    '--no-conf=true',
    `--dir=${dir}`,
    '--seed-ratio=0.0', // seed until the lab stops it
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=true',
    '--disable-ipv6=true',
    `--listen-port=${PEER_PORT}`,
    `--bt-max-peers=${o.maxPeers}`,
    `--bt-tracker-interval=${o.trackerIntervalS}`,
    '--bt-request-peer-speed-limit=1024M',
    '--max-overall-upload-limit=0',
    '--max-upload-limit=0',
    '--file-allocation=none',
    '--summary-interval=0',
    '--console-log-level=warn',
    '--auto-save-interval=0',
    ...(logDir ? [`--log=${join(logDir, `${logName}.log`)}`, '--log-level=info'] : []),
    ...o.aria2Args,
  ];
}

export const bittorrent: Protocol<BittorrentOptions> = {
  name: 'bittorrent',
  job: 'whole-file',
  variants: ['aria2'],
  tools: [
    { bin: 'aria2c', pkg: 'aria2' },
    { bin: 'opentracker', pkg: 'opentracker' },
    { bin: 'mktorrent', pkg: 'mktorrent' },
  ],
  services: ['tracker'],
  backends: ['netns', 'docker'],
  summary: 'a BitTorrent swarm: aria2c seeder and leechers, opentracker on its own host, torrent by mktorrent',

  parseOptions(raw, path, issues) {
    if (raw === undefined) return { ...BITTORRENT_DEFAULTS, aria2Args: [] };
    const o = readObject(raw, path, issues, OPTION_KEYS);
    if (!o) return undefined;
    const before = issues.count;
    const out: BittorrentOptions = { ...BITTORRENT_DEFAULTS, aria2Args: [] };
    if (o['pieceSize'] !== undefined) {
      const b = readUnit(o['pieceSize'], at(path, 'pieceSize'), issues, parseSizeBytes);
      if (b !== undefined) {
        const log2 = Math.log2(b);
        if (!Number.isInteger(log2) || log2 < 15 || log2 > 24) issues.add(at(path, 'pieceSize'), 'expected a power of two from 32KiB to 16MiB');
        else out.pieceBytes = b;
      }
    }
    if (o['maxPeers'] !== undefined) {
      const n = readInt(o['maxPeers'], at(path, 'maxPeers'), issues, 0, 1000);
      if (n !== undefined) out.maxPeers = n;
    }
    if (o['trackerInterval'] !== undefined) {
      const ms = readUnit(o['trackerInterval'], at(path, 'trackerInterval'), issues, parseDurationMs);
      if (ms !== undefined) {
        if (ms < 1000 || ms > 3_600_000 || ms % 1000 !== 0) issues.add(at(path, 'trackerInterval'), 'expected whole seconds from 1s to 1h');
        else out.trackerIntervalS = ms / 1000;
      }
    }
    if (o['aria2Args'] !== undefined) {
      const list = readList(o['aria2Args'], at(path, 'aria2Args'), issues, 'aria2c options such as "--bt-max-open-files=100"');
      list?.forEach((a, i) => {
        if (typeof a !== 'string' || !/^--[a-z0-9-]+(=.*)?$/.test(a)) issues.add(`${at(path, 'aria2Args')}[${i}]`, 'expected an aria2c long option such as "--disk-cache=32M"');
        else if (/^--(dir|enable-rpc|rpc-|on-|max-overall-download-limit|max-download-limit|max-overall-upload-limit|max-upload-limit|seed-)/.test(a)) {
          issues.add(`${at(path, 'aria2Args')}[${i}]`, `${a.split('=')[0]} is set by the lab (rates are shaped by the lab only; the run folder, RPC and hooks are its own)`);
        } else out.aria2Args.push(a);
      });
    }
    return issues.count > before ? undefined : out;
  },

  async prepare(ctx) {
    const o = ctx.options as BittorrentOptions;
    const tracker = ctx.address({ role: 'service', name: 'tracker' });
    const { torrent, trackerDir, hook } = filesOf(ctx);
    try {
      await run('mktorrent', ['-a', `http://${tracker}:${TRACKER_PORT}/announce`, '-l', String(Math.log2(o.pieceBytes)), '-d', '-o', torrent, ctx.srcFile], { timeout: 120_000 });
    } catch (e) {
      throw new RunError(`mktorrent failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
    }
    const hash = infoHash(readFileSync(torrent));
    mkdirSync(trackerDir, { recursive: true });
    chmodSync(trackerDir, 0o755);
    writeFileSync(join(trackerDir, 'whitelist'), `${hash}\n`, { mode: 0o644 });
    // aria2 runs this when a download completes (before seeding); its stdout is aria2c's.
    writeFileSync(hook, '#!/bin/sh\necho "FANOUT-BT-DONE $(date +%s%N)"\n', { mode: 0o755 });
    files.set(ctx, { torrent, trackerDir, hook, infoHash: hash });
  },

  phases(ctx) {
    const o = ctx.options as BittorrentOptions;
    const f = filesOf(ctx);
    const trackerAddr = ctx.address({ role: 'service', name: 'tracker' });
    const trackerSpec: ProcessSpec = {
      node: { role: 'service', name: 'tracker' },
      label: 'opentracker',
      argv: ['/usr/bin/opentracker', '-i', trackerAddr, '-p', String(TRACKER_PORT), '-P', String(TRACKER_PORT), '-w', '/whitelist', '-d', f.trackerDir, '-u', 'nobody'],
      ready: null,
      stop: 'SIGTERM',
    };
    const agent = (role: 'seeder' | 'leecher', extra: string[]): string[] => [process.execPath, AGENT_JS, '--role', role, '--rpc-port', String(RPC_PORT), ...extra, '--'];
    const seeder: ProcessSpec = {
      node: { role: 'source' },
      label: 'seeder',
      argv: [
        ...agent('seeder', ['--scrape', `http://${trackerAddr}:${TRACKER_PORT}/scrape?info_hash=${urlEncodedHash(f.infoHash)}`]),
        ...aria2Common(o, dirname(ctx.srcFile), 'seeder'),
        '--bt-seed-unverified=true',
        f.torrent,
      ],
      ready: /"event":"ready"/,
      readyTimeoutMs: 30_000,
      stop: 'SIGTERM',
    };
    const leechers: ProcessSpec[] = ctx.topology.receivers.map((r) => ({
      node: { role: 'receiver', index: r.index },
      label: `leecher ${r.index}`,
      argv: [...agent('leecher', []), ...aria2Common(o, ctx.nodeDir(r.index), `leecher-${r.index}`), `--on-bt-download-complete=${f.hook}`, f.torrent],
      ready: /"event":"ready"/,
      readyTimeoutMs: 30_000,
      stop: 'SIGTERM',
      go: 'SIGUSR1',
    }));
    return [
      { name: 'tracker', procs: [trackerSpec] },
      { name: 'seeder', procs: [seeder] },
      { name: 'leechers', procs: leechers },
    ];
  },

  parseLine(spec, line) {
    if (!line.startsWith('{')) return [];
    let ev: { event?: string; wallMs?: number; down?: number; up?: number; pid?: number; argv?: string[] };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return [];
    }
    const node = spec.node.role === 'receiver' ? spec.node.index : -1;
    const base = { node, ...(typeof ev.wallMs === 'number' ? { wallMs: ev.wallMs } : {}) };
    switch (ev.event) {
      case 'spawned':
        return [{ kind: 'start', ...base, ...(typeof ev.pid === 'number' && Array.isArray(ev.argv) ? { child: { pid: ev.pid, argv: ev.argv.map(String) } } : {}) }];
      case 'ready':
        return [{ kind: 'start', ...base }];
      case 'first-byte':
        return [{ kind: 'first-byte', ...base }];
      case 'done':
        return [{ kind: 'done', ...base }];
      case 'progress':
      case 'final':
        return [{ kind: 'progress', ...base, downBytes: Number(ev.down), upBytes: Number(ev.up) }];
      default:
        return [] as NodeEvent[];
    }
  },

  async verify(ctx, index) {
    const path = join(ctx.nodeDir(index), basename(ctx.srcFile));
    return sameFile(ctx.srcFile, path) ? null : `${path} differs from the source (or is missing)`;
  },

  lowerBound(t, _o, fileBytes) {
    return topologyKumarRoss(t, fileBytes, TCP_PAYLOAD_PER_FRAME * (BLOCK_BYTES / (BLOCK_BYTES + BLOCK_HEADER_BYTES)));
  },
};
